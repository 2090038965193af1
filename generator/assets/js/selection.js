// The selection shared by the views of one .explorable container, so that linked views follow each other.
// Fields: layer, head (0-based numbers), token (index into the payload's tokens, or null: the pinned token),
// hideSpecial (boolean). Views write what the reader does and follow what others write (never writing then).
const FIELDS = new Set(["layer", "head", "token", "hideSpecial"]);
const stores = new WeakMap();

/**
 * A new store: get() -> a copy of the fields set so far; set(patch) merges and calls every subscriber with
 * (patch, fields), also when no value changed (a repeated action repeats its effect), and throws on a field not
 * listed above; subscribe(fn) -> the function that unsubscribes fn.
 */
export function createSelection() {
  const fields = {}, subscribers = new Set();
  return {
    get: () => ({ ...fields }),
    set(patch) {
      for (const key in patch) if (!FIELDS.has(key)) throw new Error(`unknown selection field ${JSON.stringify(key)}`);
      Object.assign(fields, patch);
      for (const fn of [...subscribers]) fn({ ...patch }, { ...fields });
    },
    subscribe(fn) {
      subscribers.add(fn);
      return () => void subscribers.delete(fn);
    },
  };
}

/** The one store of a container element (made on first use, dropped with the element); a private one for null. */
export function selection(box) {
  if (!box) return createSelection();
  let store = stores.get(box);
  if (!store) stores.set(box, (store = createSelection()));
  return store;
}
