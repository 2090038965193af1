"""Spec -> payload bytes, through the cache. A cache hit touches neither torch nor transformers."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import threading
from pathlib import Path
from typing import Any, Iterator

from . import DATA_VERSION, SCHEMA_VERSION
from .cache import BakeCache
from .errors import ExplorableError, ModelLoadError, SpecError
from .methods import Needs
from .models.registry import ModelSource, resolve
from .payload import dumps
from .rules import check_methods, check_model
from .spec import SpecBase

log = logging.getLogger("mkdocs.plugins.explorables")

PACKAGE = Path(__file__).resolve().parent
# Modules that only present, route or store bakes: editing them must not throw the bake cache away. Every other
# module of the package (methods, capture, tokens, payload, models, spec) is part of the key, so a change to the
# numbers can never be served from a stale entry; forgetting a module here costs one rebake, never a wrong page.
PRESENTATION_MODULES = frozenset({"cache.py", "cli.py", "errors.py", "fences.py", "markdown_ext.py", "plugin.py",
                                  "widgets.py", "widget_html.py", "payload/parts.py"})
# Packages that only take finished payloads elsewhere (standalone files, experiment trackers) or ship files beside
# them (the live models of generator/live/).
PRESENTATION_PACKAGES = ("export/", "tracking/", "live/")


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
# caller's setting. 2: no more than nearly any machine has (no oversubscription), and threads gain a bake little
# (benchmarks/RESULTS.md: 1.2-1.5x between 1 thread and the default).
BAKE_THREADS = 2


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


class Baker:
    def __init__(self, cache_dir: str | Path = ".cache/explorables", base_dir: str | Path = "."):
        self.cache = BakeCache(cache_dir)
        self.base_dir = Path(base_dir)
        self.baked = 0            # bakes that ran a model (cache misses), for reports and tests
        self._memo: dict[str, bytes] = {}
        self._failures: dict[str, SpecError] = {}   # a spec that failed is not run again in this process
        self._lock = threading.Lock()

    def source(self, spec: SpecBase) -> ModelSource:
        try:
            return resolve(spec.model, base_dir=self.base_dir)
        except ModelLoadError as exc:
            raise spec.error("model", str(exc)) from None

    def key(self, spec: SpecBase) -> str:
        fingerprint = self.source(spec).fingerprint()
        parts = (DATA_VERSION, code_fingerprint(), fingerprint, spec.digest())
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def payload(self, spec: SpecBase) -> bytes:
        key = self.key(spec)
        with self._lock:
            if key in self._memo:
                self.cache.used.add(key)
                return self._memo[key]
            if key in self._failures:
                raise self._failures[key]
            data = self.cache.get(key)
            if data is None:
                try:
                    data = self._run(spec)
                except SpecError as error:
                    self._failures[key] = error
                    raise
                self.cache.put(key, data)
                self.baked += 1
            self._memo[key] = data
            return data

    def _compute(self, spec: SpecBase) -> bytes:
        """Run the model once for everything the spec's methods need, then each method on the capture, with torch
        at BAKE_THREADS threads (`fixed_threads`)."""
        with fixed_threads():
            return self._compute_now(spec)

    def _compute_now(self, spec: SpecBase) -> bytes:
        from .capture import run
        from .models.loading import POOL

        source = self.source(spec)
        try:
            loaded = POOL.get(source)
        except ModelLoadError as exc:
            raise spec.error("model", str(exc)) from None
        check_model(spec, loaded)
        methods = check_methods(spec, loaded, has_adapter=loaded.adapter is not None,
                                n_tokens=_token_count(spec, loaded))
        needs = Needs()
        for method in methods:
            needs |= method.needs_for(spec)
        log.info("explorables: baking %s on %s", spec.where(), source.label)
        capture = run(spec, loaded, needs)
        payload: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "model": loaded.info.describe(),
            "tokens": capture.tokens,
            "n_prompt": capture.n_prompt,
        }
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
