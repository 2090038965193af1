"""The de-quantised weights cache: a later cold start reads safetensors and gets the very same numbers; a damaged
entry is found, deleted and rebuilt."""

from __future__ import annotations

import json
import logging

import pytest

from generator.models import weights_cache
from generator.models.registry import ModelSource, resolve

TEXTS = ["The animal didn't cross the street because it was too tired.", "我爱北京天安门 🙂 pass\u200bword",
         "<|im_start|>user\nHi<|im_end|>\n"]


@pytest.fixture(scope="module")
def smollm2_twice(tmp_path_factory):
    """SmolLM2 loaded from its GGUF file into an empty cache, then again from the cache."""
    from generator.models.loading import load
    root = tmp_path_factory.mktemp("weights")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(weights_cache.ENV, str(root))
        source = resolve("smollm2")
        assert weights_cache.find(source) is None, "the cache starts empty"
        dequantised = load(source)
        folder = weights_cache.find(source)
        assert folder is not None and folder.parent == root
        cached = load(source)
    return source, root, folder, dequantised, cached


def test_cached_smollm2_gives_identical_weights_logits_and_tokens(smollm2_twice):
    import torch
    _, _, folder, dequantised, cached = smollm2_twice
    assert cached.model.config.name_or_path == str(folder), "the second load read the cache"
    first, second = dequantised.model.state_dict(), cached.model.state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert second["lm_head.weight"].data_ptr() == second["model.embed_tokens.weight"].data_ptr(), "still tied"
    for text in TEXTS:
        ids = dequantised.tokenizer(text, return_tensors="pt")["input_ids"]
        assert torch.equal(ids, cached.tokenizer(text, return_tensors="pt")["input_ids"])
        with torch.no_grad():
            assert torch.equal(dequantised.model(ids).logits, cached.model(ids).logits)
    assert dequantised.tokenizer.all_special_ids == cached.tokenizer.all_special_ids
    assert dequantised.tokenizer.chat_template == cached.tokenizer.chat_template
    assert dequantised.model.generation_config.to_dict() == cached.model.generation_config.to_dict()
    assert dequantised.info.describe() == cached.info.describe()
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())


def test_damaged_smollm2_entry_is_rebuilt_by_the_next_load(smollm2_twice, monkeypatch, caplog):
    from generator.models import loading
    source, root, folder, dequantised, _ = smollm2_twice
    monkeypatch.setenv(weights_cache.ENV, str(root))
    # The GGUF decoding itself is checked by the fixture's first load; here the second one (20-30 s) hands back that
    # load's result, after checking it was asked for the GGUF file, so the test times the cache's own work only.
    real_load, gguf_loads = loading._load, []

    def load_or_reuse(src, path, kwargs, *rest):
        if path != source.path:
            return real_load(src, path, kwargs, *rest)
        gguf_loads.append(kwargs.get("gguf_file"))
        return dequantised
    monkeypatch.setattr(loading, "_load", load_or_reuse)
    weights = folder / weights_cache.WEIGHTS
    with weights.open("r+b") as handle:   # flip one byte in the middle of the tensors, size unchanged
        handle.seek(weights.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0x40]))
    with caplog.at_level(logging.INFO, logger="mkdocs.plugins.explorables"):
        reloaded = loading.load(source)
    assert "damaged" in caplog.text and "checksum" in caplog.text
    assert gguf_loads == [source.gguf_file] and reloaded is dequantised, "read from the GGUF file again"
    assert weights_cache.find(source) == folder, "and stored again, sound"


# -- the cache's bookkeeping, on a tiny model (no GGUF needed) ---------------------------------------------------

@pytest.fixture
def tiny_entry(tiny_models, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    monkeypatch.setenv(weights_cache.ENV, str(tmp_path / "cache"))
    path = str(tiny_models["llama"])
    source = ModelSource("tiny", "folder", path, "tiny llama")
    model = AutoModelForCausalLM.from_pretrained(path)
    folder = weights_cache.store(source, model, AutoTokenizer.from_pretrained(path))
    assert folder is not None and weights_cache.find(source) == folder
    return source, folder


@pytest.mark.parametrize("damage, reason", [
    (lambda folder: (folder / weights_cache.WEIGHTS).write_bytes((folder / weights_cache.WEIGHTS).read_bytes()[:-9]),
     "bytes"),
    (lambda folder: (folder / "tokenizer.json").unlink(), "missing"),
    (lambda folder: (folder / weights_cache.MANIFEST).unlink(), "never finished"),
    (lambda folder: (folder / weights_cache.MANIFEST).write_text("{"), "unreadable"),
    (lambda folder: (folder / "config.json").write_text((folder / "config.json").read_text().replace("2", "3")),
     "checksum"),
])
def test_every_kind_of_damage_is_detected_and_the_entry_deleted(tiny_entry, caplog, damage, reason):
    source, folder = tiny_entry
    damage(folder)
    with caplog.at_level(logging.INFO, logger="mkdocs.plugins.explorables"):
        assert weights_cache.find(source) is None
    assert reason in caplog.text
    # said, but as info: the entry heals itself, so a strict build must not fail on it
    assert [record.levelname for record in caplog.records if "damaged" in record.getMessage()] == ["INFO"]
    assert not folder.exists()


def test_entries_are_keyed_by_fingerprint_and_library_versions(tiny_entry, monkeypatch):
    source, folder = tiny_entry
    other = ModelSource("tiny", "folder", source.path + "-moved", "tiny llama")
    monkeypatch.setattr(ModelSource, "fingerprint", lambda self: "folder:" + self.path)
    assert weights_cache.entry_folder(other) != weights_cache.entry_folder(source)
    monkeypatch.setattr(weights_cache, "_versions", lambda: {"transformers": "0.0", "gguf": "0.0"})
    assert weights_cache.entry_folder(source) != folder


def test_the_cache_location_is_configurable(monkeypatch, tmp_path):
    monkeypatch.setenv(weights_cache.ENV, str(tmp_path / "here"))
    assert weights_cache.cache_root() == tmp_path / "here"
    monkeypatch.setenv(weights_cache.ENV, "off")
    assert weights_cache.cache_root() is None
    assert weights_cache.store(resolve("minilm"), None, None) is None
    monkeypatch.delenv(weights_cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights_cache.cache_root() == tmp_path / "xdg" / "explorables" / "models"


def test_an_unwritable_cache_only_warns(tiny_models, tmp_path, monkeypatch, caplog):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(weights_cache.ENV, str(blocker / "cache"))
    path = str(tiny_models["llama"])
    with caplog.at_level(logging.WARNING, logger="mkdocs.plugins.explorables"):
        result = weights_cache.store(ModelSource("tiny", "folder", path, "tiny llama"),
                                     AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path))
    assert result is None and weights_cache.ENV in caplog.text
