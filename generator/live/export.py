"""Export an encoder to ONNX for the page: outputs for the head, model and neuron views and the pooled embedding.

Graph (batch 1, any length N up to the model's position limit; opset 17):

    inputs:  input_ids int64 [1, N], token_type_ids int64 [1, N]
    outputs: attentions float32 [L, H, N, N]   every layer's attention (rows sum to 1)
             queries    float32 [L, H, N, d]   the tensors the model's eager attention function receives
             keys       float32 [L, H_kv, N, d]    (generator/models/adapters.py, recording_queries_keys)
             pooled     float32 [D]            mean of the last hidden state over the N positions

No attention mask is an input: one unpadded sequence attends everywhere (a mask input made from the traced length
was baked into the graph as a constant). The model is the one the bake loads (eager attention, float32, eval mode).

Exporter: torch's TorchScript exporter (`dynamo=False`). Both exporters give the same numbers here (attention within
2e-6 of PyTorch at a length other than the traced one); the TorchScript one took 5.4 s for MiniLM-L6 and needs no
more packages, the dynamo one (`dynamo=True`) 46.6 s and needs onnxscript and onnx-ir (measured on this 2-core
machine, one run each). Quantisation: int8 weights with float activations (`quantize`, which says why not
onnxruntime's quantize_dynamic): 90.4 MB -> 23.0 MB for MiniLM-L6. The file ships uncompressed: gzip saves only
2.1 MB of int8 weights (20.9 MB) and cost the page an inflate of 0.3-0.5 s on every visit (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..models.loading import LoadedModel

OUTPUTS = ("attentions", "queries", "keys", "pooled")
OPSET = 17


class LiveUnsupported(ValueError):
    """The model (or its tokenizer) is not one the page can run; the message says why."""


def tokenizer_settings(tokenizer: Any) -> dict[str, Any]:
    """What the page's WordPiece tokenizer (assets/js/live-wordpiece.js) needs to reproduce `tokenizer`: the
    normaliser's switches, the unknown token, the subword prefix, the longest word read, and the vocabulary as a
    list (index = id). Raises LiveUnsupported for anything but a BERT-style WordPiece tokenizer (Hugging Face
    tokenizers: BertNormalizer, BertPreTokenizer, WordPiece model, TemplateProcessing or BertProcessing)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise LiveUnsupported("its tokenizer is not a fast (Rust) tokenizer")
    data = json.loads(backend.to_str())
    normalizer, pre, model = data.get("normalizer") or {}, data.get("pre_tokenizer") or {}, data.get("model") or {}
    if normalizer.get("type") != "BertNormalizer" or pre.get("type") != "BertPreTokenizer" or model.get("type") != "WordPiece":
        raise LiveUnsupported(f"the page reads only BERT-style WordPiece tokenizers, and this one has a "
                              f"{normalizer.get('type')} normaliser, a {pre.get('type')} pre-tokenizer and a "
                              f"{model.get('type')} model")
    vocab = model["vocab"]
    words = [""] * len(vocab)
    for word, index in vocab.items():
        words[index] = word
    if "" in words:
        raise LiveUnsupported("its vocabulary has gaps in its ids")
    lowercase = bool(normalizer.get("lowercase", True))
    strip = normalizer.get("strip_accents")
    special = {name: getattr(tokenizer, f"{name}_token_id") for name in ("cls", "sep", "unk", "mask", "pad")}
    return {"lowercase": lowercase, "strip_accents": lowercase if strip is None else bool(strip),
            "clean_text": bool(normalizer.get("clean_text", True)),
            "chinese_chars": bool(normalizer.get("handle_chinese_chars", True)),
            "unk_token": model.get("unk_token", "[UNK]"), "prefix": model.get("continuing_subword_prefix", "##"),
            "max_word_chars": int(model.get("max_input_chars_per_word", 100)),
            "special_ids": sorted(int(i) for i in (tokenizer.all_special_ids or [])),
            **{f"{name}_id": value for name, value in special.items()}, "vocab": words}


def check_supported(loaded: "LoadedModel") -> None:
    """Raises LiveUnsupported (saying why) unless the page can run this model: an encoder (no causal or
    encoder-decoder model), whose queries and keys the adapter can record, with a BERT-style WordPiece tokenizer."""
    info = loaded.info
    if info.causal or info.encoder_decoder:
        raise LiveUnsupported(f"{info.label} is a {'causal' if info.causal else 'encoder-decoder'} model, and live "
                              "blocks run encoders only (benchmarks/RESULTS.md has SmolLM2's figures)")
    if loaded.adapter is None or loaded.adapter.attention is None:
        raise LiveUnsupported(f"generator/models/adapters.py has no attention path for '{info.architecture}'")
    tokenizer_settings(loaded.tokenizer)


def _graph(loaded: "LoadedModel"):
    import torch

    class Graph(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model
            self.queries: list[Any] = []
            self.keys: list[Any] = []
            self.scales: dict[int, float] = {}

        def forward(self, input_ids, token_type_ids):
            self.queries.clear()
            self.keys.clear()
            out = self.model(input_ids=input_ids, token_type_ids=token_type_ids, output_attentions=True)
            attentions = torch.stack([layer[0] for layer in out.attentions])
            return (attentions, torch.stack(self.queries), torch.stack(self.keys),
                    out.last_hidden_state[0].mean(0))

        def sink(self, layer: int, query: Any, key: Any, scaling: float) -> None:
            self.queries.append(query)
            self.keys.append(key)
            self.scales[layer] = scaling

    # a new Module is in training mode; the exporter restores that mode afterwards, recursively: eval() first
    return Graph(loaded.model).eval()


def export_float(loaded: "LoadedModel", path: Path) -> dict[str, Any]:
    """Write the float32 ONNX graph (layout in this module's docstring) to `path`; returns {"scales": [per layer
    factor on q . k], "d_head": d}. Imports torch."""
    import torch

    from ..models.adapters import recording_queries_keys

    graph = _graph(loaded)
    example = loaded.tokenizer("the animal did not cross the street", return_tensors="pt")
    ids, types = example["input_ids"], example.get("token_type_ids", torch.zeros_like(example["input_ids"]))
    with recording_queries_keys(loaded.model, loaded.adapter, graph.sink), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")     # the TorchScript exporter's deprecation notice, tracer notes
        torch.onnx.export(graph, (ids, types), str(path), input_names=["input_ids", "token_type_ids"],
                          output_names=list(OUTPUTS), dynamic_axes={"input_ids": {1: "n"}, "token_type_ids": {1: "n"}},
                          opset_version=OPSET, dynamo=False, do_constant_folding=True)
    d_head = int(graph.queries[0].shape[-1]) if graph.queries else 0
    return {"scales": [float(graph.scales[layer]) for layer in sorted(graph.scales)], "d_head": d_head}


def quantize(source: Path, target: Path, min_size: int = 4096) -> None:
    """int8 weights only: every 2-D float32 weight of at least `min_size` values read by a MatMul (as its second
    input) or a Gather (the embedding tables) is stored as int8 with one scale per output column (MatMul) or per row
    (Gather), symmetric (scale = max |w| / 127, rounded to nearest), and a DequantizeLinear node restores the float
    weight in front of its users; activations stay float32.

    Why not onnxruntime.quantization.quantize_dynamic: it also quantises the activations at run time, and MiniLM's
    attention then moved by up to 0.35 (per value, three texts; per_channel 0.27, reduce_range 0.24), against 0.077
    with weights only (benchmarks/RESULTS.md, "Live blocks"). Sizes: 22.8 MB vs 23.0 MB."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    users: dict[str, list[tuple[str, int]]] = {}
    for node in model.graph.node:
        for index, name in enumerate(node.input):
            users.setdefault(name, []).append((node.op_type, index))
    added = []
    for init in list(model.graph.initializer):
        weight = numpy_helper.to_array(init)
        uses = users.get(init.name, [])
        if weight.dtype != np.float32 or weight.ndim != 2 or weight.size < min_size or not uses:
            continue
        if not all(use in (("MatMul", 1), ("Gather", 0)) for use in uses) or len({op for op, _ in uses}) != 1:
            continue
        axis = 0 if uses[0][0] == "Gather" else 1
        scale = np.abs(weight).max(axis=1 - axis) / 127.0
        scale[scale == 0] = 1.0
        shaped = scale[:, None] if axis == 0 else scale[None, :]
        q = np.clip(np.rint(weight / shaped), -127, 127).astype(np.int8)
        model.graph.initializer.remove(init)
        model.graph.initializer.extend([numpy_helper.from_array(q, init.name + "_int8"),
                                        numpy_helper.from_array(scale.astype(np.float32), init.name + "_scale")])
        added.append(helper.make_node("DequantizeLinear", [init.name + "_int8", init.name + "_scale"], [init.name],
                                      axis=axis, name=init.name + "_dequantize"))
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(added + nodes)      # topological order: the weights first
    onnx.save(model, str(target))


def build(loaded: "LoadedModel", folder: Path) -> None:
    """Write a live model's files into `folder`: model.onnx (int8), vocab.txt, live.json (the manifest the page
    reads first: model facts, tokenizer settings, file sizes). Raises LiveUnsupported before any work for a model
    the page cannot run, ImportError when onnx is missing."""
    check_supported(loaded)
    settings = tokenizer_settings(loaded.tokenizer)
    with tempfile.TemporaryDirectory(prefix="explorables-live-") as work:
        raw, small = Path(work) / "float.onnx", Path(work) / "int8.onnx"
        facts = export_float(loaded, raw)
        quantize(raw, small)
        model = small.read_bytes()
    vocab = ("\n".join(settings.pop("vocab")) + "\n").encode("utf-8")
    info = loaded.info
    manifest = {
        "format": "explorables-live/1", "label": info.label, "architecture": info.architecture,
        "n_layers": info.n_layers, "n_heads": info.n_heads, "n_kv_heads": info.n_kv_heads, **facts,
        "max_tokens": int(loaded.max_positions or 512), "outputs": list(OUTPUTS), "quantisation": "int8 weights (per channel), float32 activations",
        "tokenizer": settings,
        "files": {"model": {"name": "model.onnx", "bytes": len(model)},
                  "vocab": {"name": "vocab.txt", "bytes": len(vocab)}},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(model)
    (folder / "vocab.txt").write_bytes(vocab)
    (folder / "live.json").write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
