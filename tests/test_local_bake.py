"""Bakes on this machine's cores (generator/distributed/local.py): a child process bakes into the cache the bytes a
serial bake in this process writes, its errors are the block's errors as the serial bake raises them, its log lines
reach the build's log, and a build whose specs are all baked starts no child."""

from __future__ import annotations

import logging
import multiprocessing

import pytest

from generator.bake import Baker
from generator.distributed import local
from generator.spec import spec_from_data


def _specs(tiny_models) -> list:
    gpt2, llama, bert = (str(tiny_models[name]) for name in ("gpt2", "llama", "bert"))
    return [
        spec_from_data({"model": gpt2, "text": "The cat sat on the mat because it was tired.",
                        "views": ["head", "model", "saliency"], "generate": 1}, file="docs/a.md"),
        spec_from_data({"model": llama, "text": "One two three four five", "views": ["head", "layers"]},
                       file="docs/a.md"),
        spec_from_data({"model": llama, "text": "Paris is in France and Rome is in", "views": ["knockout"], "generate": 1},
                       file="docs/b.md"),
        spec_from_data({"model": bert, "pair": ["A man plays a guitar.", "Someone makes music."],
                        "views": ["head", "explanations"]}, file="docs/b.md"),
    ]


def test_a_child_process_writes_the_bytes_of_a_serial_bake(tmp_path, tiny_models):
    """Every spec baked by a child process only (the build's process takes none) equals the serial bake here."""
    specs = _specs(tiny_models)
    parallel = Baker(tmp_path / "parallel")
    queue = local._Queue(local.pending(specs, parallel))
    assert len(queue.jobs) == len(specs)
    local._child_driver(parallel, queue)
    assert not queue.failures, {where: str(error) for (_, where), error in queue.failures.items()}
    assert sorted(queue.baked) == sorted(spec.where() for spec in specs)
    assert parallel.baked == 0 and all(parallel.cache.has(parallel.key(spec)) for spec in specs)

    serial = Baker(tmp_path / "serial")
    for spec in specs:
        assert parallel.payload(spec) == serial.payload(spec), spec.where()
    assert parallel.baked == 0 and serial.baked == len(specs), "the parallel baker read every payload from the cache"
    assert not multiprocessing.active_children(), "the child process ended"


def test_bake_here_shares_the_specs_and_counts_every_bake(tmp_path, tiny_models, caplog, monkeypatch):
    monkeypatch.setattr(local, "START_AFTER", 0.0)     # the child starts at once (a tiny bake is over in seconds)
    specs = _specs(tiny_models) * 2            # each key once in the queue
    baker = Baker(tmp_path / "cache")
    with caplog.at_level(logging.INFO, logger="mkdocs.plugins.explorables"):
        baked = local.bake_here(specs, baker, workers=2)
    assert baker.baked == 4, "each distinct spec baked once, by this process or the child"
    assert sorted(baked) == sorted(spec.where() for spec in specs[:4])
    assert all(baker.cache.has(baker.key(spec)) for spec in specs)
    for where in baked:          # every "baking ..." line, the child's too, is logged here
        assert any(f"baking {where}" in record.getMessage() for record in caplog.records)
    assert not local.pending(specs, baker), "nothing is left to bake"
    assert not multiprocessing.active_children()


def test_a_childs_error_is_the_blocks_error_and_is_not_baked_again(tmp_path, tiny_models):
    """A block that fails in a child raises, from the build's baker, the serial bake's error at the same place."""
    bad = spec_from_data({"model": str(tiny_models["gpt2"]), "text": "Short text here.", "views": ["neuron"],
                          "neuron": {"layers": [5]}}, file="docs/bad.md")
    bad._lines = {"neuron": 7, "model": 3}
    serial = Baker(tmp_path / "serial")
    with pytest.raises(Exception) as expected:
        serial.payload(bad)

    parallel = Baker(tmp_path / "parallel")
    queue = local._Queue(local.pending([bad], parallel))
    local._child_driver(parallel, queue)
    assert list(queue.failures) == [(parallel.key(bad), bad.where())] and not queue.baked
    parallel._failures.update(queue.failures)
    with pytest.raises(type(expected.value)) as raised:
        parallel.payload(bad)
    assert str(raised.value) == str(expected.value)
    assert parallel.baked == 0 and not parallel.cache.has(parallel.key(bad))


def test_nothing_to_bake_starts_no_child(tmp_path, tiny_models, monkeypatch):
    specs = _specs(tiny_models)
    baker = Baker(tmp_path / "cache")
    for spec in specs:
        baker.payload(spec)
    started = []
    monkeypatch.setattr(local, "_child_driver", lambda *args: started.append(args))
    assert local.bake_here(specs, Baker(tmp_path / "cache"), workers=2) == [] and not started
    fresh = Baker(tmp_path / "other")
    assert local.bake_here(specs[:local.FEWEST - 1], fresh, workers=2) == [] and not started, \
        "fewer specs than FEWEST are left to the serial loop"
    assert local.bake_here(specs, Baker(tmp_path / "ro", read_only=True), workers=2) == [] and not started


def test_ctrl_c_stops_the_children_at_once_and_quietly(tmp_path, tiny_models, caplog, capfd, monkeypatch):
    """Ctrl-C in a terminal interrupts the build and its children alike. The build raises KeyboardInterrupt as a
    serial bake does; the child neither prints a traceback of its own nor is its spec said to be 'baked here
    instead', and no child is left running."""
    import os
    import signal
    import threading
    import time

    monkeypatch.setattr(local, "START_AFTER", 0.0)
    specs = _specs(tiny_models)
    baker = Baker(tmp_path / "cache")
    sent = threading.Event()
    original = local.record
    monkeypatch.setattr(local, "record", lambda spec: (sent.set(), original(spec))[1])

    def interrupted(spec):
        assert sent.wait(120), "the child never got a spec"
        for child in multiprocessing.active_children():     # the terminal's SIGINT reaches every process
            os.kill(child.pid, signal.SIGINT)
        time.sleep(0.5)
        raise KeyboardInterrupt

    monkeypatch.setattr(baker, "payload", interrupted)
    with caplog.at_level(logging.INFO, logger="mkdocs.plugins.explorables"), pytest.raises(KeyboardInterrupt):
        local.bake_here(specs, baker, workers=2)
    assert not multiprocessing.active_children(), "the child ended with the build"
    assert not [record.getMessage() for record in caplog.records if "instead" in record.getMessage()]
    err = capfd.readouterr().err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert not list((tmp_path / "cache").rglob("*.tmp")), "nothing half-written is left in the cache"


SCRIPT = """
import os, sys
with open(sys.argv[1], "a") as runs:
    runs.write(f"{os.getpid()}\\n")
from generator.bake import Baker
from generator.distributed import local
from generator.spec import spec_from_data
local.START_AFTER = 0.0
texts = ["One two three four", "Five six seven", "Eight nine ten eleven", "Twelve thirteen"]
specs = [spec_from_data({"model": sys.argv[2], "text": text, "views": ["head"]}, file="docs/a.md") for text in texts]
local.bake_here(specs, Baker(sys.argv[3]), workers=2)
print("BAKED", Baker(sys.argv[3]).cache.has(Baker(sys.argv[3]).key(specs[-1])))
"""


def test_a_build_script_without_a_main_guard_runs_once(tmp_path, tiny_models):
    """A script that bakes (or builds the site) at its top level, without `if __name__ == "__main__":`, is not run
    again in the child process (spawn's way of finding the parent's functions): it built the whole site a second
    time there, into the same folder."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "build_it.py"
    script.write_text(SCRIPT, encoding="utf-8")
    runs = tmp_path / "runs.txt"
    repo = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, str(script), str(runs), str(tiny_models["gpt2"]), str(tmp_path / "c")],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(repo)})
    assert result.returncode == 0, result.stderr
    assert "BAKED True" in result.stdout
    assert len(runs.read_text().split()) == 1, "the script ran once, in the build's process only"
    assert "Traceback" not in result.stderr, result.stderr


def test_a_bake_shorter_than_a_childs_start_starts_no_child(tmp_path, tiny_models, monkeypatch):
    """Four tiny specs bake here in a few seconds, less than START_AFTER: no child is started (one took the build's
    cores for its own start, and 6 MiniLM blocks took twice as long as in the build's process alone)."""
    import time

    specs = _specs(tiny_models)
    started = []
    monkeypatch.setattr(local, "_child_driver", lambda *args: started.append(args))
    baker = Baker(tmp_path / "cache")
    began = time.perf_counter()
    baked = local.bake_here(specs, baker, workers=2)
    seconds = time.perf_counter() - began
    assert not started, "no child process"
    assert sorted(baked) == sorted(spec.where() for spec in specs) and baker.baked == 4
    assert seconds < local.START_AFTER, "the premise: a bake shorter than START_AFTER"


def test_a_payload_found_by_the_pre_bake_is_not_read_again(tmp_path, tiny_models, monkeypatch):
    """`pending` reads each baked payload once, into the baker's memory; the build's `payload` then serves it from
    there, with the same bytes."""
    specs = _specs(tiny_models)
    first = Baker(tmp_path / "cache")
    baked = [first.payload(spec) for spec in specs]
    warm = Baker(tmp_path / "cache")
    reads = []
    read = warm.cache.get
    monkeypatch.setattr(warm.cache, "get", lambda key: reads.append(key) or read(key))
    assert local.pending(specs, warm) == []
    assert sorted(reads) == sorted(warm.key(spec) for spec in specs)
    assert [warm.payload(spec) for spec in specs] == baked
    assert len(reads) == len(specs) and warm.baked == 0, "each entry was read once"
