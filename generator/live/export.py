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
onnxruntime's quantize_dynamic): 90.4 MB -> 23.0 MB for MiniLM-L6.

What ships (`build`): the float32 graph optimised once here by onnxruntime of the page's version (`optimise`), its
weights as external data, and those weights packed (`pack`: int8 with per-channel scales where `quantize` would
quantise them, float32 bytes for the rest). The embedding tables stay int8 in the graph, which reads them from the
pack and scales only the rows it gathers; the page rebuilds the other float32 weights from the pack
(live-weights.js) and creates its session with graph optimisation off. Both earlier forms cost the page more: an int8 QDQ graph
folded back to float32 at session creation (1.5-6 s of the first figure on this loaded machine), or saved with
MatMulNBits (fast to open, but each forward 3x slower in WASM); benchmarks/RESULTS.md, "Live blocks". The files
ship uncompressed: gzip saves about 2 MB of int8 weights and cost the page an inflate on every visit.
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
RUNTIME = "1.31"    # the vendored onnxruntime-web's version (generator/assets/vendor/onnxruntime-web/README.md)
WEIGHTS = "weights.bin"     # the external data file the graph names; the page makes it from the pack
PACK = "weights.pack"       # the pack (`pack`), which the graph also names: its int8 embedding tables
FORMAT = "explorables-live/2"   # the manifest's format: 2 = embedding tables read int8 from the pack by the graph


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


def _axis(weight: Any, uses: list[tuple[str, int]], min_size: int) -> int | None:
    """The axis `quantize` and `pack` keep one scale per (0: a Gather's rows, 1: a MatMul's columns), or None for a
    weight they leave float32."""
    import numpy as np

    if weight.dtype != np.float32 or weight.ndim != 2 or weight.size < min_size or not uses:
        return None
    if not all(use in (("MatMul", 1), ("Gather", 0)) for use in uses) or len({op for op, _ in uses}) != 1:
        return None
    return 0 if uses[0][0] == "Gather" else 1


def int8_channels(weight: Any, axis: int) -> tuple[Any, Any]:
    """(q int8 of weight's shape, scale float32 [weight.shape[axis]]): symmetric, scale = max |w| / 127 per row
    (axis 0) or column (axis 1), 1 where the channel is all zero; w ~ q * scale."""
    import numpy as np

    scale = np.abs(weight).max(axis=1 - axis) / 127.0
    scale[scale == 0] = 1.0
    scale = scale.astype(np.float32)
    shaped = scale[:, None] if axis == 0 else scale[None, :]
    return np.clip(np.rint(weight / shaped), -127, 127).astype(np.int8), scale


def _users(graph: Any) -> dict[str, list[tuple[str, int]]]:
    users: dict[str, list[tuple[str, int]]] = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            users.setdefault(name, []).append((node.op_type, index))
    return users


def quantize(source: Path, target: Path, min_size: int = 4096) -> None:
    """int8 weights only: every 2-D float32 weight of at least `min_size` values read by a MatMul (as its second
    input) or a Gather (the embedding tables) is stored as int8 with one scale per output column (MatMul) or per row
    (Gather), symmetric (scale = max |w| / 127, rounded to nearest), and a DequantizeLinear node restores the float
    weight in front of its users; activations stay float32.

    Why not onnxruntime.quantization.quantize_dynamic: it also quantises the activations at run time, and MiniLM's
    attention then moved by up to 0.35 (per value, three texts; per_channel 0.27, reduce_range 0.24), against 0.077
    with weights only (benchmarks/RESULTS.md, "Live blocks"). Sizes: 22.8 MB vs 23.0 MB."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    users = _users(model.graph)
    added = []
    for init in list(model.graph.initializer):
        weight = numpy_helper.to_array(init)
        axis = _axis(weight, users.get(init.name, []), min_size)
        if axis is None:
            continue
        q, scale = int8_channels(weight, axis)
        model.graph.initializer.remove(init)
        model.graph.initializer.extend([numpy_helper.from_array(q, init.name + "_int8"),
                                        numpy_helper.from_array(scale, init.name + "_scale")])
        added.append(helper.make_node("DequantizeLinear", [init.name + "_int8", init.name + "_scale"], [init.name],
                                      axis=axis, name=init.name + "_dequantize"))
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(added + nodes)      # topological order: the weights first
    onnx.save(model, str(target))


def check_runtime() -> None:
    """Raises ImportError (saying what to install) unless the Python onnxruntime is the page's version (RUNTIME):
    `optimise` saves that version's fused operators."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError(f"live blocks need the package onnxruntime {RUNTIME} at build time ({exc})") from None
    if not onnxruntime.__version__.startswith(RUNTIME + "."):
        raise ImportError(f"live blocks need onnxruntime {RUNTIME} at build time, the version of the page's runtime "
                          f"(this environment has {onnxruntime.__version__})")


def optimise(source: Path, target: Path) -> None:
    """Save the float32 graph onnxruntime makes of `source` at level "extended" (CPU provider, one thread: what the
    page's WASM build runs) to `target`, every initializer of 4 KB or more in the external file WEIGHTS beside it;
    the page then opens it with graph optimisation off. For MiniLM the level fuses LayerNormalization, BiasGelu and
    FusedMatMul (the attention scale). Deterministic. Raises ImportError from check_runtime."""
    check_runtime()
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.optimized_model_filepath = str(target)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", WEIGHTS)
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "4096")
    onnxruntime.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def _gathered(name: str, users: list[tuple[str, int]], gathers: dict[str, list[Any]]) -> bool:
    """True when every use of the initializer `name` is as the table of a Gather along axis 0 (an embedding table):
    the page's graph can then gather its int8 rows and scale them, instead of reading a float32 copy of it."""
    nodes = gathers.get(name, [])
    return bool(nodes) and len(nodes) == len(users) and all(
        next((a.i for a in node.attribute if a.name == "axis"), 0) == 0 for node in nodes)


def pack(graph_path: Path, min_size: int = 4096) -> tuple[bytes, bytes, dict[str, Any]]:
    """The graph at `graph_path` (its external weights in WEIGHTS beside it) made into what the page loads:
    (graph bytes, pack bytes, layout).

    Every external initializer `quantize` would quantise (the same rule and rounding, int8_channels) is stored in the
    pack as int8 [R, C] with float32 scales ([R] for axis 0, [C] for axis 1); the others keep their float32 bytes.

    - An embedding table (int8 per row, read only by Gather nodes along axis 0) stays int8 in the graph: its
      initializer becomes two, `<name>_int8` int8 [R, C] and `<name>_scale` float32 [R, 1], external data in PACK
      (the pack itself, at their offsets), and each Gather becomes Gather(int8 rows), Gather(their scales),
      DequantizeLinear with scale 1 (float32(q), exact), Mul: the float32 product q * scale of the rows read, which
      is what `quantize`'s DequantizeLinear followed by the Gather gives, value for value. (Not Cast: the WASM
      runtime's first Cast took 70 ms, its first DequantizeLinear 2 ms, in a bare page at load 9.) The page never makes a float32 copy of the table (MiniLM's
      word table is 46.9 MB of float32, half the weights; benchmarks/RESULTS.md, "live.py").
    - Every other initializer stays float32 in the graph, external data in WEIGHTS, a file the page makes from the
      pack (live-weights.js): the graph's offsets are rewritten to that file's layout, which holds no table.

    layout = {"file": WEIGHTS, "bytes": size of that float32 file, "pack": PACK, "segments": [...],
    "gathered": [...]}. segments, one per initializer in WEIGHTS, in file order: {"offset": its byte offset in the
    float file, "bytes": n, "at": where its float32 bytes start in the pack} for a weight kept float32; {"offset",
    "dims": [R, C], "axis": 0 | 1, "int8": where R*C int8 values start in the pack, "scale": where its float32
    scales start} for a quantised one, which the page makes float32 as value = int8 * scale, a single float32 product
    (what onnxruntime's DequantizeLinear computes). gathered, one per table the graph reads from the pack:
    {"name", "dims": [R, C], "int8", "scale"} (pack offsets; for the record, the page needs only the graph). Float
    data starts at multiples of 4 in both files. Raises ValueError for an initializer outside WEIGHTS."""
    import numpy as np
    import onnx
    import onnx.numpy_helper
    from onnx import helper

    model = onnx.load(str(graph_path), load_external_data=False)
    graph = model.graph
    ONE = "explorables_one"     # the scalar 1.0 of the tables' DequantizeLinear
    users = _users(graph)
    gathers: dict[str, list[Any]] = {}
    for node in graph.node:
        if node.op_type == "Gather":
            gathers.setdefault(node.input[0], []).append(node)
    data = (graph_path.parent / WEIGHTS).read_bytes()
    out, segments, gathered, floats = bytearray(), [], [], 0
    replace: dict[int, list[Any]] = {}

    def align() -> None:
        out.extend(b"\0" * (-len(out) % 4))

    def place(init: Any, location: str, offset: int, length: int) -> None:
        del init.external_data[:]
        for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
            entry = init.external_data.add()
            entry.key, entry.value = key, value

    for init in list(graph.initializer):
        if init.data_location != onnx.TensorProto.EXTERNAL:
            continue
        where = {entry.key: entry.value for entry in init.external_data}
        if where.get("location") != WEIGHTS:
            raise ValueError(f"initializer {init.name} is in {where.get('location')}, not {WEIGHTS}")
        offset, size = int(where.get("offset", 0)), int(where["length"])
        weight = (np.frombuffer(data, np.float32, size // 4, offset).reshape(list(init.dims))
                  if init.data_type == onnx.TensorProto.FLOAT else None)
        axis = None if weight is None else _axis(weight, users.get(init.name, []), min_size)
        align()
        if axis is None:
            segments.append({"offset": floats, "bytes": size, "at": len(out)})
            out.extend(data[offset:offset + size])
            place(init, WEIGHTS, floats, size)
            floats += size + (-size % 4)
            continue
        q, scale = int8_channels(weight, axis)
        rows, cols = weight.shape
        at = len(out)
        out.extend(q.tobytes())
        align()
        scale_at = len(out)
        out.extend(scale.astype("<f4").tobytes())
        if axis == 0 and _gathered(init.name, users.get(init.name, []), gathers):
            gathered.append({"name": init.name, "dims": [rows, cols], "int8": at, "scale": scale_at})
            table = onnx.TensorProto(name=init.name + "_int8", data_type=onnx.TensorProto.INT8, dims=[rows, cols],
                                     data_location=onnx.TensorProto.EXTERNAL)
            scales = onnx.TensorProto(name=init.name + "_scale", data_type=onnx.TensorProto.FLOAT, dims=[rows, 1],
                                      data_location=onnx.TensorProto.EXTERNAL)
            place(table, PACK, at, rows * cols)
            place(scales, PACK, scale_at, 4 * rows)
            graph.initializer.remove(init)
            graph.initializer.extend([table, scales])
            for node in gathers[init.name]:
                ids, result, name = node.input[1], node.output[0], node.name or result
                replace[id(node)] = [
                    helper.make_node("Gather", [table.name, ids], [result + "_int8"], name=name + "_int8", axis=0),
                    helper.make_node("Gather", [scales.name, ids], [result + "_scale"], name=name + "_scale", axis=0),
                    helper.make_node("DequantizeLinear", [result + "_int8", ONE], [result + "_float"],
                                     name=name + "_float"),
                    helper.make_node("Mul", [result + "_float", result + "_scale"], [result], name=name + "_mul")]
            continue
        segments.append({"offset": floats, "dims": [rows, cols], "axis": axis, "int8": at, "scale": scale_at})
        place(init, WEIGHTS, floats, 4 * rows * cols)
        floats += 4 * rows * cols
    if replace:
        graph.initializer.append(onnx.numpy_helper.from_array(np.array(1.0, np.float32), ONE))
    nodes = [new for node in graph.node for new in replace.get(id(node), [node])]
    del graph.node[:]
    graph.node.extend(nodes)
    layout = {"file": WEIGHTS, "bytes": floats, "pack": PACK, "segments": segments, "gathered": gathered}
    return model.SerializeToString(), bytes(out), layout


def build(loaded: "LoadedModel", folder: Path) -> None:
    """Write a live model's files into `folder`: model.onnx (the optimised float32 graph, weights external),
    weights.pack (`pack`), vocab.txt, live.json (the manifest the page reads first: model facts, tokenizer settings,
    the pack's layout, file sizes). Raises LiveUnsupported before any work for a model the page cannot run,
    ImportError when onnx or onnxruntime (of the page's version) is missing."""
    check_supported(loaded)
    check_runtime()
    settings = tokenizer_settings(loaded.tokenizer)
    with tempfile.TemporaryDirectory(prefix="explorables-live-") as work:
        raw, ready = Path(work) / "float.onnx", Path(work) / "ready" / "model.onnx"
        facts = export_float(loaded, raw)
        ready.parent.mkdir()
        optimise(raw, ready)
        model, weights, layout = pack(ready)
    vocab = ("\n".join(settings.pop("vocab")) + "\n").encode("utf-8")
    info = loaded.info
    manifest = {
        "format": FORMAT, "label": info.label, "architecture": info.architecture,
        "n_layers": info.n_layers, "n_heads": info.n_heads, "n_kv_heads": info.n_kv_heads, **facts,
        "max_tokens": int(loaded.max_positions or 512), "outputs": list(OUTPUTS), "quantisation": "int8 weights (per channel), float32 activations",
        "optimised": f"onnxruntime {RUNTIME}, level extended (the page skips graph optimisation)",
        "tokenizer": settings, "weights": layout,
        "files": {"model": {"name": "model.onnx", "bytes": len(model)}, "weights": {"name": PACK, "bytes": len(weights)},
                  "vocab": {"name": "vocab.txt", "bytes": len(vocab)}},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(model)
    (folder / PACK).write_bytes(weights)
    (folder / "vocab.txt").write_bytes(vocab)
    (folder / "live.json").write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
