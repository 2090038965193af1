"""The live model export (generator/live/): the ONNX graph gives PyTorch's attention, queries, keys and pooled
embedding at any length; int8 weights stay within a bound; the cache; which blocks can be live, and the errors."""

from __future__ import annotations

import gzip
import json
import textwrap

import numpy as np
import pytest

from generator.errors import SpecError
from generator.live import cache
from generator.live.assets import LiveModels, runtime_files, why_not
from generator.live.export import (PACK, WEIGHTS, LiveUnsupported, build, check_supported, export_float, optimise,
                                   pack, quantize)
from generator.models.loading import load
from generator.models.registry import resolve
from generator.spec import Catalogue, spec_from_block


@pytest.fixture(scope="module")
def tiny_bert(tiny_models):
    return load(resolve(str(tiny_models["bert"])))


def _reference(loaded, text):
    """Attention, queries, keys (independently: the model's own outputs and a forward hook on its projections) and
    the mean of the last hidden state."""
    import torch

    enc = loaded.tokenizer(text, return_tensors="pt")
    qs, ks = [], []
    hooks = []
    for layer in loaded.model.encoder.layer:
        heads = loaded.model.config.num_attention_heads
        def split(out, store):
            n, d = out.shape[1], out.shape[2] // heads
            store.append(out[0].reshape(n, heads, d).transpose(0, 1).detach().numpy())
        hooks.append(layer.attention.self.query.register_forward_hook(lambda m, i, o: split(o, qs)))
        hooks.append(layer.attention.self.key.register_forward_hook(lambda m, i, o: split(o, ks)))
    with torch.no_grad():
        out = loaded.model(**enc, output_attentions=True)
    for hook in hooks:
        hook.remove()
    attentions = np.stack([a[0].numpy() for a in out.attentions])
    return enc, attentions, np.stack(qs), np.stack(ks), out.last_hidden_state[0].mean(0).numpy()


def test_onnx_graph_equals_pytorch_at_another_length(tiny_bert, tmp_path):
    import onnxruntime

    facts = export_float(tiny_bert, tmp_path / "m.onnx")
    assert facts["d_head"] == 8 and facts["scales"] == [pytest.approx(8 ** -0.5)] * 2
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    text = "a longer text than the one traced, with more words in it than before"
    enc, attention, queries, keys, pooled = _reference(tiny_bert, text)
    got = session.run(None, {"input_ids": enc["input_ids"].numpy(), "token_type_ids": enc["token_type_ids"].numpy()})
    for mine, theirs in zip(got, (attention, queries, keys, pooled)):
        assert mine.shape == theirs.shape
        np.testing.assert_allclose(mine, theirs, atol=2e-5)
    np.testing.assert_allclose(got[0].sum(-1), 1, atol=1e-5)

    quantize(tmp_path / "m.onnx", tmp_path / "q.onnx")
    import onnx
    q = onnx.load(str(tmp_path / "q.onnx"))
    assert any(i.data_type == onnx.TensorProto.INT8 for i in q.graph.initializer)
    small = onnxruntime.InferenceSession(str(tmp_path / "q.onnx"))
    got_q = small.run(None, {"input_ids": enc["input_ids"].numpy(), "token_type_ids": enc["token_type_ids"].numpy()})
    error = np.abs(got_q[0] - attention).max()
    assert 0 < error < 0.02, error          # int8 weights move a tiny random model's attention a little, not much
    np.testing.assert_allclose(got_q[0].sum(-1), 1, atol=1e-5)


def _unpack(weights: bytes, layout: dict) -> bytes:
    """The float32 weights file from a pack, written here from the layout's description (not from the page's code)."""
    out = np.zeros(layout["bytes"] // 4, np.float32)
    for seg in layout["segments"]:
        start = seg["offset"] // 4
        if "int8" not in seg:
            out[start:start + seg["bytes"] // 4] = np.frombuffer(weights, np.float32, seg["bytes"] // 4, seg["at"])
            continue
        rows, cols = seg["dims"]
        q = np.frombuffer(weights, np.int8, rows * cols, seg["int8"]).reshape(rows, cols)
        scale = np.frombuffer(weights, np.float32, rows if seg["axis"] == 0 else cols, seg["scale"])
        w = q.astype(np.float32) * (scale[:, None] if seg["axis"] == 0 else scale[None, :])
        out[start:start + rows * cols] = w.ravel()
    return out.tobytes()


def test_the_shipped_graph_and_pack_compute_what_the_int8_graph_does(tiny_bert, tmp_path):
    """What the page runs (the optimised graph: its embedding tables int8 read from the pack, its other weights
    rebuilt float32 from the pack) equals the int8 QDQ graph of `quantize` run by onnxruntime with every optimisation
    off, at a length other than the traced one."""
    import onnx
    import onnxruntime

    export_float(tiny_bert, tmp_path / "m.onnx")
    quantize(tmp_path / "m.onnx", tmp_path / "q.onnx", min_size=1024)     # the tiny model: every 32 x 32 weight
    (tmp_path / "ready").mkdir()
    optimise(tmp_path / "m.onnx", tmp_path / "ready" / "model.onnx")
    graph, weights, layout = pack(tmp_path / "ready" / "model.onnx", min_size=1024)
    assert layout["file"] == WEIGHTS and layout["pack"] == PACK and any("int8" in seg for seg in layout["segments"])
    # the word and position tables are gathered int8 from the pack; the float file no longer holds them
    config = tiny_bert.model.config
    tables = {g["name"]: g["dims"] for g in layout["gathered"]}
    assert tables == {"model.embeddings.word_embeddings.weight": [config.vocab_size, config.hidden_size],
                      "model.embeddings.position_embeddings.weight": [config.max_position_embeddings, config.hidden_size]}
    original = (tmp_path / "ready" / WEIGHTS).stat().st_size
    assert layout["bytes"] == original - 4 * sum(r * c for r, c in tables.values())
    assert len(weights) < 0.5 * original             # int8 where it counts
    for g in layout["gathered"]:                     # the pack holds the table as int8_channels makes it
        rows, cols = g["dims"]
        want = onnx.numpy_helper.to_array(next(i for i in onnx.load(str(tmp_path / "m.onnx")).graph.initializer
                                               if i.name == g["name"]))
        q = np.frombuffer(weights, np.int8, rows * cols, g["int8"]).reshape(rows, cols)
        scale = np.frombuffer(weights, np.float32, rows, g["scale"])
        peak = np.abs(want).max(1)
        np.testing.assert_allclose(scale, np.where(peak == 0, 1, peak / 127), rtol=1e-6)     # 1 for a zero row
        assert (np.abs(q.astype(np.float32) * scale[:, None] - want) <= scale[:, None] * (0.5 + 1e-5)).all()
    (tmp_path / "page").mkdir()
    (tmp_path / "page" / "model.onnx").write_bytes(graph)
    (tmp_path / "page" / WEIGHTS).write_bytes(_unpack(weights, layout))
    (tmp_path / "page" / PACK).write_bytes(weights)
    plain = onnxruntime.SessionOptions()
    plain.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    page = onnxruntime.InferenceSession(str(tmp_path / "page" / "model.onnx"), plain)     # as the page opens it
    reference = onnxruntime.InferenceSession(str(tmp_path / "q.onnx"), plain)
    enc = tiny_bert.tokenizer("a longer text than the one traced, with more words in it", return_tensors="np")
    feed = {"input_ids": enc["input_ids"].astype(np.int64), "token_type_ids": enc["token_type_ids"].astype(np.int64)}
    got, want = page.run(None, feed), reference.run(None, feed)
    assert got[0].shape[-1] == enc["input_ids"].shape[1]
    for mine, theirs in zip(got, want):
        np.testing.assert_allclose(mine, theirs, atol=2e-6)
    shipped = onnx.load(str(tmp_path / "page" / "model.onnx"), load_external_data=False).graph
    int8 = {i.name for i in shipped.initializer if i.data_type == onnx.TensorProto.INT8}
    assert int8 == {name + "_int8" for name in tables}
    assert not any(name in tables for node in shipped.node for name in node.input)     # no float table read


def test_the_build_needs_the_pages_onnxruntime_version(monkeypatch, tiny_models):
    import onnxruntime
    monkeypatch.setattr(onnxruntime, "__version__", "1.30.2")
    with pytest.raises(SpecError, match=r"onnxruntime 1\.31.*this environment has 1\.30\.2") as error:
        LiveModels._build(resolve(str(tiny_models["bert"])), None)
    assert "explorables[live]" in error.value.hint


def test_build_and_cache(tiny_bert, tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORABLES_MODEL_CACHE", str(tmp_path / "cache"))
    source = resolve(str(tiny_models["bert"]))
    made = []
    files = cache.files_for(source, lambda folder: (made.append(1), build(tiny_bert, folder)))
    again = cache.files_for(source, lambda folder: made.append(2))
    assert made == [1] and again == files
    manifest = json.loads(files["live.json"])
    assert manifest["n_layers"] == 2 and manifest["n_heads"] == 4 and manifest["max_tokens"] == 128
    assert manifest["files"]["model"]["bytes"] == len(files["model.onnx"])
    import onnx
    graph = onnx.load_from_string(files["model.onnx"]).graph
    assert [o.name for o in graph.output] == ["attentions", "queries", "keys", "pooled"]
    assert manifest["files"]["weights"]["bytes"] == len(files["weights.pack"]) and manifest["weights"]["file"] == WEIGHTS
    assert "level extended" in manifest["optimised"]
    vocab = files["vocab.txt"].decode().split("\n")[:-1]
    assert vocab == tiny_bert.tokenizer.convert_ids_to_tokens(list(range(len(vocab))))
    folder = tmp_path / "cache" / cache.entry_name(source)
    (folder / "vocab.txt").write_bytes(b"damaged")
    cache.files_for(source, lambda folder: (made.append(3), build(tiny_bert, folder)))
    assert made == [1, 3]


def test_causal_models_are_refused(tiny_models):
    with pytest.raises(LiveUnsupported, match="causal"):
        check_supported(load(resolve(str(tiny_models["gpt2"]))))


def _spec(body: str):
    return spec_from_block(textwrap.dedent(body), file="docs/page.md", line_offset=10, catalogue=Catalogue({}))


def test_which_blocks_can_be_live():
    encoder = {"model": {"label": "m", "causal": False}}
    assert why_not(_spec("model: minilm\ntext: hi\nviews: [head, neuron]\nlive: true\n"), encoder) is None
    assert "causal" in why_not(_spec("model: smollm2\ntext: hi\nviews: [head]\n"), {"model": {"label": "s", "causal": True}})
    assert why_not(_spec("model: minilm\npair: [a, b]\nviews: [head, saliency]\n"), encoder) is None
    assert "saliency" in why_not(_spec("model: minilm\npair: [a, b]\nviews: [saliency]\n").model_copy(update={"pair": None}), encoder)


def test_a_block_that_asks_and_cannot_is_placed_on_its_live_line():
    spec = _spec("model: minilm\ntext: a b\nviews: [factors]\nlive: true\n")
    live = LiveModels(baker=None)
    with pytest.raises(SpecError) as error:
        live.entry(spec, json.dumps({"model": {"label": "m", "causal": False}}).encode())
    assert error.value.field == "live" and error.value.line == 14 and "factors" in error.value.message
    # the site-wide switch skips such a block quietly; nothing ships without a live block
    site = LiveModels(baker=None, site_live=True)
    assert site.entry(spec.model_copy(update={"live": False}), b'{"model": {"causal": false}}') is None
    assert site.files() == []


def test_a_missing_onnx_package_is_a_clear_error(monkeypatch, tiny_models):
    import builtins
    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError("No module named 'onnx'"))
                        if name == "onnx" else real(name, *a, **k))
    with pytest.raises(SpecError, match=r"need the package onnx.*") as error:
        LiveModels._build(resolve(str(tiny_models["bert"])), None)
    assert "explorables[live]" in error.value.hint


def test_the_vendored_runtime_is_the_npm_package():
    files = dict(runtime_files())
    assert set(files) == {f"vendor/onnxruntime-web/{n}" for n in ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm.gz", "LICENSE")}
    wasm = gzip.decompress(files["vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm.gz"])
    assert wasm[:4] == b"\0asm"
    assert b"MIT License" in files["vendor/onnxruntime-web/LICENSE"]
    from pathlib import Path
    package = Path(__file__).resolve().parent.parent / "node_modules" / "onnxruntime-web"
    if not package.is_dir():
        pytest.skip("node_modules/onnxruntime-web is not installed (scripts/setup --test installs it)")
    assert json.loads((package / "package.json").read_text())["version"] == "1.31.1"
    assert (package / "dist" / "ort-wasm-simd-threaded.wasm").read_bytes() == wasm
    assert (package / "dist" / "ort.wasm.bundle.min.mjs").read_bytes() == files["vendor/onnxruntime-web/ort.wasm.bundle.min.mjs"]


def test_the_control_is_written_only_for_live_blocks_and_its_text_escaped():
    from generator.widget_html import render_widget

    payload = json.dumps({"schema_version": 1, "model": {"label": "m"}, "tokens": []}).encode()
    spec = _spec('model: minilm\ntext: "<b>x</b> & \\"y\\""\nviews: [head]\nlive: true\n')
    assert "explorable-live-view" not in render_widget(spec, payload)        # standalone files: no control
    html = render_widget(spec, payload, live="live-abc")
    assert '<explorable-live-view model="live-abc" text="&lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot;">' in html
    pair = _spec("model: minilm\npair: [one, '<i>two</i>']\nviews: [head]\nlive: true\n")
    assert 'text="one" text-b="&lt;i&gt;two&lt;/i&gt;"' in render_widget(pair, payload, live="live-abc")


def test_the_pages_start_graph_is_the_one_node_graph_it_claims():
    """live-run.js starts the runtime with a session of a graph written into it as base64: y = Identity(x), float32 [1]
    (checked here by onnx's checker and run by onnxruntime, not taken from the comment)."""
    import base64
    import re
    from pathlib import Path

    import onnx
    import onnxruntime

    source = (Path(__file__).resolve().parent.parent / "generator" / "assets" / "js" / "live-run.js").read_text()
    found = re.search(r'const START = "([A-Za-z0-9+/=]+)";', source)
    assert found, "live-run.js no longer writes START as base64"
    data = base64.b64decode(found.group(1))
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node] == ["Identity"] and not model.graph.initializer
    assert model.opset_import[0].version == 17
    x = np.array([3.5], np.float32)
    assert onnxruntime.InferenceSession(data).run(None, {"x": x})[0].tolist() == [3.5]
