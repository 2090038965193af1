"""Live blocks: the model runs in the reader's browser ("try your own text", issue 25).

At build time (`export.py`) an encoder is exported to ONNX with eager attention, with every layer's attention,
queries and keys and the pooled embedding as outputs, its weights quantised to int8 (per channel, activations
float: export.quantize), and cached by the model's fingerprint (`cache.py`, like the de-quantised weights cache). The
plugin ships it, with the tokenizer's vocabulary and a small manifest, only when a page has a live block
(`assets.py`); the page loads ONNX Runtime Web and the model only when the reader presses the button
(`generator/assets/js/live-*.js`). None of this is part of a payload: a live block's baked payload is the same as
without `live`, and the bake cache key ignores this package.

Needs the optional extra `explorables[live]` (onnx) at build time, and only when some page uses it; the tests also
run the exported graph with onnxruntime (extra `test`).
"""
