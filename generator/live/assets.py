"""Which blocks are live, and the files a site with live blocks ships (nothing when it has none).

Files, under the site's `assets/explorables/`:

- `vendor/onnxruntime-web/`: ONNX Runtime Web's WASM-only build (generator/assets/vendor/onnxruntime-web/README.md);
- `live/<entry>/`: one folder per live model (`cache.entry_name`): live.json, vocab.txt, model.onnx, weights.pack.

A live block gets `<explorable-live-view model="<entry>">` in its container (markdown_ext.render_widget); the page
fetches these files only when the reader presses its button (assets/js/live-view.js).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..errors import ExplorableError, ModelLoadError, SpecError

if TYPE_CHECKING:
    from ..bake import Baker
    from ..spec import SpecBase

VENDOR = "vendor/onnxruntime-web"
RUNTIME = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm.gz", "LICENSE")
VIEWS = frozenset({"head", "model", "neuron"})      # the views a page-made payload can feed
INSTALL = "pip install 'explorables[live]' (onnx, onnxruntime 1.31), or run scripts/setup"


def runtime_files() -> list[tuple[str, bytes]]:
    """[(path under assets/explorables/, bytes)] of the vendored runtime."""
    root = resources.files("generator") / "assets" / VENDOR
    return [(f"{VENDOR}/{name}", (root / name).read_bytes()) for name in RUNTIME]


def why_not(spec: "SpecBase", document: dict[str, Any]) -> str | None:
    """Why the page cannot redraw this block from a text the reader types (None when it can)."""
    model = document.get("model", {})
    if model.get("causal") or model.get("encoder_decoder"):
        kind = "causal" if model.get("causal") else "encoder-decoder"
        return (f"{model.get('label')} is a {kind} model; live blocks run encoders such as minilm "
                "(benchmarks/RESULTS.md has SmolLM2's figures)")
    return views_refusal(spec)


def views_refusal(spec: "SpecBase") -> str | None:
    """Why the page cannot redraw every view this block shows from a text the reader types (None when it can):
    live blocks redraw the head, model and neuron views, and a pair's saliency by occlusion. Needs no payload
    (`explorables check` asks it too, through `rules.check_model`)."""
    views = VIEWS | ({"saliency"} if spec.pair is not None else set())     # a pair's similarity, by occlusion
    other = sorted(set(spec.shown_views) - views)
    if other:
        return (f"live blocks redraw the views {', '.join(sorted(VIEWS))} (and saliency, by occlusion, of a sentence "
                f"pair); this block also shows {', '.join(other)}")
    return None


class LiveModels:
    """The live models of one build: which entry each live block uses, and their files.

    site_live: the plugin's `live: true` (every block that can be live is); a block's own `live: true` asks for it
    and is an error (on the block's `live` field) where it cannot be.
    """

    def __init__(self, baker: "Baker", site_live: bool = False):
        self.baker = baker
        self.site_live = site_live
        self.entries: dict[str, dict[str, bytes]] = {}       # entry name -> {file name: bytes}
        self.failures: dict[str, ExplorableError] = {}       # model fingerprint -> the error of its export

    def entry(self, spec: "SpecBase", payload: bytes) -> str | None:
        """The entry name of this block's live model, or None when the block is not live. Exports the model
        (through the cache) the first time. Raises SpecError on `live` when the block asks for it and cannot."""
        asked = bool(getattr(spec, "live", False))
        if not (asked or self.site_live):
            return None
        reason = why_not(spec, json.loads(payload))
        if reason:
            if asked:
                raise spec.error("live", f"this block cannot be live: {reason}",
                                 hint="remove 'live: true', or use an encoder and the head, model or neuron views")
            return None
        source = self.baker.source(spec)
        key = source.fingerprint()
        if key in self.failures:
            raise self._placed(spec, self.failures[key])
        from . import cache
        name = cache.entry_name(source)
        if name not in self.entries:
            try:
                self.entries[name] = cache.files_for(source, lambda folder: self._build(source, folder))
            except ExplorableError as error:
                self.failures[key] = error
                raise self._placed(spec, error) from None
        return name

    @staticmethod
    def _placed(spec: "SpecBase", error: ExplorableError) -> SpecError:
        return spec.error("live", str(getattr(error, "message", error)), hint=getattr(error, "hint", None))

    @staticmethod
    def _build(source, folder) -> None:
        try:
            import onnx  # noqa: F401
        except ImportError as exc:
            raise SpecError(f"live blocks need the package onnx at build time ({exc})",
                            hint=INSTALL) from None
        from ..models.loading import POOL
        from .export import LiveUnsupported, build, check_runtime
        try:
            check_runtime()
        except ImportError as exc:
            raise SpecError(str(exc), hint=INSTALL) from None
        try:
            loaded = POOL.get(source)
        except ModelLoadError as exc:
            raise SpecError(str(exc)) from None
        try:
            build(loaded, folder)
        except LiveUnsupported as exc:
            raise SpecError(f"the page cannot run this model: {exc}",
                            hint="remove 'live: true', or use an encoder with a BERT-style tokenizer such as minilm") from None

    def files(self) -> list[tuple[str, bytes]]:
        """[(path under assets/explorables/, bytes)]: the runtime and every entry used; [] without live blocks."""
        if not self.entries:
            return []
        out = runtime_files()
        for name, files in sorted(self.entries.items()):
            out += [(f"live/{name}/{file}", data) for file, data in sorted(files.items())]
        return out
