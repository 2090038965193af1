"""The exported live models, cached by the model's fingerprint beside the de-quantised weights cache.

An entry is a folder `live-<hash>` under `weights_cache.cache_root()` (`$EXPLORABLES_MODEL_CACHE`, else
`~/.cache/explorables/models`), the hash over the model's fingerprint (registry.py), this format's version, the source of
export.py and the versions of the packages that shape the file (torch, transformers, onnx, onnxruntime). It holds the files of
`export.build` and a manifest (written last) with each file's size and CRC-32; an incomplete or damaged entry is
rebuilt. Entries are written to a temporary folder and renamed into place. A hit reads files only: no torch.
With the cache off (`$EXPLORABLES_MODEL_CACHE=off`) the files are built into a temporary folder every build.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Any, Callable

from ..models.registry import ModelSource
from ..models.weights_cache import cache_root
from .export import FORMAT      # in the key: a new layout of the files makes new entries (and new asset folders)

log = logging.getLogger("mkdocs.plugins.explorables")

MANIFEST = "explorables-manifest.json"
FILES = ("live.json", "model.onnx", "vocab.txt", "weights.pack")


def identity(source: ModelSource) -> dict[str, Any]:
    versions = {}
    for package in ("torch", "transformers", "onnx", "onnxruntime"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "absent"
    code = hashlib.sha256((Path(__file__).parent / "export.py").read_bytes()).hexdigest()[:16]   # how it is made
    return {"format": FORMAT, "fingerprint": source.fingerprint(), "export": code, **versions}


def entry_name(source: ModelSource) -> str:
    """`live-<24 hex digits>`: the entry's folder name, and the folder the site ships it under."""
    text = json.dumps(identity(source), sort_keys=True).encode()
    return "live-" + hashlib.sha256(text).hexdigest()[:24]


def read(folder: Path, source: ModelSource) -> dict[str, bytes] | None:
    """The entry's files {name: bytes} if whole and undamaged, else None."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("identity") != identity(source):
        return None
    files = {}
    for name in FILES:
        try:
            data = (folder / name).read_bytes()
        except OSError:
            return None
        expected = manifest.get("files", {}).get(name, {})
        if len(data) != expected.get("size") or zlib.crc32(data) != expected.get("crc32"):
            return None
        files[name] = data
    return files


def files_for(source: ModelSource, make: Callable[[Path], None]) -> dict[str, bytes]:
    """The live files of `source`: from the cache, or made by `make(folder)` (export.build on the loaded model)
    and stored. Returns {file name: bytes}."""
    root = cache_root()
    name = entry_name(source)
    if root is not None:
        found = read(root / name, source)
        if found is not None:
            return found
    with tempfile.TemporaryDirectory(prefix="explorables-live-") as work:
        temp = Path(work) / name
        make(temp)
        files = {file: (temp / file).read_bytes() for file in FILES}
        if root is None:
            return files
        manifest = {"identity": identity(source),
                    "files": {file: {"size": len(data), "crc32": zlib.crc32(data)} for file, data in files.items()}}
        (temp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        try:
            root.mkdir(parents=True, exist_ok=True)
            target = root / name
            if target.exists():
                shutil.rmtree(target)        # a damaged entry (read() refused it)
            shutil.move(str(temp), str(target))
        except OSError as exc:
            log.warning("explorables: could not cache the live model of %s in %s (%s)", source.label, root, exc)
        return files
