"""device and dtype: the defaults keep every cache key and payload byte; other settings are in the key; bfloat16
is within documented tolerances of float32 and says where it is not exact; settings a machine or a method cannot
honour are errors placed at the setting. CUDA tests are marked `cuda` and skipped without a GPU
(benchmarks/devices.py compares CPU and CUDA where one exists)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from generator import DATA_VERSION
from generator.bake import Baker, code_fingerprint
from generator.errors import SpecError
from generator.payload import decode_array
from generator.spec import spec_from_block, spec_from_data, Catalogue


def cuda_available() -> bool:
    import torch
    return torch.cuda.is_available()


needs_cuda = pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs a CUDA GPU")


def block(body: str):
    return spec_from_block(textwrap.dedent(body), file="docs/page.md", line_offset=10, catalogue=Catalogue({}))


def test_the_defaults_keep_the_key_of_before(tmp_path, tiny_models):
    spec = spec_from_data({"model": str(tiny_models["gpt2"]), "text": "a small test"}, file="t")
    baker = Baker(tmp_path)
    before = hashlib.sha256("\0".join((DATA_VERSION, code_fingerprint(), baker.source(spec).fingerprint(),
                                       spec.digest())).encode()).hexdigest()   # the key as it was made before
    assert baker.key(spec) == before
    explicit = spec_from_data({"model": str(tiny_models["gpt2"]), "text": "a small test", "device": "cpu",
                               "dtype": "float32"}, file="t")
    assert baker.key(explicit) == before and explicit.digest() == spec.digest()
    assert Baker(tmp_path, device="cpu", dtype="float32").key(spec) == before
    others = {Baker(tmp_path, dtype="bfloat16").key(spec), Baker(tmp_path, device="cuda").key(spec),
              Baker(tmp_path, device="cuda", dtype="bfloat16").key(spec)}
    assert len(others) == 3 and before not in others
    bf16 = spec_from_data({"model": str(tiny_models["gpt2"]), "text": "a small test", "dtype": "bfloat16"}, file="t")
    assert baker.key(bf16) == Baker(tmp_path, dtype="bfloat16").key(spec), "a block's setting is the site's"


def test_the_site_setting_comes_from_the_environment_and_is_checked(tmp_path, tiny_models, monkeypatch):
    spec = spec_from_data({"model": str(tiny_models["gpt2"]), "text": "a small test"}, file="t")
    monkeypatch.setenv("EXPLORABLES_DTYPE", "bfloat16")
    assert Baker(tmp_path).key(spec) == Baker(tmp_path, dtype="bfloat16").key(spec)
    monkeypatch.setenv("EXPLORABLES_DEVICE", "tpu")
    with pytest.raises(ValueError, match="EXPLORABLES_DEVICE"):
        Baker(tmp_path)


def test_auto_is_resolved_without_importing_torch():
    code = ("import sys\nfrom generator.precision import cuda_present\nprint(cuda_present(), 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    present, imported = result.stdout.split()
    assert imported == "False"
    assert present == str(cuda_available())


def test_an_unknown_device_or_dtype_in_a_block_is_placed():
    with pytest.raises(SpecError) as caught:
        block("""\
            model: minilm
            text: a text
            dtype: float16
            """)
    assert caught.value.line == 13 and caught.value.field == "dtype" and "bfloat16" in str(caught.value)


@pytest.mark.skipif("__import__('torch').cuda.is_available()", reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_placed_at_the_setting_and_nothing_is_cached(tmp_path, tiny_models):
    spec = block(f"""\
        model: {tiny_models["gpt2"]}
        text: a text
        device: cuda
        """)
    with pytest.raises(SpecError) as caught:
        Baker(tmp_path / "cache").payload(spec)
    assert caught.value.field == "device" and caught.value.line == 13
    assert "no usable CUDA GPU" in caught.value.message and "device: cpu" in caught.value.hint
    site = block(f"""\
        model: {tiny_models["gpt2"]}
        text: a text
        """)
    with pytest.raises(SpecError) as from_site:
        Baker(tmp_path / "cache", device="cuda").payload(site)
    assert "plugin option 'device'" in str(from_site.value) and from_site.value.line == 11
    assert not list((tmp_path / "cache").rglob("*.json")), "nothing written to the cache"


def test_a_dtype_the_lens_cannot_use_is_placed_and_nothing_is_cached(tmp_path, tiny_models):
    spec = block(f"""\
        model: {tiny_models["llama"]}
        text: one two three
        views: [layers]
        dtype: bfloat16
        """)
    with pytest.raises(SpecError) as caught:
        Baker(tmp_path / "cache").payload(spec)
    assert caught.value.field == "dtype" and caught.value.line == 14 and "float32" in caught.value.hint
    assert not list((tmp_path / "cache").rglob("*.json"))


@pytest.mark.slow
def test_bfloat16_is_within_tolerance_of_float32_and_says_where_it_is_not_exact(tmp_path, caplog):
    """Tolerances (docs/writing.md, "Baking at scale"): attention weights within 0.03, saliency shares within
    0.01; integrated gradients' completeness gap grows but stays below 0.05 on MiniLM."""
    texts = ({"model": "minilm", "text": "The animal didn't cross the street because it was too tired.",
              "views": ["head"]},
             {"model": "minilm", "pair": ["A man is playing a guitar.", "Someone is performing music."],
              "views": ["saliency"]})
    for fields in texts:
        spec = spec_from_data(fields, file="t")
        exact = json.loads(Baker(tmp_path / "f32").payload(spec))
        rough = json.loads(Baker(tmp_path / "bf16", dtype="bfloat16").payload(spec))
        assert "precision" not in exact, "a default payload has no precision section (its bytes stay)"
        assert rough["precision"]["dtype"] == "bfloat16" and rough["precision"]["device"] == "cpu"
        if "attention" in exact:
            a, b = decode_array(exact["attention"]["values"]), decode_array(rough["attention"]["values"])
            assert 0 < np.abs(a - b).max() < 0.03
            assert rough["precision"]["notes"] == []
        else:
            for name, array in exact["saliency"]["methods"].items():
                a, b = decode_array(array), decode_array(rough["saliency"]["methods"][name])
                assert np.abs(a - b).max() < 0.01, name
            assert rough["saliency"]["ig_gap"] < 0.05
            assert rough["saliency"]["ig_gap"] > 10 * exact["saliency"]["ig_gap"], "the note has a reason"
            assert any("saliency" in note and "bfloat16" in note for note in rough["precision"]["notes"])
            assert "gradients taken in bfloat16" in caplog.text


@pytest.mark.cuda
@needs_cuda
@pytest.mark.slow
def test_cuda_equals_cpu_within_tolerances(tmp_path):
    """Attention rows within 1e-3, lens top-1 equal where the CPU's top two are 1e-3 apart, ranks equal away
    from ties, saliency shares within 1 % relative error (L1)."""
    specs = [{"model": "smollm2", "text": "The animal didn't cross the street because it was too tired.",
              "generate": 3, "views": ["head", "layers", "saliency"]}]
    for fields in specs:
        spec = spec_from_data(fields, file="t")
        cpu = json.loads(Baker(tmp_path / "cpu").payload(spec))
        gpu = json.loads(Baker(tmp_path / "gpu", device="cuda").payload(spec))
        assert gpu["precision"]["device"] == "cuda"
        a, b = decode_array(cpu["attention"]["values"]), decode_array(gpu["attention"]["values"])
        assert np.abs(a - b).max() < 1e-3 + 2 / 511
        top_a, top_b = decode_array(cpu["lens"]["top"]), decode_array(gpu["lens"]["top"])
        probs = decode_array(cpu["lens"]["top_probs"])
        clear = (probs[..., 0] - probs[..., 1]) > 1e-3
        assert (top_a[..., 0][clear] == top_b[..., 0][clear]).all()
        for name, array in cpu["saliency"]["methods"].items():
            x, y = decode_array(array), decode_array(gpu["saliency"]["methods"][name])
            assert np.abs(x - y).sum() / np.abs(x).sum() < 0.01, name
