"""The model run: the only place that runs a model for a bake.

Tokenize (a text, a sentence pair as one sequence, and each sentence of a pair on its own where a method reads them
so), generate greedily when asked, then one eager forward pass with hooks at the named capture points the methods
need (`generator.hooks.hook_name`). Methods are functions of the returned `Capture`; those that take gradients get
the model as `Capture.model`, a handle to run it, and never a tokenizer.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .hooks import hook_name
from .methods.registry import Needs
from .models.adapters import recording_queries_keys
from .models.loading import LoadedModel, ModelInfo
from .spec import SpecBase
from .tokens import display_tokens


@dataclass
class Sentence:
    """One sentence of a pair, tokenised on its own as a bi-encoder reads it."""

    input_ids: torch.Tensor                  # int64 [n]
    tokens: list[dict[str, Any]]             # display tokens (generator.tokens)


@dataclass
class Capture:
    """Everything the model run recorded; numpy arrays unless noted."""

    info: ModelInfo
    ids: list[int]
    segments: list[int]
    n_prompt: int
    tokens: list[dict[str, Any]]
    attentions: np.ndarray | None = None                            # [L, H, N, N], rows sum to 1
    hidden_states: np.ndarray | None = None                         # [L + 1, N, d_model], as the library returns
    activations: dict[str, np.ndarray] = field(default_factory=dict)  # hook name -> array, see Needs
    attention_scales: list[float] = field(default_factory=list)      # Needs.queries_keys: per layer, the factor on
                                                                     # q . k before mask and softmax
    sentences: list[Sentence] = field(default_factory=list)          # Needs.sentences, a pair only
    input_ids: torch.Tensor | None = None                            # int64 [1, N]
    token_type_ids: torch.Tensor | None = None                       # int64 [1, N] for a pair
    model: torch.nn.Module | None = None                             # Needs.gradients: the model, to run again
    # encoder-decoder models only: `ids`, `tokens`, `attentions` are the encoder's (the source text); the decoder
    # reads `target_ids` (its start token, then what it generated)
    target_ids: list[int] = field(default_factory=list)
    target_tokens: list[dict[str, Any]] = field(default_factory=list)
    decoder_attentions: np.ndarray | None = None                    # [L_dec, H_dec, T, T], causal, rows sum to 1
    cross_attentions: np.ndarray | None = None                      # [L_dec, H_dec, T, N]: decoder queries, encoder keys


def check_against_model(spec: SpecBase, loaded: LoadedModel) -> None:
    """Model-dependent rules of every spec; each failure is a SpecError naming the field."""
    info = loaded.info
    if info.encoder_decoder:
        if spec.pair is not None:
            raise spec.error("pair", f"{info.label} is an encoder-decoder model ({info.architecture}): it reads one "
                                     "source text and writes a target, so it cannot take a sentence pair",
                             hint="give the source as 'text' and the number of target tokens as 'generate'")
        if not spec.generate:
            raise spec.error("generate", f"{info.label} is an encoder-decoder model ({info.architecture}): its "
                                         "decoder side is the text it writes, and 'generate' is missing",
                             hint="add e.g. 'generate: 8' (1-64 target tokens, greedy)")
        return
    if spec.generate and not info.causal:
        raise spec.error("generate", f"{info.label} is an encoder ({info.architecture}); it cannot generate",
                         hint="remove 'generate' or use a causal model such as smollm2")
    if spec.pair is not None and not loaded.can_read_pairs:
        raise spec.error("pair", f"{info.label} ({info.architecture}) cannot read a sentence pair",
                         hint="use 'text', or an encoder with segment embeddings such as minilm")


def tokenize(spec: SpecBase, loaded: LoadedModel) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The spec's text (or pair, as one sequence) as input_ids [1, N] and token_type_ids [1, N] or None.

    Raises SpecError when the text gives no tokens or is longer than `max_tokens` or the model's position limit.
    """
    tokenizer = loaded.tokenizer
    if spec.pair is not None:
        encoded = tokenizer(spec.pair[0], spec.pair[1], return_tensors="pt")
    else:
        encoded = tokenizer(spec.text, return_tensors="pt")
    input_ids = encoded["input_ids"]
    limit = min(spec.max_tokens, loaded.max_positions or spec.max_tokens)
    total = input_ids.shape[1] + spec.generate
    if total > limit:
        what = "text" if spec.text is not None else "pair"
        raise spec.error(what, f"{input_ids.shape[1]} tokens{f' + {spec.generate} generated' if spec.generate else ''} "
                               f"exceed the limit of {limit} tokens for {loaded.info.label}",
                         hint="shorten the text, or raise 'max_tokens' (long inputs make heavy pages)")
    if input_ids.shape[1] == 0:
        raise spec.error("text", "the text produced no tokens")
    return input_ids, encoded.get("token_type_ids")


def sentences(spec: SpecBase, loaded: LoadedModel) -> list[Sentence]:
    """Each sentence of the spec's pair tokenised on its own, with its own [CLS]/[SEP] (segment 0 and 1)."""
    out = []
    for segment, sentence in enumerate(spec.pair or []):
        ids = loaded.tokenizer(sentence, return_tensors="pt")["input_ids"][0]
        out.append(Sentence(ids, display_tokens(loaded.tokenizer, ids.tolist(), segments=[segment] * len(ids))))
    return out


@torch.no_grad()
def generate(loaded: LoadedModel, input_ids: torch.Tensor, n_new: int) -> torch.Tensor:
    """Greedy continuation: input_ids [1, n] -> [1, n + at most n_new]."""
    if n_new == 0:
        return input_ids
    tokenizer = loaded.tokenizer
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    output = loaded.model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=n_new,
                                   do_sample=False, num_beams=1, pad_token_id=pad,
                                   temperature=None, top_p=None, top_k=None)
    return output[:, : input_ids.shape[1] + n_new]


def _hooks(loaded: LoadedModel, needs: Needs, captured: dict[str, torch.Tensor], stack: ExitStack,
           scales: dict[int, float]) -> None:
    """Attach recorders at the named points `needs` asks for; `stack` removes them."""
    if needs.mlp_post:
        for layer, block in enumerate(loaded.adapter.blocks(loaded.model)):
            name = hook_name(layer, "mlp.hook_post")
            handle = loaded.adapter.mlp_down_module(block).register_forward_pre_hook(
                lambda _module, args, name=name: captured.__setitem__(name, args[0][0].detach().clone()))
            stack.callback(handle.remove)
    if needs.queries_keys:
        def keep(layer: int, query: torch.Tensor, key: torch.Tensor, scaling: float) -> None:
            captured[hook_name(layer, "attn.hook_q")] = query.clone()
            captured[hook_name(layer, "attn.hook_k")] = key.clone()
            scales[layer] = scaling
        stack.enter_context(recording_queries_keys(loaded.model, loaded.adapter, keep))


@torch.no_grad()
def run_encoder_decoder(spec: SpecBase, loaded: LoadedModel, needs: Needs) -> Capture:
    """Encoder-decoder models: the text is the source; the decoder starts from its start token and generates
    `spec.generate` tokens greedily (fewer if it ends the text); one forward pass on source and target records the
    encoder's self-attention, the decoder's (causal) self-attention and its cross-attention to the source."""
    source_ids, _ = tokenize(spec, loaded)
    tokenizer = loaded.tokenizer
    output = loaded.model.generate(source_ids, attention_mask=torch.ones_like(source_ids),
                                   max_new_tokens=spec.generate, do_sample=False, num_beams=1,
                                   temperature=None, top_p=None, top_k=None)
    target_ids = output[:, : 1 + spec.generate]
    forward = loaded.model(source_ids, attention_mask=torch.ones_like(source_ids), decoder_input_ids=target_ids,
                           output_attentions=needs.attention)
    ids, target = source_ids[0].tolist(), target_ids[0].tolist()
    capture = Capture(info=loaded.info, ids=ids, segments=[0] * len(ids), n_prompt=len(ids),
                      tokens=display_tokens(tokenizer, ids), input_ids=source_ids, target_ids=target,
                      target_tokens=display_tokens(tokenizer, target, n_prompt=1))
    if needs.attention:
        stack = lambda layers: torch.stack([layer[0] for layer in layers]).float().numpy()  # noqa: E731
        capture.attentions = stack(forward.encoder_attentions)
        capture.decoder_attentions = stack(forward.decoder_attentions)
        capture.cross_attentions = stack(forward.cross_attentions)
    return capture


@torch.no_grad()
def run(spec: SpecBase, loaded: LoadedModel, needs: Needs = Needs(attention=True)) -> Capture:
    """Run the model on the spec's input and record what `needs` asks for.

    Raises SpecError for model-dependent spec problems (generate on an encoder, a pair on a model without segments,
    a text over the token limit, a pair or no 'generate' on an encoder-decoder).
    """
    check_against_model(spec, loaded)
    if loaded.info.encoder_decoder:
        torch.manual_seed(0)
        return run_encoder_decoder(spec, loaded, needs)
    torch.manual_seed(0)
    prompt_ids, token_type_ids = tokenize(spec, loaded)
    n_prompt = prompt_ids.shape[1]
    input_ids = generate(loaded, prompt_ids, spec.generate)
    segments = token_type_ids[0].tolist() if token_type_ids is not None else [0] * input_ids.shape[1]

    captured: dict[str, torch.Tensor] = {}
    scales: dict[int, float] = {}
    with ExitStack() as stack:
        _hooks(loaded, needs, captured, stack, scales)
        kwargs: dict[str, Any] = {"attention_mask": torch.ones_like(input_ids), "output_attentions": needs.attention,
                                  "output_hidden_states": needs.hidden_states}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        output = loaded.model(input_ids, **kwargs)
    if needs.queries_keys and sorted(scales) != list(range(loaded.info.n_layers)):
        raise RuntimeError(f"queries and keys were recorded for layers {sorted(scales)} of {loaded.info.n_layers}: "
                           f"{loaded.info.architecture} did not call its eager attention function in every block")

    ids = input_ids[0].tolist()
    capture = Capture(info=loaded.info, ids=ids, segments=segments, n_prompt=n_prompt,
                      tokens=display_tokens(loaded.tokenizer, ids, segments=segments,
                                            n_prompt=n_prompt if spec.generate else None),
                      input_ids=input_ids, token_type_ids=token_type_ids)
    if needs.attention:
        capture.attentions = torch.stack([layer[0] for layer in output.attentions]).float().numpy()
    if needs.hidden_states:
        capture.hidden_states = torch.stack([hidden[0] for hidden in output.hidden_states]).float().numpy()
    capture.activations.update({name: tensor.float().numpy() for name, tensor in captured.items()})
    capture.attention_scales = [scales[layer] for layer in sorted(scales)]
    if needs.sentences:
        capture.sentences = sentences(spec, loaded)
    if needs.gradients:
        capture.model = loaded.model
    return capture
