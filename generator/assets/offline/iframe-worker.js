// Web Workers for pages opened from file://, where Chromium refuses `new Worker("file:...")`.
// Material for MkDocs' offline build runs its search in a worker and, unless a polyfill whose URL contains
// "iframe-worker" is already listed, asks a CDN for one; this is the project's own, shipped with the site.
// The worker's script runs in a hidden iframe of the same page origin; messages pass as events between the two
// windows, importScripts loads further scripts into the frame (and returns a promise, which Material awaits).
// Served pages (http:, https:) keep the browser's real Worker.
(() => {
  if (location.protocol !== "file:" || window.Worker?.viaFrame) return;

  const load = (win, url) =>
    new Promise((resolve, reject) => {
      const s = win.document.createElement("script");
      s.onload = resolve;
      s.onerror = () => reject(new Error(`could not load the worker script ${url}`));
      s.src = url;
      win.document.head.append(s);
    });

  class FrameWorker extends EventTarget {
    static viaFrame = true;

    constructor(url) {
      super();
      this.onmessage = this.onerror = null;
      this.queue = [];
      const href = new URL(url, document.baseURI).href;
      const frame = (this.frame = document.createElement("iframe"));
      frame.hidden = true;
      frame.tabIndex = -1;
      frame.title = "worker";
      frame.setAttribute("aria-hidden", "true");
      (document.body || document.documentElement).append(frame);
      const win = frame.contentWindow;
      win.postMessage = (data) => setTimeout(() => this.emit(new MessageEvent("message", { data }))); // worker -> page
      win.importScripts = (...urls) => Promise.all(urls.map((u) => load(win, new URL(u, href).href)));
      load(win, href).then(
        () => ((this.win = win), this.queue.splice(0).forEach((data) => this.postMessage(data))),
        (e) => this.emit(new ErrorEvent("error", { message: e.message, error: e })),
      );
    }

    emit(event) {
      this["on" + event.type]?.(event);
      this.dispatchEvent(event);
    }

    /** page -> worker: a "message" event on the frame's window, where the worker's script listens. */
    postMessage(data) {
      const win = this.win;
      if (!win) return void this.queue.push(data);
      setTimeout(() => win.dispatchEvent(new win.MessageEvent("message", { data })));
    }

    terminate() {
      this.frame.remove();
      this.win = null;
    }
  }

  window.Worker = FrameWorker;
})();
