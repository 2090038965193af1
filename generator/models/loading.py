"""Load a tokenizer and model for a ModelSource, ready to capture attention (eager, float32, eval mode)."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from ..errors import ModelLoadError
from .adapters import Adapter, adapter_for
from .registry import ModelSource

log = logging.getLogger("mkdocs.plugins.explorables")


@dataclass(frozen=True)
class ModelInfo:
    """What a page and a method may know about a model: names and sizes, computed once at load. `describe()` is the
    payload's "model" object."""

    name: str              # as the spec wrote it (alias, hub id, folder)
    label: str             # for readers, e.g. "SmolLM2-135M-Instruct (Q4_1)"
    architecture: str      # the config's model_type, e.g. "llama"
    causal: bool
    n_layers: int
    n_heads: int           # query heads
    n_kv_heads: int        # key/value heads (fewer than n_heads under grouped-query attention)
    encoder_decoder: bool = False   # T5, BART, Marian...: n_layers and n_heads are the encoder's
    n_decoder_layers: int = 0       # encoder-decoder only: the decoder's layers and heads (its self- and
    n_decoder_heads: int = 0        # cross-attention have the same counts)

    def describe(self) -> dict[str, Any]:
        described = {"name": self.name, "label": self.label, "architecture": self.architecture,
                     "causal": self.causal, "n_layers": self.n_layers, "n_heads": self.n_heads,
                     "n_kv_heads": self.n_kv_heads}
        if self.encoder_decoder:
            described.update(encoder_decoder=True, n_decoder_layers=self.n_decoder_layers,
                             n_decoder_heads=self.n_decoder_heads)
        return described


@dataclass
class LoadedModel:
    """A model ready to run: eager attention, float32, eval mode, with its tokenizer and adapter."""

    source: ModelSource
    tokenizer: Any                       # a transformers PreTrainedTokenizerBase
    model: Any                           # a torch.nn.Module (transformers PreTrainedModel)
    config: Any                          # its transformers PretrainedConfig
    adapter: Adapter | None              # None for an architecture without an entry in adapters.ADAPTERS
    info: ModelInfo

    @property
    def causal(self) -> bool:
        return self.info.causal

    @property
    def architecture(self) -> str:
        return self.info.architecture

    @property
    def can_read_pairs(self) -> bool:
        if self.info.encoder_decoder:
            return False
        return bool(self.adapter and self.adapter.pairs) or getattr(self.config, "type_vocab_size", 0) >= 2

    @property
    def max_positions(self) -> int | None:
        """The model's position limit (tokens), where its config states one."""
        return getattr(self.config, "max_position_embeddings", None) or getattr(self.config, "n_positions", None)


def model_info(source: ModelSource, config: Any, causal: bool) -> ModelInfo:
    heads = int(getattr(config, "num_attention_heads", None) or getattr(config, "n_head"))
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    layers = int(getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer"))
    if not is_encoder_decoder(config):
        return ModelInfo(source.name, source.label, config.model_type, causal, layers, heads, kv_heads)
    # transformers' names: T5 num_decoder_layers, BART/Marian decoder_layers and decoder_attention_heads
    decoder_layers = int(getattr(config, "num_decoder_layers", None) or getattr(config, "decoder_layers", None)
                         or layers)
    decoder_heads = int(getattr(config, "decoder_attention_heads", None) or heads)
    return ModelInfo(source.name, source.label, config.model_type, False, layers, heads, kv_heads,
                     encoder_decoder=True, n_decoder_layers=decoder_layers, n_decoder_heads=decoder_heads)


def is_encoder_decoder(config: Any) -> bool:
    """An encoder-decoder (sequence-to-sequence) model: T5, BART, Marian, ..."""
    return bool(getattr(config, "is_encoder_decoder", False))


def _is_causal(config: Any, adapter: Adapter | None) -> bool:
    if adapter is not None:
        return adapter.causal
    names = " ".join(getattr(config, "architectures", None) or [])
    return bool(getattr(config, "is_decoder", False)) or "CausalLM" in names or "LMHeadModel" in names


def load(source: ModelSource) -> LoadedModel:
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    kwargs: dict[str, Any] = {}
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    if source.revision:
        kwargs["revision"] = source.revision
    try:
        config = AutoConfig.from_pretrained(source.path, **kwargs)
        adapter = adapter_for(config.model_type)
        causal = not is_encoder_decoder(config) and _is_causal(config, adapter)
        tokenizer = AutoTokenizer.from_pretrained(source.path, **kwargs)
        model_class = (AutoModelForSeq2SeqLM if is_encoder_decoder(config) else
                       AutoModelForCausalLM if causal else AutoModel)
        model = model_class.from_pretrained(source.path, dtype=torch.float32, attn_implementation="eager", **kwargs)
    except (OSError, ValueError, ImportError) as exc:
        raise ModelLoadError(_explain_failure(source, exc)) from exc
    model.eval()
    return LoadedModel(source, tokenizer, model, model.config, adapter_for(model.config.model_type),
                       model_info(source, model.config, causal))


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
