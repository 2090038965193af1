"""Content-addressed bake cache: key -> payload bytes, with atomic writes and integrity checks.

An entry is one file: a header line with the payload's SHA-256 and length, then the payload. A truncated or altered
entry fails the check, is reported, deleted, and baked again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger("mkdocs.plugins.explorables")

_MAGIC = "explorables-cache/1"


class BakeCache:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.used: set[str] = set()
        self._missed: dict[str, float] = {}   # key -> time of its cache miss, to record how long its bake took

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> bytes | None:
        path = self.path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            self._missed[key] = time.perf_counter()
            return None
        payload = _verified(blob)
        if payload is None:
            # info, not warning: the entry heals itself, so `mkdocs build --strict` must not fail on it
            log.info("explorables: cache entry %s is corrupted or truncated; baking it again", path)
            path.unlink(missing_ok=True)
            self._missed[key] = time.perf_counter()
            return None
        self.used.add(key)
        return payload

    def put(self, key: str, payload: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": _MAGIC, "sha256": hashlib.sha256(payload).hexdigest(), "length": len(payload)}
        if key in self._missed:   # wall seconds from the miss to this put: the bake (model load included)
            meta["bake_seconds"] = round(time.perf_counter() - self._missed.pop(key), 3)
        header = json.dumps(meta).encode() + b"\n"
        # Write to a temporary file in the same folder, then rename: readers never see half an entry, and
        # concurrent writers of the same key each replace it whole.
        _atomic_write(path, header + payload)
        self.used.add(key)

    def bake_seconds(self, key: str) -> float | None:
        """Seconds the entry's bake took, as recorded when it was stored (None for entries that predate it)."""
        try:
            with self.path(key).open("rb") as handle:
                meta = json.loads(handle.readline())
        except (OSError, ValueError):
            return None
        value = meta.get("bake_seconds") if isinstance(meta, dict) else None
        return float(value) if isinstance(value, (int, float)) else None

    def _manifest(self, owner: str) -> Path:
        manifests = self.folder / "owners"
        manifests.mkdir(parents=True, exist_ok=True)
        return manifests / (hashlib.sha256(owner.encode()).hexdigest()[:16] + ".json")

    def remember(self, owner: str) -> None:
        """Add the entries used since the last `used.clear()` to this owner's manifest, deleting nothing: for
        builds that may not have seen every block (`mkdocs serve` rebuilds, builds with errors), whose entries
        a later clean full build (`evict_stale`) evicts if no page uses them any more."""
        mine = self._manifest(owner)
        keys = set(_read_keys(mine)) | self.used
        _atomic_write(mine, json.dumps({"owner": owner, "keys": sorted(keys)}).encode())

    def evict_stale(self, owner: str) -> int:
        """Delete entries this owner (a site) used last time but no longer uses, unless another owner still does.
        Call it only at the end of a clean full build (every block baked, none failed): a block with a transient
        error is not in `used`, and its entry would go.

        Each owner's keys are kept in a manifest, so sites sharing one cache, and entries baked ahead by the CLI,
        are never evicted by somebody else's build. Returns how many entries were deleted.
        """
        mine = self._manifest(owner)
        manifests = mine.parent
        previous = set(_read_keys(mine))
        others: set[str] = set()
        for manifest in manifests.glob("*.json"):
            if manifest != mine:
                others.update(_read_keys(manifest))
        stale = previous - self.used - others
        for key in stale:
            self.path(key).unlink(missing_ok=True)
        _atomic_write(mine, json.dumps({"owner": owner, "keys": sorted(self.used)}).encode())
        return len(stale)


def _atomic_write(path: Path, data: bytes) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem[:8]}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _read_keys(manifest: Path) -> list[str]:
    try:
        keys = json.loads(manifest.read_text()).get("keys", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [key for key in keys if isinstance(key, str)]


def _verified(blob: bytes) -> bytes | None:
    header, newline, payload = blob.partition(b"\n")
    if not newline:
        return None
    try:
        meta = json.loads(header)
    except ValueError:
        return None
    if not isinstance(meta, dict) or meta.get("format") != _MAGIC or meta.get("length") != len(payload):
        return None
    if hashlib.sha256(payload).hexdigest() != meta.get("sha256"):
        return None
    return payload
