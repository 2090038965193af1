"""Bake a build's specs on this machine's cores at once: the build's own process bakes whole specs one after another
and, for each further core, a child process does the same, all taking the next spec from one queue, each at one
torch thread (`generator.bake.BAKE_THREADS`). Children write their payloads to the bake cache themselves
(`worker.BakeWorker`, as Ray's actors do); the build then reads every payload from the cache as if it had baked it.

Why processes and not threads: a bake runs many small operations, and the interpreter's lock would serialise
their Python between threads; a process costs its start instead (importing torch, loading its models: ~5 s of
one core), overlapped with the build's own bakes. Children start with `spawn` (a fork of a process whose torch
already ran threads can hang), only once the build has baked for START_AFTER seconds with specs still left (a
child's start also slows the build's own on a machine of few cores, so a short bake is quicker alone), and get the
next spec only once they are ready: when the build's process empties the queue first, a child still starting is
stopped.

What travels: each spec as `plan.record` (its fields as written and where), and back its key, size and seconds,
or the block's errors (kept by the build's baker, so the block is not baked again only to fail again), and the
child's log lines of the bake (`mkdocs.plugins.explorables`: "baking ...", warnings), logged again here so that a
build shows and counts (`--strict`) what a serial bake would. A child that dies mid-bake leaves its spec to the
build, which bakes it itself, and an entry is published whole or not at all (cache.py).

Every payload's bytes are those of a serial bake (tests/test_local_bake.py): each bake runs at BAKE_THREADS
threads wherever it runs, and what a bake alone spreads over two threads (`streams()`) gives the same numbers
either way.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any, Iterator

from ..bake import BAKE_THREADS, Baker, cores, sharing_cores
from ..errors import ExplorableError, SpecError
from ..spec import SpecBase
from .plan import record

log = logging.getLogger("mkdocs.plugins.explorables")

# At most this many bakes at once: each process holds its own copy of every model it loads (SmolLM2: ~0.6 GB).
MOST = 4
# Fewer specs to bake than this: the build's process bakes them alone (a child's start, ~5 s of a core, would
# cost more than it saves on a small bake).
FEWEST = 4
# Children start only once the build has baked this long (seconds) and specs are still left. A child costs ~5 s of
# a core to start (PyTorch, then its models), taken from the build's own start on a machine of few cores: at once,
# 6 MiniLM blocks took 10-11 s on 2 cores against 5 s in the build's process alone, the child's one spec included
# (trial8). A bake that ends sooner never starts one; a long one loses at most this much of the children's time.
START_AFTER = 10.0
_READY = "ready"
_MAIN = threading.Lock()


def pending(specs: list[SpecBase], baker: Baker) -> list[tuple[str, SpecBase]]:
    """(key, spec) of each spec still to bake, once per key, in the given order: not in the cache, not already
    baked or failed in this process, on the CPU (a GPU bake stays in the build's process). Specs that cannot even
    be keyed are left out (the build reports them at their page). A payload found in the cache is kept in
    `baker`'s memory (`Baker.at_hand`), so the build does not read it again. Reads files only: no torch."""
    jobs: list[tuple[str, SpecBase]] = []
    seen: set[str] = set()
    for spec in specs:
        try:
            key = baker.key(spec)
            cpu = baker.precision(spec).device == "cpu"
        except ExplorableError:
            continue
        if key in seen or not cpu or (key, spec.where()) in baker._failures:
            continue
        seen.add(key)
        if not baker.at_hand(key):
            jobs.append((key, spec))
    return jobs


def bake_here(specs: list[SpecBase], baker: Baker, *, workers: int | None = None) -> list[str]:
    """Bake the specs `baker`'s cache lacks, up to `workers` at once (default: this machine's cores / BAKE_THREADS,
    at most MOST): this process and `workers - 1` child processes, started once this process has baked for
    START_AFTER seconds. Returns where() of each spec baked (here or in a child; each counts in `baker.baked`). Does
    nothing with fewer than FEWEST specs to bake, with one worker, or with a read-only baker: the caller's serial loop
    then bakes what is left, as it does after this in any case (reading from the cache what was baked here). Errors
    of blocks are not raised here: they are kept by `baker` and raised by its `payload` at the block."""
    if baker.read_only:
        return []
    queue = _Queue(pending(specs, baker))
    count = min(workers or min(max(1, cores() // BAKE_THREADS), MOST), len(queue.jobs))
    if count < 2 or len(queue.jobs) < FEWEST:
        return []
    here: list[str] = []
    children = [threading.Thread(target=_start_later, args=(baker, queue), daemon=True,
                                 name=f"explorables-bake-{index}") for index in range(1, count)]
    for thread in children:
        thread.start()
    try:
        with sharing_cores():
            while (job := queue.take()) is not None:
                before = baker.baked
                try:
                    baker.payload(job[1])
                except ExplorableError:
                    pass        # kept by the baker (`_failures`), raised again when its page asks for it
                if baker.baked > before:
                    here.append(job[1].where())
    except BaseException:       # Ctrl-C, or an error of the build itself: the children stop now, mid-spec
        queue.stop()
        for process in list(queue.processes):
            if process.is_alive():
                process.terminate()     # (the child leaves quietly: `_child`); nothing partial enters the cache
        raise
    finally:
        for thread in children:
            thread.join()
        with baker._lock:       # (held by `payload` while this process bakes: the children's results wait here)
            baker._failures.update(queue.failures)
            baker.baked += len(queue.baked)
    return here + queue.baked


class _Queue:
    """The specs left to bake, shared by the build's process and the threads that drive the children."""

    def __init__(self, jobs: list[tuple[str, SpecBase]]):
        self.jobs = deque(jobs)
        self.baked: list[str] = []                  # where() of each spec a child baked
        self.failures: dict[tuple[str, str], SpecError] = {}    # a child's errors, as `Baker._failures` keeps them
        self.lock = threading.Lock()
        self.stopped = False                        # the build was interrupted: no spec is handed back to it
        self.processes: list[Any] = []              # the children started
        self.done = threading.Event()               # set when no spec is left to hand out

    def take(self) -> tuple[str, SpecBase] | None:
        with self.lock:
            if self.jobs:
                return self.jobs.popleft()
            self.done.set()
            return None

    def empty(self) -> bool:
        with self.lock:
            return not self.jobs

    def stop(self) -> None:
        with self.lock:
            self.jobs.clear()
            self.stopped = True
            self.done.set()


def _settings(baker: Baker) -> tuple[Any, ...]:
    """What a child needs to make the same baker (BakeWorker's arguments)."""
    cache = baker.cache.location if baker.cache.remote else str(Path(baker.cache.location).resolve())
    return cache, baker.cache_options, str(baker.base_dir.resolve()), baker.device, baker.dtype


def _start_later(baker: Baker, queue: _Queue) -> None:
    """`_child_driver` once START_AFTER seconds have passed with specs still left to bake (else nothing)."""
    if not queue.done.wait(START_AFTER) and not queue.empty():
        _child_driver(baker, queue)


def _child_driver(baker: Baker, queue: _Queue) -> None:
    """Start one child process, then feed it specs from `queue` until none is left; its results go into `baker`."""
    context = multiprocessing.get_context("spawn")
    mine, theirs = context.Pipe()
    process = context.Process(target=_child, args=(theirs, _settings(baker)), daemon=True)
    with _main_left_out():
        process.start()
    with queue.lock:
        queue.processes.append(process)
    theirs.close()
    ready = False
    try:
        while not mine.poll(0.05):          # still importing torch: give up when the build's process is done
            if not process.is_alive() or queue.empty():
                return
        if mine.recv() != _READY:
            return
        ready = True
        while (job := queue.take()) is not None:
            key, spec = job
            mine.send((key, record(spec)))
            try:
                result = mine.recv()
            except (EOFError, OSError):     # the child died: the build bakes this spec itself
                if queue.stopped:           # (stopped by the build itself: it is interrupted)
                    return
                log.info("explorables: a bake process stopped while baking %s; baking it here instead",
                         spec.where())
                return
            _collect(spec, key, result, queue)
    finally:
        if ready and process.is_alive() and not queue.stopped:
            try:
                mine.send(None)
            except OSError:
                pass
            process.join(10)
        if process.is_alive():
            process.terminate()
            process.join(5)
        if process.is_alive():
            process.kill()
            process.join()
        mine.close()


@contextlib.contextmanager
def _main_left_out() -> Iterator[None]:
    """While a child starts, the build's main module says neither its file nor its name. `spawn` runs the parent's
    main script (or module) again in each child, as `__mp_main__`, for functions pickled from it; a script that
    builds the site without `if __name__ == "__main__":` (`build(load_config(...))` at its top level) then built
    the whole site a second time in the child, into the same site folder. A child runs only `_child` of this module
    and needs nothing of the parent's main module."""
    main = sys.modules.get("__main__")
    with _MAIN:
        if main is None:
            yield
            return
        saved = {name: vars(main)[name] for name in ("__file__", "__spec__") if name in vars(main)}
        main.__spec__ = None
        vars(main).pop("__file__", None)
        try:
            yield
        finally:
            vars(main).pop("__spec__", None)
            vars(main).update(saved)


def _collect(spec: SpecBase, key: str, result: dict[str, Any], queue: _Queue) -> None:
    """A child's answer for one spec: its log lines logged here, its errors or its place kept in `queue`."""
    for level, message in result.get("log", ()):
        log.log(level, "%s", message)
    with queue.lock:
        if "errors" in result:
            queue.failures[(key, spec.where())] = SpecError.combine([SpecError(**fields)
                                                                     for fields in result["errors"]])
        elif not result.get("reused"):
            queue.baked.append(spec.where())


class _Lines(logging.Handler):
    """Keeps (level, message) of each record, for the parent to log again."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, record.getMessage()))


def _child(conn, settings: tuple[Any, ...]) -> None:
    """A child process: bake each (key, record) received, answer with BakeWorker's result and the bake's log lines;
    end at None or when the parent is gone. Ctrl-C, which the terminal sends to the build and its children alike,
    is the build's to handle: it stops the children itself (SIGTERM, see `bake_here`), which end quietly, after
    unwinding (a cache entry being written is then removed whole, cache.py)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    from .worker import BakeWorker

    lines = _Lines()
    logger = logging.getLogger("mkdocs.plugins.explorables")
    logger.setLevel(logging.INFO)
    logger.addHandler(lines)
    logger.propagate = False
    worker = BakeWorker(*settings)
    conn.send(_READY)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        lines.lines = []
        result = worker.bake(*job)
        result["log"] = lines.lines
        conn.send(result)
