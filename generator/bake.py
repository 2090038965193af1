"""Spec -> payload bytes, through the cache. A cache hit touches neither torch nor transformers."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any, Iterator

from . import DATA_VERSION, SCHEMA_VERSION
from .cache import BakeCache
from .precision import Precision, site_defaults
from .precision import resolve as resolve_precision
from .errors import ExplorableError, ModelLoadError, SpecError
from .methods import Needs
from .models.registry import ModelSource, resolve
from .payload import dumps
from .rules import check_rules
from .spec import SpecBase

log = logging.getLogger("mkdocs.plugins.explorables")

PACKAGE = Path(__file__).resolve().parent
# Modules that only present, route or store bakes: editing them must not throw the bake cache away. Every other
# module of the package (methods, capture, tokens, payload, models, spec) is part of the key, so a change to the
# numbers can never be served from a stale entry; forgetting a module here costs one rebake, never a wrong page.
PRESENTATION_MODULES = frozenset({"cache.py", "cache_remote.py", "cli.py", "errors.py", "fences.py", "markdown_ext.py",
                                  "plugin.py", "widgets.py", "widget_html.py", "payload/parts.py"})
# Packages that only take finished payloads elsewhere (standalone files, experiment trackers) or ship files beside
# them (the live models of generator/live/).
PRESENTATION_PACKAGES = ("export/", "tracking/", "live/", "distributed/")


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 over the source of the modules that compute payloads (read as files: no import, no torch)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in PRESENTATION_MODULES or relative.startswith(PRESENTATION_PACKAGES):
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# Torch's intra-op threads during a bake. A parallel reduction splits its sum by thread count, so the same spec
# baked at 1 and at 2 threads differed in the last printed digit of faithfulness scalars: one cache key, two
# contents, depending on the machine. A fixed count makes the bytes independent of the machine's cores and of the
# caller's setting. 1: a machine's cores go to whole bakes at once instead (generator/distributed/local.py), each
# at one thread, so a bake can use every core of a larger machine, where one bake's fixed 2 threads never could; on
# 2 cores two 1-thread bakes match one 2-thread bake (a cold site build in 81-83 s against 83-86 s:
# benchmarks/RESULTS.md, session 8). A bake alone still runs its batches of edited runs and its logit-lens tiles in
# `streams()` threads.
BAKE_THREADS = 1
# Threads one bake may run at once for work whose numbers do not depend on it (batches of edited runs,
# `ModelRun._batches`; logit-lens tiles): this process's cores, at most 2; BAKE_THREADS while other bakes share the
# cores (`sharing_cores`, `share_cores`).
_STREAMS: list[int] = []


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:      # not on Linux
        return os.cpu_count() or 1


def streams() -> int:
    """How many threads (each at one torch thread) one bake may use at once: BAKE_THREADS while other bakes share
    the cores (`sharing_cores`, `share_cores`), else this process's usable cores, at most 2."""
    return _STREAMS[-1] if _STREAMS else max(1, min(2, cores()))


def share_cores() -> None:
    """From now on, every bake of this process shares the cores with other processes' bakes (a worker process:
    generator/distributed/worker.py): BAKE_THREADS threads each (`streams()`)."""
    _STREAMS[:] = [BAKE_THREADS]


@contextlib.contextmanager
def sharing_cores() -> Iterator[None]:
    """Within the block, bakes of this process use BAKE_THREADS threads each (`streams()`): other bakes run on the
    other cores (generator/distributed/local.py)."""
    _STREAMS.append(BAKE_THREADS)
    try:
        yield
    finally:
        _STREAMS.pop()


@contextlib.contextmanager
def fixed_threads(count: int = BAKE_THREADS) -> Iterator[None]:
    """Run the block with torch.set_num_threads(count), then give the caller's count back."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class NotBakedError(SpecError):
    """A block whose payload is not in the cache, in a build that only reads (`Baker(read_only=True)`)."""


class Baker:
    """Spec -> payload bytes through the bake cache at `cache_dir` (a folder, or an fsspec URL with
    `cache_options`, see cache.py). `device` / `dtype`: the site's setting (generator/precision.py). `read_only`:
    a missing payload is a NotBakedError placed at the block instead of a bake (a site baked ahead, e.g. by
    `explorables bake --executor ray`). Raises CacheError when a remote cache cannot be reached, ValueError for a
    device or dtype outside the allowed ones."""

    def __init__(self, cache_dir: str | Path = ".cache/explorables", base_dir: str | Path = ".", *,
                 cache_options: dict | None = None, device: str | None = None, dtype: str | None = None,
                 read_only: bool = False):
        self.cache = BakeCache(cache_dir, cache_options)
        self.cache_options = dict(cache_options or {})
        self.base_dir = Path(base_dir)
        self.device, self.dtype = site_defaults(device, dtype)
        self.read_only = read_only
        self.baked = 0            # bakes that ran a model (cache misses), for reports and tests
        self._memo: dict[str, bytes] = {}
        self._failures: dict[tuple[str, str], SpecError] = {}   # (key, block) -> its error: not run again
        self._lock = threading.Lock()

    def source(self, spec: SpecBase) -> ModelSource:
        try:
            return resolve(spec.model, base_dir=self.base_dir)
        except ModelLoadError as exc:
            raise spec.error("model", str(exc)) from None

    def precision(self, spec: SpecBase) -> Precision:
        """The block's device and dtype over the site's, `auto` resolved (no torch import)."""
        return resolve_precision(spec, self.device, self.dtype)

    def key(self, spec: SpecBase) -> str:
        fingerprint = self.source(spec).fingerprint()
        parts = (DATA_VERSION, code_fingerprint(), fingerprint, spec.digest())
        extra = self.precision(spec).key_part()     # None for cpu / float32: the keys made before stay valid
        return hashlib.sha256("\0".join(parts + ((extra,) if extra else ())).encode()).hexdigest()

    def payload(self, spec: SpecBase) -> bytes:
        key = self.key(spec)
        with self._lock:
            if (key, spec.where()) in self._failures:
                raise self._failures[(key, spec.where())]
            if key in self._memo:
                self._check_views(spec)
                self.cache.used.add(key)
                return self._memo[key]
            data = self.cache.get(key)
            if data is not None:
                self._check_views(spec)
            if data is None:
                if self.read_only:
                    raise self.not_baked(spec)
                try:
                    data = self._run(spec)
                except SpecError as error:
                    self._failures[(key, spec.where())] = error   # placed at this block: another block with
                    raise                                          # the same key gets its own error
                self.cache.put(key, data)
                self.baked += 1
            self._memo[key] = data
            return data

    def at_hand(self, key: str) -> bool:
        """Whether `key`'s payload is baked: in this baker's memory, or read now from the cache into it, so that
        `payload` does not read it again (a damaged entry is said and deleted, as `BakeCache.get` does)."""
        with self._lock:
            if key not in self._memo:
                data = self.cache.get(key)
                if data is None:
                    return False
                self._memo[key] = data
            return True

    def _check_views(self, spec: SpecBase) -> None:
        """The model-dependent rules of the spec's views, for a payload found baked: blocks that differ only in
        their views share a payload (its key), but a view the model cannot show must still be this block's error.
        Reads the model's files only (no torch); a model whose files cannot be read here is not checked again."""
        from .models.adapters import adapter_for
        from .models.facts import model_facts

        try:
            facts = model_facts(self.source(spec))
        except Exception:  # noqa: BLE001: the bake that made the payload checked it; nothing more can be said
            return
        check_rules(spec, facts, has_adapter=adapter_for(facts.info.architecture) is not None)

    def not_baked(self, spec: SpecBase) -> NotBakedError:
        block = spec.error("model", "")
        return NotBakedError(f"this block has no baked payload in the cache {self.cache.location}, and this build "
                             "only reads the cache (plugin option bake: false, or EXPLORABLES_BAKE=0)",
                             file=block.file, line=block.line,
                             hint="bake the site first (`explorables bake`, or `explorables bake --executor ray`) "
                                  "with the same cache, code and models, or let the build bake (bake: true)")

    def _compute(self, spec: SpecBase) -> bytes:
        """Run the model once for everything the spec's methods need, then each method on the capture, with torch
        at BAKE_THREADS threads (`fixed_threads`)."""
        with fixed_threads():
            return self._compute_now(spec)

    def _compute_now(self, spec: SpecBase) -> bytes:
        from .capture import run
        from .models.loading import POOL
        from .precheck import check_against_files
        from .precision import notes, require

        source = self.source(spec)
        precision = self.precision(spec)
        # Before anything loads: every rule the model's files can settle (no torch), so a block that breaks one
        # fails at once instead of loading its model first on every build (what `explorables check` reports).
        check_against_files(spec, source, precision=precision, lenient=True)
        require(spec, precision)
        try:
            loaded = POOL.get(source, device=precision.device, dtype=precision.dtype)
        except ModelLoadError as exc:
            raise spec.error("model", str(exc)) from None
        methods = check_rules(spec, loaded, has_adapter=loaded.adapter is not None,
                              n_tokens=_token_count(spec, loaded))
        needs = Needs()
        for method in methods:
            needs |= method.needs_for(spec)
        log.info("explorables: baking %s on %s%s", spec.where(), source.label,
                 "" if precision.default else f" ({precision.device}, {precision.dtype})")
        warnings = notes(precision, methods)
        for note in warnings:
            log.warning("explorables: %s: %s", spec.where(), note)
        capture = run(spec, loaded, needs)
        payload: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "model": loaded.info.describe(),
            "tokens": capture.tokens,
            "n_prompt": capture.n_prompt,
        }
        if not precision.default:     # written only off the defaults, so default payloads keep their bytes
            payload["precision"] = {**precision.describe(), "notes": warnings}
        if loaded.info.encoder_decoder:
            payload["target_tokens"] = capture.target_tokens
        if spec.generate:
            generated = (len(capture.target_ids) - 1 if loaded.info.encoder_decoder
                         else len(capture.ids) - capture.n_prompt)
            payload["generation"] = {"requested": spec.generate, "generated": generated,
                                     "stop_token": capture.stopped_early}
            if capture.stopped_early is not None:
                log.info("explorables: %s: the model stopped after %d of %d tokens to generate (it wrote %r, "
                         "its end token)", spec.where(), generated, spec.generate, capture.stopped_early)
        for method in methods:
            payload[method.name] = method.section(spec, capture)
        return dumps(payload)

    def _run(self, spec: SpecBase) -> bytes:
        """`_compute`, with every failure that is not already an author's error turned into one placed at the
        block (its views), so that one block that cannot bake gives an error box and never stops a build."""
        try:
            return self._compute(spec)
        except ExplorableError:
            raise
        except Exception as exc:  # noqa: BLE001: any library failure on a model family is reported at the block
            log.debug("explorables: %s failed", spec.where(), exc_info=True)
            field = "views" if "views" in spec.model_fields_set else "model"
            shown = ", ".join(spec.shown_views)
            raise spec.error(field, f"the bake of {shown} on model '{spec.model}' failed: {type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else ''}",
                             hint="this model family may not be supported by these views (see the support table in "
                                  "docs/writing.md); show fewer views, or report it with this message") from exc


def _token_count(spec: SpecBase, loaded: Any) -> int:
    """The most tokens the run can have, counted before it runs: the text's (or the pair's, read as one sequence)
    tokens plus `generate`, as `explorables check` counts them."""
    tokenizer = loaded.tokenizer
    encoded = tokenizer(spec.pair[0], spec.pair[1]) if spec.pair is not None else tokenizer(spec.text)
    return len(encoded["input_ids"]) + spec.generate
