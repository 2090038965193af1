// A standalone explorable follows the reader's system palette: the widgets read Material's attribute
// body[data-md-color-scheme] ("default" or "slate") and redraw when it changes.
(() => {
  const query = matchMedia("(prefers-color-scheme: dark)");
  const apply = () => (document.body.dataset.mdColorScheme = query.matches ? "slate" : "default");
  apply();
  query.addEventListener("change", apply);
})();
