"""Content-addressed bake cache: key -> payload bytes, with atomic writes and integrity checks.

An entry is one file: a header line with the payload's SHA-256 and length, then the payload. A truncated or altered
entry fails the check, is reported, deleted, and baked again.

Where the entries live is a store: a local folder (the default, `LocalStore`), or any fsspec URL such as
`s3://bucket/prefix` or `gs://bucket/prefix` (`generator/cache_remote.py`, imported only for such a URL, so a
normal build never imports fsspec). Both publish an entry whole or not at all: a reader sees the old entry, the new
one or none, never a part; two writers of one key each publish a whole, identical entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

from .errors import ExplorableError

log = logging.getLogger("mkdocs.plugins.explorables")

_MAGIC = "explorables-cache/1"
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class CacheError(ExplorableError):
    """The cache's store cannot be used (unreachable, no credentials, no bucket); the message names the setting."""


def is_url(location: str | Path) -> bool:
    """True for an fsspec URL (`s3://...`, `gs://...`, `memory://...`), false for a local folder (`file://` counts
    as a URL: fsspec's local filesystem)."""
    return isinstance(location, str) and bool(_URL.match(location))


def locate(base_dir: str | Path, location: str | Path) -> str:
    """The cache location a setting names: a URL as written, a folder relative to `base_dir` (the project folder)."""
    return str(location) if is_url(location) else str(Path(base_dir) / location)


# A temporary file of an entry's write older than this is left over from a killed process (a write takes seconds).
STALE_TEMP_SECONDS = 3600.0


class LocalStore:
    """Entries as files of a local folder; publish = write a temporary file beside the entry, fsync, rename."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def where(self, relative: str) -> Path:
        return self.folder / relative

    def read(self, relative: str) -> bytes | None:
        try:
            return self.where(relative).read_bytes()
        except FileNotFoundError:
            return None

    def first_line(self, relative: str) -> bytes | None:
        try:
            with self.where(relative).open("rb") as handle:
                return handle.readline()
        except OSError:
            return None

    def publish(self, relative: str, data: bytes) -> None:
        path = self.where(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, data)

    def delete(self, relative: str) -> None:
        self.where(relative).unlink(missing_ok=True)

    def listing(self, folder: str, suffix: str) -> list[str]:
        base = self.where(folder)
        return sorted(f"{folder}/{path.name}" for path in base.glob(f"*{suffix}")) if base.is_dir() else []

    def sweep(self, older_than: float = STALE_TEMP_SECONDS) -> int:
        """Delete the temporary files of writes that never finished (a process killed mid-write: `_atomic_write`
        removes its own otherwise), once older than `older_than` seconds, so that another process's write in
        progress is left alone. Returns how many were deleted."""
        limit, count = time.time() - older_than, 0
        for path in self.folder.glob("*/.*.tmp"):
            try:
                if path.stat().st_mtime < limit:
                    path.unlink()
                    count += 1
            except OSError:
                continue
        return count


class BakeCache:
    """The bake cache at `location`: a local folder, or an fsspec URL with `options` (fsspec storage options,
    e.g. `{"endpoint_url": ..., "key": ..., "secret": ...}` for S3; credentials otherwise come from the
    environment as the filesystem library reads them). Raises CacheError when a remote store cannot be reached."""

    def __init__(self, location: str | Path, options: dict[str, Any] | None = None):
        self.location = str(location)
        if is_url(self.location):
            from .cache_remote import FsspecStore
            self.store: Any = FsspecStore(self.location, options or {})
        else:
            self.store = LocalStore(location)
        self.used: set[str] = set()
        self._missed: dict[str, float] = {}   # key -> time of its cache miss, to record how long its bake took

    @property
    def remote(self) -> bool:
        return not isinstance(self.store, LocalStore)

    @staticmethod
    def relative(key: str) -> str:
        return f"{key[:2]}/{key}.json"

    def path(self, key: str) -> Path | str:
        """Where the entry lives: a Path in a local folder, a URL in a remote store."""
        return self.store.where(self.relative(key))

    def get(self, key: str) -> bytes | None:
        blob = self.store.read(self.relative(key))
        if blob is None:
            self._missed[key] = time.perf_counter()
            return None
        payload = _verified(blob)
        if payload is None:
            self._heal(key)
            self._missed[key] = time.perf_counter()
            return None
        self.used.add(key)
        return payload

    def has(self, key: str) -> bool:
        """Whether a sound entry is stored for `key` (reads and checks it; a damaged entry is said, as `get` says it,
        and deleted). Counts as neither a use nor a miss."""
        blob = self.store.read(self.relative(key))
        if blob is not None and _verified(blob) is None:
            self._heal(key)
            return False
        return blob is not None

    def _heal(self, key: str) -> None:
        """Say and delete `key`'s damaged entry; info, not a warning: the entry heals itself (it is baked again),
        so `mkdocs build --strict` must not fail on it."""
        log.info("explorables: cache entry %s is corrupted or truncated; baking it again", self.path(key))
        self.store.delete(self.relative(key))

    def put(self, key: str, payload: bytes, *, bake_seconds: float | None = None) -> None:
        meta = {"format": _MAGIC, "sha256": hashlib.sha256(payload).hexdigest(), "length": len(payload)}
        if bake_seconds is not None:
            meta["bake_seconds"] = round(bake_seconds, 3)
        elif key in self._missed:   # wall seconds from the miss to this put: the bake (model load included)
            meta["bake_seconds"] = round(time.perf_counter() - self._missed.pop(key), 3)
        header = json.dumps(meta).encode() + b"\n"
        # Published whole (LocalStore: temporary file + rename; FsspecStore: see cache_remote.py): readers never see
        # half an entry, and concurrent writers of the same key each replace it whole.
        self.store.publish(self.relative(key), header + payload)
        self.used.add(key)

    def bake_seconds(self, key: str) -> float | None:
        """Seconds the entry's bake took, as recorded when it was stored (None for entries that predate it)."""
        line = self.store.first_line(self.relative(key))
        try:
            meta = json.loads(line) if line else None
        except ValueError:
            return None
        value = meta.get("bake_seconds") if isinstance(meta, dict) else None
        return float(value) if isinstance(value, (int, float)) else None

    @staticmethod
    def _manifest(owner: str) -> str:
        return "owners/" + hashlib.sha256(owner.encode()).hexdigest()[:16] + ".json"

    def remember(self, owner: str) -> None:
        """Add the entries used since the last `used.clear()` to this owner's manifest, deleting nothing: for
        builds that may not have seen every block (`mkdocs serve` rebuilds, builds with errors), whose entries
        a later clean full build (`evict_stale`) evicts if no page uses them any more."""
        mine = self._manifest(owner)
        keys = set(_read_keys(self.store.read(mine))) | self.used
        self.store.publish(mine, json.dumps({"owner": owner, "keys": sorted(keys)}).encode())

    def evict_stale(self, owner: str) -> int:
        """Delete entries this owner (a site) used last time but no longer uses, unless another owner still does.
        Call it only at the end of a clean full build (every block baked, none failed): a block with a transient
        error is not in `used`, and its entry would go.

        Each owner's keys are kept in a manifest, so sites sharing one cache, and entries baked ahead by the CLI,
        are never evicted by somebody else's build. A local folder also loses the temporary files of writes that a
        killed process left (`LocalStore.sweep`). Returns how many entries were deleted.
        """
        mine = self._manifest(owner)
        previous = set(_read_keys(self.store.read(mine)))
        others: set[str] = set()
        for manifest in self.store.listing("owners", ".json"):
            if manifest != mine:
                others.update(_read_keys(self.store.read(manifest)))
        stale = previous - self.used - others
        for key in stale:
            self.store.delete(self.relative(key))
        if isinstance(self.store, LocalStore):
            self.store.sweep()
        self.store.publish(mine, json.dumps({"owner": owner, "keys": sorted(self.used)}).encode())
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


def _read_keys(blob: bytes | None) -> Iterable[str]:
    try:
        keys = json.loads(blob).get("keys", []) if blob else []
    except (ValueError, AttributeError):
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
