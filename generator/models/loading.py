"""Load a tokenizer and model for a ModelSource, ready to capture attention (eager, float32, eval mode)."""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import ModelLoadError
from . import weights_cache
from .adapters import Adapter, adapter_for
from .registry import ModelSource

log = logging.getLogger("mkdocs.plugins.explorables")


@dataclass
class LoadedModel:
    source: ModelSource
    tokenizer: Any
    model: Any
    config: Any
    adapter: Adapter | None
    causal: bool

    @property
    def architecture(self) -> str:
        return self.config.model_type

    @property
    def can_read_pairs(self) -> bool:
        return bool(self.adapter and self.adapter.pairs) or getattr(self.config, "type_vocab_size", 0) >= 2

    def describe(self) -> dict[str, Any]:
        heads, kv_heads = Adapter.head_counts(self.config)
        return {"name": self.source.name, "label": self.source.label, "architecture": self.architecture,
                "causal": self.causal, "n_layers": Adapter.n_layers(self.config), "n_heads": heads,
                "n_kv_heads": kv_heads}


def _is_causal(config: Any, adapter: Adapter | None) -> bool:
    if adapter is not None:
        return adapter.causal
    names = " ".join(getattr(config, "architectures", None) or [])
    return bool(getattr(config, "is_decoder", False)) or "CausalLM" in names or "LMHeadModel" in names


def load(source: ModelSource) -> LoadedModel:
    """Tokenizer and model (float32, eager attention, eval mode) for a source. A GGUF model is read from the
    de-quantised weights cache when it holds a sound entry, and stored there after loading otherwise
    (weights_cache.py). Raises ModelLoadError saying what to do."""
    cached = weights_cache.find(source, checksums=False) if source.gguf_file else None
    if cached is not None:
        with ThreadPoolExecutor(1) as pool:   # zlib's CRC releases the GIL: it overlaps the load
            checking = pool.submit(weights_cache.checksum_problem, cached, source)
            try:
                loaded, failure = _load(source, str(cached), {}), None
            except ModelLoadError as exc:
                loaded, failure = None, exc
            problem = checking.result()
        if loaded is not None and problem is None:
            return loaded
        weights_cache.discard(source, cached, problem or f"it could not be loaded: {failure}")
    kwargs: dict[str, Any] = {}
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    if source.revision:
        kwargs["revision"] = source.revision
    loaded = _load(source, source.path, kwargs)
    if source.gguf_file:
        weights_cache.store(source, loaded.model, loaded.tokenizer)
    return loaded


def _load(source: ModelSource, path: str, kwargs: dict[str, Any]) -> LoadedModel:
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(path, **kwargs)
        adapter = adapter_for(config.model_type)
        causal = _is_causal(config, adapter)
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model_class = AutoModelForCausalLM if causal else AutoModel
        model = model_class.from_pretrained(path, dtype=torch.float32, attn_implementation="eager", **kwargs)
    except (OSError, ValueError, ImportError) as exc:
        raise ModelLoadError(_explain_failure(source, exc)) from exc
    model.eval()
    return LoadedModel(source, tokenizer, model, model.config, adapter_for(model.config.model_type), causal)


def _explain_failure(source: ModelSource, exc: Exception) -> str:
    if source.kind != "hub":
        return f"could not load model '{source.name}' from {source.path}: {exc}"
    offline = os.environ.get("HF_HUB_OFFLINE") in {"1", "true", "TRUE", "yes"}
    revision = source.revision or "main"
    return (
        f"could not load '{source.path}' (revision {revision}) from the Hugging Face hub"
        f"{' (HF_HUB_OFFLINE is set)' if offline else ''}: {type(exc).__name__}: {str(exc).splitlines()[0]}. "
        "Either build where the hub is reachable (unset HF_HUB_OFFLINE), or fill the cache once with "
        f"`hf download {source.path} --revision {revision}` (huggingface_hub's CLI) and keep HF_HOME pointing at it, or "
        "save the model with save_pretrained to a folder and write `model: ./that/folder`.")


class ModelPool:
    """Loaded models by fingerprint. One pool lives for the whole process, so `mkdocs serve` loads each model once."""

    def __init__(self) -> None:
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, source: ModelSource) -> LoadedModel:
        key = source.fingerprint()
        with self._lock:
            if key not in self._models:
                log.info("explorables: loading model %s", source.label)
                self._models[key] = load(source)
            return self._models[key]

    def __len__(self) -> int:
        return len(self._models)


POOL = ModelPool()
