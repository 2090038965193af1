"""The bake cache: integrity checks catch damage, writes are atomic, damaged entries are baked again."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from generator.bake import Baker
from generator.cache import BakeCache
from generator.spec import spec_from_data


def test_round_trip_and_miss(tmp_path):
    cache = BakeCache(tmp_path)
    assert cache.get("ab" * 32) is None
    cache.put("ab" * 32, b'{"x": 1}')
    assert cache.get("ab" * 32) == b'{"x": 1}'


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip", "empty"])
def test_damaged_entries_are_detected_and_removed(tmp_path, damage, caplog):
    cache = BakeCache(tmp_path)
    key = "cd" * 32
    cache.put(key, b'{"payload": "' + b"x" * 1000 + b'"}')
    path = cache.path(key)
    blob = path.read_bytes()
    path.write_bytes({"truncate": blob[:-100], "garbage": os.urandom(300),
                      "flip": blob[:-10] + b"y" + blob[-9:], "empty": b""}[damage])
    caplog.set_level("INFO", logger="mkdocs.plugins.explorables")
    assert cache.get(key) is None
    assert not path.exists()
    assert [record.levelname for record in caplog.records if "corrupted" in record.getMessage()] == ["INFO"]


def _writer(folder, key, payload, rounds):
    cache = BakeCache(folder)
    for _ in range(rounds):
        cache.put(key, payload)


def _reader(folder, key, rounds, queue):
    cache = BakeCache(folder)
    seen_bad = 0
    for _ in range(rounds):
        data = cache.get(key)
        if data is not None and data not in (b"A" * 50_000, b"B" * 50_000):
            seen_bad += 1
    queue.put(seen_bad)


def test_concurrent_writers_never_expose_a_partial_entry(tmp_path):
    key = "ef" * 32
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    procs = [context.Process(target=_writer, args=(tmp_path, key, b"A" * 50_000, 150)),
             context.Process(target=_writer, args=(tmp_path, key, b"B" * 50_000, 150)),
             context.Process(target=_reader, args=(tmp_path, key, 400, queue))]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert queue.get(timeout=5) == 0
    assert BakeCache(tmp_path).get(key) in (b"A" * 50_000, b"B" * 50_000)
    assert not [p for p in (tmp_path / key[:2]).iterdir() if p.suffix == ".tmp"], "no temporary files left"


def test_a_corrupted_entry_is_baked_again(tmp_path, tiny_models):
    spec = spec_from_data({"model": str(tiny_models["gpt2"]), "text": "a small test"}, file="t")
    first = Baker(tmp_path)
    payload = first.payload(spec)
    assert first.baked == 1
    again = Baker(tmp_path)
    assert again.payload(spec) == payload and again.baked == 0, "a warm cache is used"
    path = again.cache.path(again.key(spec))
    path.write_bytes(path.read_bytes()[:200])
    third = Baker(tmp_path)
    assert third.payload(spec) == payload and third.baked == 1


def test_the_key_ignores_presentation_but_not_content(tmp_path, tiny_models):
    baker = Baker(tmp_path)
    base = {"model": str(tiny_models["gpt2"]), "text": "a small test"}
    key = baker.key(spec_from_data(base, file="t"))
    assert baker.key(spec_from_data(base | {"title": "T", "caption": "C"}, file="t")) == key
    assert baker.key(spec_from_data(base | {"text": "another"}, file="t")) != key
    assert baker.key(spec_from_data(base | {"generate": 1}, file="t")) != key


def test_the_key_follows_the_weights_of_a_local_folder(tmp_path, tiny_models):
    import shutil
    folder = tmp_path / "copy"
    shutil.copytree(tiny_models["gpt2"], folder)
    spec = spec_from_data({"model": str(folder), "text": "a"}, file="t")
    before = Baker(tmp_path / "c").key(spec)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert Baker(tmp_path / "c").key(spec) != before


def test_the_key_follows_the_code_that_computes_numbers(tmp_path, tiny_models, monkeypatch):
    """Editing a method's source invalidates every key; editing the plugin (presentation) does not."""
    import shutil

    import generator.bake as bake
    package = tmp_path / "generator"
    shutil.copytree(bake.PACKAGE, package, ignore=shutil.ignore_patterns("assets", "__pycache__"))
    monkeypatch.setattr(bake, "PACKAGE", package)
    spec = spec_from_data({"model": str(tiny_models["gpt2"]), "text": "a"}, file="t")

    def key_now() -> str:
        bake.code_fingerprint.cache_clear()
        return Baker(tmp_path / "c").key(spec)

    original = key_now()
    with (package / "plugin.py").open("a") as source:
        source.write("\n# a presentation-only edit\n")
    assert key_now() == original
    with (package / "methods" / "saliency" / "normalize.py").open("a") as source:
        source.write("\n# a change to how scores are computed\n")
    assert key_now() != original
    bake.code_fingerprint.cache_clear()


def test_a_clean_build_sweeps_the_temporary_files_a_killed_writer_left(tmp_path):
    """A process killed mid-write (a child stopped with SIGKILL) leaves its temporary file beside the entries; the
    end of a clean full build deletes it once it is an hour old, and leaves a younger one (a write in progress)."""
    import os
    import time

    from generator.cache import BakeCache

    cache = BakeCache(tmp_path)
    cache.put("ab" * 32, b'{"x": 1}')
    cache.get("ab" * 32)
    folder = tmp_path / "ab"
    old, young = folder / ".abababab-old.tmp", folder / ".abababab-young.tmp"
    for path in (old, young):
        path.write_bytes(b'{"format"')
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    cache.evict_stale("site")
    assert not old.exists() and young.exists()
    assert cache.get("ab" * 32) is not None, "the entry itself stays"
