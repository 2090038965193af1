"""Load a tokenizer and model for a ModelSource, ready to capture attention (eager, float32, eval mode)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Iterator

from ..errors import ModelLoadError
from . import weights_cache
from .adapters import Adapter, adapter_for
from .facts import ModelInfo, is_causal, is_encoder_decoder, max_positions, model_info, reads_pairs
from .registry import ModelSource

log = logging.getLogger("mkdocs.plugins.explorables")


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
        return reads_pairs(self.config)

    @property
    def max_positions(self) -> int | None:
        """The model's position limit (tokens), where its config states one."""
        return max_positions(self.config)


def load(source: ModelSource, device: str = "cpu", dtype: str = "float32") -> LoadedModel:
    """Tokenizer and model (eager attention, eval mode) for a source, in `dtype` ("float32" or "bfloat16") on
    `device` ("cpu" or "cuda"). A GGUF model is read from the de-quantised weights cache when it holds a sound
    entry, and stored there after a float32 load otherwise (weights_cache.py). Raises ModelLoadError saying what
    to do."""
    cached = weights_cache.find(source, checksums=False) if source.gguf_file else None
    if cached is not None:
        with ThreadPoolExecutor(1) as pool:   # zlib's CRC releases the GIL: it overlaps the load
            checking = pool.submit(weights_cache.checksum_problem, cached, source)
            try:
                loaded, failure = _load(source, str(cached), {}, device, dtype), None
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
    loaded = _load(source, source.path, kwargs, device, dtype)
    if source.gguf_file and dtype == "float32" and device == "cpu":
        weights_cache.store(source, loaded.model, loaded.tokenizer)
    return loaded


def _load(source: ModelSource, path: str, kwargs: dict[str, Any], device: str = "cpu",
          dtype: str = "float32") -> LoadedModel:
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(path, **kwargs)
        causal = is_causal(config)
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model_class = (AutoModelForSeq2SeqLM if is_encoder_decoder(config) else
                       AutoModelForCausalLM if causal else AutoModel)
        model = model_class.from_pretrained(path, dtype=getattr(torch, dtype), attn_implementation="eager", **kwargs)
    except (OSError, ValueError, ImportError) as exc:
        raise ModelLoadError(_explain_failure(source, exc)) from exc
    model.eval()
    if device != "cpu":
        model.to(device)
    from ..tokens import Vocabulary
    vocabulary = Vocabulary(tokenizer)

    def pieces(text: str) -> list[str]:
        return [record["text"] for record in vocabulary.display(vocabulary.encode(text))]
    return LoadedModel(source, tokenizer, model, model.config, adapter_for(model.config.model_type),
                       replace(model_info(source, model.config), pieces=pieces))


def _explain_failure(source: ModelSource, exc: Exception) -> str:
    if source.kind != "hub":
        return f"could not load model '{source.name}' from {source.path}: {exc}"
    offline = os.environ.get("HF_HUB_OFFLINE") in {"1", "true", "TRUE", "yes"}
    revision = source.revision or "main"
    return (
        f"could not load '{source.path}' (revision {revision}) from the Hugging Face hub"
        f"{' (HF_HUB_OFFLINE is set)' if offline else ''}: {type(exc).__name__}: "
        f"{(str(exc).splitlines() or [''])[0].rstrip('. ')}. "
        f"Either build where the hub is reachable{' (unset HF_HUB_OFFLINE)' if offline else ''}, check the id's "
        "spelling on the hub, or fill the cache once with "
        f"`hf download {source.path} --revision {revision}` (huggingface_hub's CLI) and keep HF_HOME pointing at it, or "
        "save the model with save_pretrained to a folder and write `model: ./that/folder`.")


@contextlib.contextmanager
def quiet_library() -> Iterator[None]:
    """Keep the build log to our own lines while transformers loads a model: its warnings and info go below ERROR,
    and progress bars (drawn on stderr by tqdm) go nowhere. Errors still raise."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        hf_logging.set_verbosity(level)
        hf_logging.enable_progress_bar()


class ModelPool:
    """Loaded models by (fingerprint, device, dtype). One pool lives for the whole process, so `mkdocs serve` (and a
    distributed worker) loads each model once."""

    def __init__(self) -> None:
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, source: ModelSource, device: str = "cpu", dtype: str = "float32") -> LoadedModel:
        key = source.fingerprint() if (device, dtype) == ("cpu", "float32") else \
            f"{source.fingerprint()}/{device}/{dtype}"
        with self._lock:
            if key not in self._models:
                log.info("explorables: loading model %s%s", source.label,
                         "" if (device, dtype) == ("cpu", "float32") else f" ({device}, {dtype})")
                with quiet_library():
                    self._models[key] = load(source, device, dtype)
            return self._models[key]

    def __len__(self) -> int:
        return len(self._models)


POOL = ModelPool()
