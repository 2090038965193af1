"""What `explorables check` needs to know of a model, read without torch (and without transformers' model code).

`model_facts(source)` reads the model's config and tokenizer from files: a folder's (or the Hugging Face cache's)
`config.json` and `tokenizer.json` through the `tokenizers` library, or a GGUF file's metadata through the `gguf`
package, whose vocabulary and merges make the same byte-level BPE tokenizer transformers builds from it (the
tests compare the ids on every curated text). Enough to check every model-dependent rule of a spec: encoder or
causal, segment embeddings for a pair, the position limit, the token count of a text, the layer and head counts.
A GGUF model whose de-quantised entry is in the weights cache (`weights_cache`) is read from that entry's
config.json and tokenizer.json instead: the same facts, at a twentieth of the CPU time.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Mapping

from ..errors import ModelLoadError, ModelUnavailable
from ..tokens import token_alone, tokenizer_style
from .adapters import adapter_for
from .registry import ModelSource


@dataclass(frozen=True)
class ModelInfo:
    """What a page and a method may know about a model: names and sizes, computed once. `describe()` is the
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
    # the smallest number of most recent tokens a layer attends to (sliding-window attention: Mistral, Gemma 2 and
    # 3, Phi-3), None when every layer sees all earlier tokens; not in the payload
    sliding_window: int | None = None
    # The tokens a text read on its own splits into, as text (no special tokens): for checks that need the
    # tokenizer (a `lens.watch` entry must be one token). Set where a tokenizer is at hand; not part of equality.
    pieces: Callable[[str], list[str]] | None = field(default=None, compare=False, repr=False)

    def describe(self) -> dict[str, Any]:
        described = {"name": self.name, "label": self.label, "architecture": self.architecture,
                     "causal": self.causal, "n_layers": self.n_layers, "n_heads": self.n_heads,
                     "n_kv_heads": self.n_kv_heads}
        if self.encoder_decoder:
            described.update(encoder_decoder=True, n_decoder_layers=self.n_decoder_layers,
                             n_decoder_heads=self.n_decoder_heads)
        return described


def _field(config: Any, *names: str) -> Any:
    for name in names:
        value = config.get(name) if isinstance(config, Mapping) else getattr(config, name, None)
        if value is not None:
            return value
    return None


def is_encoder_decoder(config: Any) -> bool:
    """An encoder-decoder (sequence-to-sequence) model: T5, BART, Marian, ..."""
    return bool(_field(config, "is_encoder_decoder"))


def is_causal(config: Any) -> bool:
    """Causal (generates) or encoder, from the architecture's adapter, else from the config's class names. An
    encoder-decoder model is neither (its decoder is causal; `is_encoder_decoder`)."""
    if is_encoder_decoder(config):
        return False
    adapter = adapter_for(_field(config, "model_type"))
    if adapter is not None:
        return adapter.causal
    names = " ".join(_field(config, "architectures") or [])
    return bool(_field(config, "is_decoder")) or "CausalLM" in names or "LMHeadModel" in names


def model_info(source: ModelSource, config: Any) -> ModelInfo:
    """ModelInfo from a transformers config object or its dict (config.json). Encoder-decoder configs name their
    sizes in their own words (T5: num_layers, num_decoder_layers, num_heads; BART and Marian: encoder_layers,
    decoder_layers, encoder_attention_heads, decoder_attention_heads), which a config object maps but its dict
    does not."""
    heads = int(_field(config, "num_attention_heads", "n_head", "n_heads", "num_heads", "encoder_attention_heads"))
    layers = int(_field(config, "num_hidden_layers", "n_layer", "n_layers", "num_layers", "encoder_layers"))
    kv_heads = int(_field(config, "num_key_value_heads") or heads)
    if not is_encoder_decoder(config):
        return ModelInfo(source.name, source.label, _field(config, "model_type"), is_causal(config), layers, heads,
                         kv_heads, sliding_window=sliding_window(config))
    return ModelInfo(source.name, source.label, _field(config, "model_type"), False, layers, heads, kv_heads,
                     encoder_decoder=True,
                     n_decoder_layers=int(_field(config, "num_decoder_layers", "decoder_layers") or layers),
                     n_decoder_heads=int(_field(config, "decoder_attention_heads") or heads))


def sliding_window(config: Any) -> int | None:
    """The attention window of the config's sliding layers (query i sees keys j with i - window < j <= i), or None
    when no layer slides: no `sliding_window`, `use_sliding_window: false` (Qwen2), or `layer_types` without a
    "sliding_attention" layer."""
    window = _field(config, "sliding_window")
    if not window or _field(config, "use_sliding_window") is False:
        return None
    types = _field(config, "layer_types")
    if types is not None and "sliding_attention" not in types:
        return None
    return int(window)


def max_positions(config: Any) -> int | None:
    """The model's position limit (tokens), where its config states one."""
    return _field(config, "max_position_embeddings", "n_positions")


def reads_pairs(config: Any) -> bool:
    """Whether the model has segment (token type) embeddings, so it can read a sentence pair (never an
    encoder-decoder model: it reads one source text)."""
    if is_encoder_decoder(config):
        return False
    adapter = adapter_for(_field(config, "model_type"))
    return bool(adapter and adapter.pairs) or (_field(config, "type_vocab_size") or 0) >= 2


@dataclass(frozen=True)
class ModelFacts:
    info: ModelInfo
    max_positions: int | None
    can_read_pairs: bool
    tokenizer: Any                         # a tokenizers.Tokenizer with the model's special-token template

    def count(self, text: str | None = None, pair: list[str] | None = None) -> int:
        """Tokens of a text, or of a pair read as one sequence, special tokens included (as the bake counts)."""
        encoding = self.tokenizer.encode(pair[0], pair[1]) if pair is not None else self.tokenizer.encode(text)
        return len(encoding.ids)


def model_facts(source: ModelSource) -> ModelFacts:
    """Read the facts of a model. Raises ModelLoadError when its files cannot be found or read."""
    return _facts(source)


@lru_cache(maxsize=8)
def _facts(source: ModelSource) -> ModelFacts:
    """Once per model and process. A GGUF model whose de-quantised entry is in the weights cache
    (`weights_cache.find`) is read from that entry's config.json and tokenizer.json (transformers' own conversion of
    the GGUF file, which the bake tokenizes with): 0.14 s of CPU for SmolLM2 where its GGUF metadata takes 3.9 s (at a
    load of 5: the vocabulary and merges are read and a tokenizer built from them)."""
    entry = _cached_entry(source) if source.gguf_file else None
    if entry is not None:
        config, tokenizer = _config_json(entry / "config.json", source), _tokenizer_json(entry, source)
    elif source.gguf_file:
        config, tokenizer = _gguf(Path(source.path) / source.gguf_file)
    else:
        folder = _folder(source)
        config = _config_json(folder / "config.json", source)
        tokenizer = _tokenizer_json(folder, source)
    style = tokenizer_style(SimpleNamespace(backend_tokenizer=tokenizer))
    special = {i for i, added in tokenizer.get_added_tokens_decoder().items() if added.special}

    def pieces(text: str) -> list[str]:
        """Each token of `text` read on its own, as the bake shows it (a byte fragment as `<0xF0>`)."""
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        if style == "other":
            return [tokenizer.decode([i]) for i in ids]
        return [token_alone(None, style, tokenizer.id_to_token(i), i in special)["text"] for i in ids]
    try:
        info = replace(model_info(source, config), pieces=pieces)
    except (TypeError, ValueError):      # a count missing (int(None)) or not a number
        raise ModelLoadError(f"model '{source.name}': its config does not state the layer and head counts "
                             "(num_hidden_layers, num_attention_heads or their equivalents); save the model again "
                             "with model.save_pretrained(folder)") from None
    return ModelFacts(info, max_positions(config), reads_pairs(config), tokenizer)


def _cached_entry(source: ModelSource) -> Path | None:
    """The weights cache's entry of a GGUF model when it is whole (manifest, sizes) and its config.json and
    tokenizer.json match their CRC-32; else None. A damaged entry is deleted and said, as a load does
    (`weights_cache.discard`), and the GGUF file is read instead."""
    from . import weights_cache

    folder = weights_cache.find(source, checksums=False)
    if folder is None:
        return None
    problem = weights_cache.files_problem(folder, ("config.json", "tokenizer.json"))
    if problem is not None:
        weights_cache.discard(source, folder, problem)
        return None
    return folder


def _folder(source: ModelSource) -> Path:
    if source.kind != "hub":
        return Path(source.path)
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(source.path, "config.json", revision=source.revision)
    if isinstance(found, str):
        return Path(found).parent
    if os.environ.get("HF_HUB_OFFLINE") in {"1", "true", "TRUE", "yes"}:
        raise ModelLoadError(f"model '{source.name}' is not bundled, not a folder, and not in the Hugging Face cache "
                             "(HF_HUB_OFFLINE is set): fill the cache with `hf download "
                             f"{source.path}`, or use a bundled model or a folder saved with save_pretrained")
    _ask_hub(source)
    from huggingface_hub import hf_hub_download
    try:
        return Path(hf_hub_download(source.path, "config.json", revision=source.revision)).parent
    except Exception as exc:  # the hub says no, or cannot be reached: both are the author's to act on
        raise ModelLoadError(f"model '{source.name}': could not read its config from the Hugging Face hub "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None


HUB_TIMEOUT_S = 5.0     # for the hub's answer on whether a model exists, unless HF_HUB_ETAG_TIMEOUT says otherwise


def _ask_hub(source: ModelSource) -> None:
    """Ask the Hugging Face hub once, without retries, whether `source` (a hub id not in the local cache) has a
    config.json at its revision: one HEAD request (`huggingface_hub.get_hf_file_metadata`, whose retries are off by
    default), waiting at most HF_HUB_ETAG_TIMEOUT seconds (default HUB_TIMEOUT_S). `hf_hub_download` retries an
    unreachable hub five times with waits of 1 to 8 s (`huggingface_hub.utils._http`): about 25 s before the same
    error, on a machine that cannot reach the hub. Raises ModelLoadError saying what the hub answered (no such model,
    gated, no such revision, no config.json) or that it cannot be reached (ModelUnavailable: the bake stops there
    too); returns when the file is there."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    name, repo = source.name, source.path
    get = "fill the cache with `hf download " + repo + "`"
    try:
        timeout = float(os.environ.get("HF_HUB_ETAG_TIMEOUT") or HUB_TIMEOUT_S)
    except ValueError:
        timeout = HUB_TIMEOUT_S
    try:
        get_hf_file_metadata(hf_hub_url(repo, "config.json", revision=source.revision), timeout=timeout)
    except GatedRepoError:
        raise ModelUnavailable(f"model '{name}' is gated on the Hugging Face hub: accept its terms on its hub page, "
                               f"log in with `hf auth login`, and {get}") from None
    except RepositoryNotFoundError:
        raise ModelUnavailable(f"model '{name}': the Hugging Face hub has no model '{repo}' (or it is private), and it "
                               "is not in the local cache: check the id's spelling, or use a bundled model or a folder "
                               "saved with save_pretrained") from None
    except RevisionNotFoundError:
        raise ModelUnavailable(f"model '{name}': the Hugging Face hub has no revision '{source.revision}' of "
                               f"'{repo}': check the name after '@' (a branch, tag or commit)") from None
    except EntryNotFoundError:
        raise ModelUnavailable(f"model '{name}': '{repo}' on the Hugging Face hub has no config.json, so it is not a "
                               "transformers model: check the id") from None
    except Exception as exc:  # noqa: BLE001: httpx.ConnectError, a timeout, a 5xx: the hub did not answer
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelUnavailable(f"model '{name}' is not in the local Hugging Face cache, and the hub cannot be reached "
                               f"to fetch it ({type(exc).__name__}{': ' + first if first else ''}): {get} on a machine "
                               "that reaches the hub, or use a bundled model or a folder saved with save_pretrained; "
                               "where the hub is never reachable, set HF_HUB_OFFLINE=1 so that checks look in the "
                               "cache only") from None


def _config_json(path: Path, source: ModelSource) -> dict[str, Any]:
    """The folder's config.json as a dict. Raises ModelLoadError when it cannot be read or is not a JSON object."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"model '{source.name}': cannot read {path} ({type(exc).__name__}: {exc}); "
                             "save the model again with model.save_pretrained(folder)") from None
    except ValueError as exc:
        raise ModelLoadError(f"model '{source.name}': {path} is not valid JSON ({exc}); save the model again "
                             "with model.save_pretrained(folder)") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"model '{source.name}': {path} is not valid JSON for a config (it holds a "
                             f"{type(config).__name__}, not an object); save the model again with "
                             "model.save_pretrained(folder)")
    return config


def _tokenizer_json(folder: Path, source: ModelSource) -> Any:
    from tokenizers import Tokenizer

    path = folder / "tokenizer.json"
    if not path.exists() and source.kind == "hub":
        from huggingface_hub import hf_hub_download
        path = Path(hf_hub_download(source.path, "tokenizer.json", revision=source.revision))
    if not path.exists():
        raise ModelLoadError(f"model '{source.name}': no tokenizer.json in {folder}, so its texts cannot be counted "
                             "without loading it; save the tokenizer with tokenizer.save_pretrained(folder)")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # the tokenizers library raises its own Exception for unreadable or invalid files
        raise ModelLoadError(f"model '{source.name}': {path} cannot be read as a tokenizer "
                             f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); save the "
                             "tokenizer again with tokenizer.save_pretrained(folder)") from None
    tokenizer.no_padding()          # a saved tokenizer may pad to a fixed length (MiniLM's pads to 128)
    tokenizer.no_truncation()       # and truncate: counting must see every token
    return tokenizer


def _gguf(path: Path) -> tuple[dict[str, Any], Any]:
    """A transformers-style config dict and a byte-level BPE tokenizer from a GGUF file's metadata (llama.cpp keys)."""
    from gguf import GGUFReader
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    fields = GGUFReader(str(path)).fields
    value = lambda key, default=None: fields[key].contents() if key in fields else default  # noqa: E731
    arch = value("general.architecture")
    if value("tokenizer.ggml.model") != "gpt2":
        raise ModelLoadError(f"{path.name}: only byte-level BPE ('gpt2') GGUF tokenizers can be read without "
                             f"loading the model, this one is '{value('tokenizer.ggml.model')}'")
    config = {"model_type": arch, "num_hidden_layers": value(f"{arch}.block_count"),
              "num_attention_heads": value(f"{arch}.attention.head_count"),
              "num_key_value_heads": value(f"{arch}.attention.head_count_kv"),
              "max_position_embeddings": value(f"{arch}.context_length")}
    tokens, kinds = value("tokenizer.ggml.tokens"), value("tokenizer.ggml.token_type")
    merges = [tuple(merge.split(" ", 1)) for merge in value("tokenizer.ggml.merges")]
    tokenizer = Tokenizer(models.BPE({token: index for index, token in enumerate(tokens)}, merges, fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    control = 3     # llama.cpp's token type of control tokens (<|im_start|>, <|endoftext|>, ...)
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False)
                                  for token, kind in zip(tokens, kinds) if kind == control])
    if value("tokenizer.ggml.add_bos_token"):
        raise ModelLoadError(f"{path.name}: a GGUF tokenizer that adds a BOS token is not read without loading yet")
    return config, tokenizer
