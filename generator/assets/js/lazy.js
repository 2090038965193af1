// Start work only when an element comes near the viewport.
/** Calls fn once when el is within `margin` of the viewport. Returns a cancel function. */
export function whenNear(el, fn, margin = "200px") {
  if (typeof IntersectionObserver !== "function") {
    const t = setTimeout(fn);
    return () => clearTimeout(t);
  }
  const io = new IntersectionObserver(
    (es) => {
      if (es.some((e) => e.isIntersecting)) {
        io.disconnect();
        fn();
      }
    },
    { rootMargin: margin },
  );
  io.observe(el);
  return () => io.disconnect();
}
