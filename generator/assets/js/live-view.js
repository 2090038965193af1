// <explorable-live-view model="live-…" text="…">: "try your own text" above a live block's views (generator/live/).
// Only when the reader presses Run: ONNX Runtime Web and the model load (live-run.js, a progress bar in bytes), the
// text is tokenised in the page (live-wordpiece.js), the model runs, and a payload in the baked schema
// (live-payload.js) replaces the block's payload; the block's other views are replaced by fresh ones, which read it
// through the same decoder as baked payloads. "Author's text" puts the baked payload back. What the reader typed
// reaches the page as text only (a textarea's value, text nodes). Where the model cannot run (a page opened from a
// file, no WebAssembly, a missing file), a message says why and the baked figure stays as it was.
//
// Sets data-live-state (idle | loading | running | live | error), and after a run data-forward-ms (the model's
// forward pass), data-load-ms (runtime and model, first run only), data-live-ms (press -> every view redrawn) and
// data-live-timings: JSON of where that time went, in ms (load: the loader's steps, live-run.js, when this press
// loaded the model; tokenise, forward, payload, draw: each step's own duration), for benchmarks/live.py.
import { View, h } from "./view.js";
import { container, replace } from "./payload.js";
import { loadModel, unavailable } from "./live-run.js";
import { livePayload, occlusion } from "./live-payload.js";

const mb = (n) => (n / 1e6).toFixed(1) + " MB";

export class LiveView extends View {
  static tag = "explorable-live-view";

  build(p) {
    this.baked = p;
    const text = this.getAttribute("text") || "";
    this.box = h("textarea", { rows: 2, "aria-label": "Your text", spellcheck: "false",
      style: "box-sizing:border-box;width:100%;font:inherit;font-size:.8rem;padding:.3em;color:inherit;background:var(--xp-code);border:1px solid var(--xp-fg2);border-radius:.2em" });
    this.box.value = text;
    // a sentence pair: a second box for sentence B ([CLS] A [SEP] B [SEP], as the bake read it)
    this.boxB = this.hasAttribute("text-b") ? h("textarea", { rows: 2, "aria-label": "Your sentence B", spellcheck: "false", style: this.box.getAttribute("style") }) : null;
    if (this.boxB) this.boxB.value = this.getAttribute("text-b");
    this.runButton = h("button", { type: "button", class: "xp-btn", style: "border-style:solid", onclick: () => this.run() }, "Run the model on this text");
    this.backButton = h("button", { type: "button", class: "xp-btn", disabled: true, onclick: () => this.back() }, "Back to the author's text");
    this.bar = h("progress", { max: 1, value: 0, hidden: true, "aria-label": "Model download" });
    this.status = h("p", { class: "xp-live-status", role: "status", "aria-live": "polite" });
    const why = unavailable();
    this.replaceChildren(h("details", { class: "xp-live", style: "margin-bottom:.8em" }, h("summary", { style: "cursor:pointer" }, "Try your own text"),
      h("p", { class: "xp-live-help" }, "The model runs in your browser: pressing Run loads it once (about 27 MB) from this site, and nothing is sent anywhere."),
      ...(this.boxB ? [h("label", null, "Sentence A", this.box), h("label", null, "Sentence B", this.boxB)] : [this.box]), h("div", { class: "xp-bar" }, this.runButton, this.backButton, this.bar), this.status));
    this.dataset.liveState = "idle";
    if (why) {
      this.runButton.disabled = true;
      this.say(`Not available here: ${why}. The figure below is the one baked with the page.`);
    }
  }

  draw() {}

  say(message, error = false) {
    this.status.textContent = message;
    this.status.classList.toggle("xp-error", error);
  }

  async run() {
    const pressed = performance.now(), text = this.box.value, second = this.boxB ? this.boxB.value : null;
    if (!text.trim() || (second != null && !second.trim()))
      return this.say(second == null ? "Type some text first: the figure is unchanged." : "Both sentences need some text: the figure is unchanged.", true);
    this.runButton.disabled = true;
    try {
      let model, loadMs = null;
      this.dataset.liveState = "loading";
      this.bar.hidden = false;
      const t0 = performance.now();
      model = await loadModel(this.getAttribute("model"), (done, total) => {
        if (this.dataset.liveState !== "loading") return; // a download still running after another one failed
        this.bar.max = total;
        this.bar.value = done;
        this.say(`Loading the model: ${mb(done)} of ${mb(total)}`);
      });
      loadMs = performance.now() - t0;
      this.bar.hidden = true;
      const t2 = performance.now(), enc = model.tokenizer.encode(text, second), limit = model.manifest.max_tokens;
      const tokeniseMs = performance.now() - t2;
      if (enc.ids.length > limit) {
        this.dataset.liveState = "idle";
        return this.say(`This text is ${enc.ids.length} tokens long and ${model.manifest.label} reads at most ${limit} ` +
          "(counting [CLS] and [SEP]). Shorten it: nothing was cut, and the figure is unchanged.", true);
      }
      // tokens of each sentence, [CLS] and [SEP] aside
      const inA = enc.segments.filter((s) => s === 0).length - 2, inB = second == null ? 1 : enc.segments.length - inA - 3;
      if (inA < 1 || inB < 1) {
        this.dataset.liveState = "idle";
        return this.say("Nothing in this text is left for the model once invisible and control characters are removed: the figure is unchanged.", true);
      }
      this.dataset.liveState = "running";
      this.say("Running the model…");
      const t1 = performance.now(), out = await model.run(enc.ids, enc.segments), forwardMs = performance.now() - t1;
      const t3 = performance.now();
      const payload = await livePayload(this.baked, model.tokenizer.display(text, enc, second), out, model.manifest.scales);
      if (this.baked.saliency?.kind === "similarity" && second != null) {
        // each sentence on its own, and once more per token with [MASK] in its place
        this.say("Running the model on each sentence, with each token masked in turn…");
        const alone = (t) => { const e = model.tokenizer.encode(t); return { ids: e.ids, tokens: model.tokenizer.display(t, e) }; };
        const pooled = async (ids) => (await model.run(ids)).pooled.data;
        payload.saliency = await occlusion(alone(text), alone(second), pooled, model.manifest.tokenizer.mask_id);
      }
      const t4 = performance.now();
      await this.show(payload);
      const t5 = performance.now(), ms = (x) => +x.toFixed(1);
      this.dataset.liveTimings = JSON.stringify({ load: loadMs > 50 ? model.timings : null, tokenise: ms(tokeniseMs),
        forward: ms(forwardMs), payload: ms(t4 - t3), draw: ms(t5 - t4) });
      this.dataset.forwardMs = forwardMs.toFixed(1);
      if (loadMs > 50) this.dataset.loadMs = loadMs.toFixed(0);
      this.dataset.liveMs = (performance.now() - pressed).toFixed(1);
      this.dataset.liveState = "live";
      this.backButton.disabled = false;
      this.say(`Showing your text: ${enc.ids.length} tokens, forward pass ${forwardMs.toFixed(0)} ms (int8 weights; the author's figure was baked at float32).`);
    } catch (e) {
      this.bar.hidden = true;
      this.dataset.liveState = "error";
      this.say(`The live model could not run: ${e && e.message || e}. The figure below is unchanged.`, true);
    } finally {
      this.runButton.disabled = !!unavailable();
    }
  }

  async back() {
    this.backButton.disabled = true;
    this.box.value = this.getAttribute("text") || "";
    if (this.boxB) this.boxB.value = this.getAttribute("text-b");
    await this.show(this.baked);
    this.dataset.liveState = "idle";
    this.say("Showing the author's text again.");
  }

  /** Make `payload` the block's payload and replace its views by fresh ones; resolves when they have drawn. */
  async show(payload) {
    const box = container(this);
    replace(box, payload);
    this.selection.set({ token: null }); // token indices of the old text mean nothing in the new one
    const fresh = [];
    for (const old of box.querySelectorAll(".xp-view")) {
      if (old === this) continue;
      const view = document.createElement(old.localName);
      for (const { name, value } of old.attributes)
        if (!/^(class|role|aria-label|data-.*)$/.test(name)) view.setAttribute(name, value);
      old.replaceWith(view);
      fresh.push(view);
    }
    // drawn, failed, or (not started after a few frames) out of view: it draws when the reader scrolls to it
    await Promise.all(fresh.map((v) => new Promise((resolve) => {
      let frames = 0;
      const check = () => (v.dataset.firstPaintMs || v.dataset.state === "error" || (++frames > 3 && !v.dataset.state)
        ? resolve() : requestAnimationFrame(check));
      check();
    })));
  }
}
