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
from pathlib import Path

log = logging.getLogger("mkdocs.plugins.explorables")

_MAGIC = "explorables-cache/1"


class BakeCache:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.used: set[str] = set()

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> bytes | None:
        path = self.path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        payload = _verified(blob)
        if payload is None:
            log.warning("explorables: cache entry %s is corrupted or truncated; baking it again", path)
            path.unlink(missing_ok=True)
            return None
        self.used.add(key)
        return payload

    def put(self, key: str, payload: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = json.dumps({"format": _MAGIC, "sha256": hashlib.sha256(payload).hexdigest(),
                             "length": len(payload)}).encode() + b"\n"
        # Write to a temporary file in the same folder, then rename: readers never see half an entry, and
        # concurrent writers of the same key each replace it whole.
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(header + payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self.used.add(key)

    def evict_unused(self) -> int:
        """Delete entries that this build did not use; returns how many."""
        removed = 0
        if not self.folder.is_dir():
            return 0
        for path in self.folder.glob("*/*.json"):
            if path.stem not in self.used:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


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
