"""On-disk cache of de-quantised GGUF models, so a cold start reads float32 safetensors instead of de-quantising.

Loading SmolLM2 from its Q4_1 GGUF file means reading the GGUF metadata for the config, building the tokenizer
from the GGUF vocabulary and de-quantising every tensor: 17 s on an idle 2-core machine, more under load, at every
cold `mkdocs build`, `mkdocs serve` start or CLI run. After the first load the model is saved here (weights as
safetensors, config, generation config, tokenizer) and later loads read that folder (benchmarks/RESULTS.md has the
times). The numbers are the de-quantised ones, bit for bit: nothing is converted on the way.

Where: `$EXPLORABLES_MODEL_CACHE` if set (`off` disables the cache), else `$XDG_CACHE_HOME/explorables/models`, else
`~/.cache/explorables/models`. One folder per entry, named by a hash of the model's fingerprint (registry.py), the
transformers and gguf versions (which do the de-quantising) and this format's version.

Integrity: a manifest, written last, lists every file with its size and CRC-32 (zlib). Every load checks them all
(the checksums on a second thread while the model loads, the model being dropped if they fail); an entry that is
incomplete, truncated or altered is reported, deleted and rebuilt from the GGUF file. CRC-32 rather than SHA-256:
it catches truncation and flipped bits (what a crash, a full disk or a partly restored CI cache do) at about
twice the speed, and the folder is no less trusted than the virtualenv the code runs from.
Entries are written to a temporary folder and renamed into place, so readers never see half an entry.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Any

from .registry import ModelSource

log = logging.getLogger("mkdocs.plugins.explorables")

FORMAT = "explorables-weights/1"
ENV = "EXPLORABLES_MODEL_CACHE"
MANIFEST = "explorables-manifest.json"
WEIGHTS = "model.safetensors"
_DISABLED = {"off", "0", "false", "no", "none"}


def cache_root() -> Path | None:
    """The cache folder (not created here), or None when `$EXPLORABLES_MODEL_CACHE` is `off`."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in _DISABLED:
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
    return Path(base) / "explorables" / "models"


def _versions() -> dict[str, str]:
    versions = {}
    for package in ("transformers", "gguf"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "absent"
    return versions


def entry_identity(source: ModelSource) -> dict[str, Any]:
    """What an entry was made from; its hash names the entry's folder."""
    return {"format": FORMAT, "fingerprint": source.fingerprint(), "gguf_file": source.gguf_file, **_versions()}


def entry_folder(source: ModelSource) -> Path | None:
    root = cache_root()
    if root is None:
        return None
    identity = json.dumps(entry_identity(source), sort_keys=True).encode()
    return root / hashlib.sha256(identity).hexdigest()[:32]


def _crc32(path: Path) -> int:
    crc = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 24), b""):
            crc = zlib.crc32(chunk, crc)
    return crc


def find(source: ModelSource, *, checksums: bool = True) -> Path | None:
    """The folder of a complete, undamaged entry for `source`, or None. A damaged entry is deleted (with a
    warning saying why), so the caller rebuilds it. checksums=False checks the manifest, the identity and every
    file's size only; the caller must then run checksum_problem() before trusting the entry (loading.py runs it
    while the model loads)."""
    folder = entry_folder(source)
    if folder is None or not folder.is_dir():
        return None
    problem = _check(folder, entry_identity(source), checksums=checksums)
    if problem is None:
        return folder
    discard(source, folder, problem)
    return None


def checksum_problem(folder: Path, source: ModelSource) -> str | None:
    """None if every file of the entry matches its CRC-32 in the manifest, else what does not."""
    return _check(folder, entry_identity(source), checksums=True)


def files_problem(folder: Path, names: tuple[str, ...]) -> str | None:
    """None if each file of `names` in the entry at `folder` matches its size and CRC-32 in the manifest, else what
    does not: for a reader of a few small files (`facts.model_facts` reads config.json and tokenizer.json), which
    need not checksum the weights."""
    try:
        files = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("files") or {}
    except (OSError, ValueError) as exc:
        return f"unreadable manifest ({exc})"
    for name in names:
        if not isinstance(files.get(name), dict):
            return f"the manifest does not list {name}"
        problem = _file_problem(folder, name, files[name], checksums=True)
        if problem is not None:
            return problem
    return None


def discard(source: ModelSource, folder: Path, problem: str) -> None:
    """Report a damaged entry and delete it. Info, not a warning: the entry is rebuilt, with the same numbers, so
    `mkdocs build --strict` must not fail on it."""
    log.info("explorables: the cached weights of %s in %s are damaged (%s); rebuilding them from %s",
                source.label, folder, problem, source.gguf_file or source.path)
    shutil.rmtree(folder, ignore_errors=True)


def _check(folder: Path, identity: dict[str, Any], *, checksums: bool) -> str | None:
    """None if the entry is whole, else what is wrong with it."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no manifest: the entry was never finished"
    except (OSError, ValueError) as exc:
        return f"unreadable manifest ({exc})"
    if manifest.get("identity") != identity:
        return "the manifest belongs to another model or version"
    files = manifest.get("files")
    if not isinstance(files, dict) or WEIGHTS not in files:
        return "the manifest lists no weights"
    for name, expected in files.items():
        problem = _file_problem(folder, name, expected, checksums=checksums)
        if problem is not None:
            return problem
    return None


def _file_problem(folder: Path, name: str, expected: dict[str, Any], *, checksums: bool) -> str | None:
    """None if file `name` of the entry has the manifest's size (and, with `checksums`, its CRC-32), else what
    differs."""
    path = folder / name
    try:
        size = path.stat().st_size
    except OSError:
        return f"{name} is missing"
    if size != expected.get("size"):
        return f"{name} has {size} bytes, the manifest says {expected.get('size')}"
    if checksums and _crc32(path) != expected.get("crc32"):
        return f"{name} does not match its checksum"
    return None


def store(source: ModelSource, model: Any, tokenizer: Any) -> Path | None:
    """Save a loaded model and tokenizer as an entry for `source`; returns its folder, or None if the cache is off
    or could not be written (a warning says why; the build goes on with the model in memory)."""
    folder = entry_folder(source)
    if folder is None:
        return None
    from safetensors.torch import save_model

    temp = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder.parent))
        # save_model stores tied tensors (SmolLM2's embedding and unembedding) once, as save_pretrained would;
        # save_pretrained itself refuses a model loaded from GGUF.
        save_model(model, str(temp / WEIGHTS), metadata={"format": "pt"})
        config = copy.deepcopy(model.config)
        if hasattr(config, "quantization_config"):   # the saved weights are plain float32
            del config.quantization_config
        config.save_pretrained(temp)
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.save_pretrained(temp)
        tokenizer.save_pretrained(temp)
        files = {path.name: {"size": path.stat().st_size, "crc32": _crc32(path)}
                 for path in sorted(temp.iterdir()) if path.is_file()}
        (temp / MANIFEST).write_text(json.dumps({"identity": entry_identity(source), "files": files}, indent=2,
                                                sort_keys=True), encoding="utf-8")
        try:
            temp.rename(folder)
        except OSError:
            if find(source) is None:   # not another process's finished entry: a real failure
                raise
            shutil.rmtree(temp, ignore_errors=True)
        temp = None
        return folder
    except OSError as exc:
        log.warning("explorables: could not cache the weights of %s in %s (%s); the next cold start will "
                    "de-quantise them again. Set %s to a writable folder, or to 'off'.", source.label,
                    folder, exc, ENV)
        return None
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
