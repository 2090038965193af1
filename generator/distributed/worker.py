"""One process's side of a bake spread over processes (`ray_bake.py`'s actors, `local.py`'s child processes): it
rebuilds each spec it is sent, checks that it computes the driver's cache key, bakes it with the serial bake's own
path and writes the payload to the shared cache itself; only the key, the size, the seconds (or the block's errors)
go back."""

from __future__ import annotations

import os
import time
from typing import Any

from ..bake import Baker, share_cores
from ..errors import ExplorableError, SpecError


class BakeWorker:
    """A worker process's baker (a Ray actor's body, or a local child process's): one process, its models loaded
    once each (through the process's model pool)."""

    def __init__(self, cache: str, cache_options: dict, base_dir: str, device: str | None, dtype: str | None):
        share_cores()       # other workers bake beside this one
        self.baker = Baker(cache, base_dir, cache_options=cache_options, device=device, dtype=dtype)

    def pid(self) -> int:
        return os.getpid()

    def bake(self, key: str, item: dict[str, Any]) -> dict[str, Any]:
        """Bake one spec into the cache; returns {key, bytes, seconds} or {key, error: fields of a SpecError}."""
        from .plan import rebuild

        started = time.perf_counter()
        try:
            spec = rebuild(item)
            mine = self.baker.key(spec)
            if mine != key:
                raise spec.error("model", "this worker computes another cache key for the block than the driver "
                                          "(other code, models or settings on the worker)",
                                 hint="install the same version of explorables and the same models on every node")
            if self.baker.cache.has(key):      # baked meanwhile (a retried task, or another site's bake)
                return {"key": key, "bytes": 0, "seconds": 0.0, "reused": True}
            payload = self.baker._run(spec)     # the serial bake's own path (fixed torch threads, placed errors)
            seconds = time.perf_counter() - started
            self.baker.cache.put(key, payload, bake_seconds=seconds)
        except SpecError as error:      # each error of the block, to be raised together again (SpecError.combine)
            return {"key": key, "errors": [{"message": one.message, "file": one.file, "line": one.line,
                                            "field": one.field, "hint": one.hint} for one in error.errors]}
        except ExplorableError as error:
            return {"key": key, "errors": [{"message": str(error), "file": item["file"], "line": None,
                                            "field": None, "hint": None}]}
        return {"key": key, "bytes": len(payload), "seconds": round(seconds, 3)}
