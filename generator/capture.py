"""The model run: tokenize, optionally generate greedily, then one forward pass that captures what methods need."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .models.loading import LoadedModel
from .spec import ExplorableSpec
from .tokens import display_tokens


@dataclass
class Capture:
    """Everything one forward pass recorded, as numpy arrays (methods are pure functions of this)."""

    ids: list[int]
    segments: list[int]
    n_prompt: int
    tokens: list[dict[str, Any]]
    attentions: np.ndarray | None = None                       # [layers, heads, N, N], rows sum to 1
    mlp_post: dict[str, np.ndarray] = field(default_factory=dict)   # hook name -> [N, neurons]
    input_ids: Any = None                                     # torch tensor [1, N], for gradient methods
    token_type_ids: Any = None


def check_against_model(spec: ExplorableSpec, loaded: LoadedModel) -> None:
    """Model-dependent spec rules; each failure names the field."""
    if spec.generate and not loaded.causal:
        raise spec.error("generate", f"{loaded.source.label} is an encoder ({loaded.architecture}); it cannot generate",
                         hint="remove 'generate' or use a causal model such as smollm2")
    if spec.pair is not None and not loaded.can_read_pairs:
        raise spec.error("pair", f"{loaded.source.label} ({loaded.architecture}) cannot read a sentence pair",
                         hint="use 'text', or an encoder with segment embeddings such as minilm")


def tokenize(spec: ExplorableSpec, loaded: LoadedModel) -> tuple[torch.Tensor, torch.Tensor | None]:
    tokenizer = loaded.tokenizer
    if spec.pair is not None:
        encoded = tokenizer(spec.pair[0], spec.pair[1], return_tensors="pt")
    else:
        encoded = tokenizer(spec.text, return_tensors="pt")
    input_ids = encoded["input_ids"]
    limit = min(spec.max_tokens, loaded.adapter.max_positions(loaded.config) or spec.max_tokens) \
        if loaded.adapter else spec.max_tokens
    total = input_ids.shape[1] + spec.generate
    if total > limit:
        what = "text" if spec.text is not None else "pair"
        raise spec.error(what, f"{input_ids.shape[1]} tokens{f' + {spec.generate} generated' if spec.generate else ''} "
                               f"exceed the limit of {limit} tokens for {loaded.source.label}",
                         hint="shorten the text, or raise 'max_tokens' (long inputs make heavy pages)")
    if input_ids.shape[1] == 0:
        raise spec.error("text", "the text produced no tokens")
    return input_ids, encoded.get("token_type_ids")


@torch.no_grad()
def generate(loaded: LoadedModel, input_ids: torch.Tensor, n_new: int) -> torch.Tensor:
    if n_new == 0:
        return input_ids
    tokenizer = loaded.tokenizer
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    output = loaded.model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=n_new,
                                   do_sample=False, num_beams=1, pad_token_id=pad,
                                   temperature=None, top_p=None, top_k=None)
    return output[:, : input_ids.shape[1] + n_new]


@torch.no_grad()
def run(spec: ExplorableSpec, loaded: LoadedModel, *, attention: bool = True, mlp: bool = False) -> Capture:
    check_against_model(spec, loaded)
    torch.manual_seed(0)
    prompt_ids, token_type_ids = tokenize(spec, loaded)
    n_prompt = prompt_ids.shape[1]
    input_ids = generate(loaded, prompt_ids, spec.generate)
    segments = token_type_ids[0].tolist() if token_type_ids is not None else [0] * input_ids.shape[1]

    captured: dict[str, torch.Tensor] = {}
    handles = []
    if mlp:
        for name, module in loaded.adapter.hook_points(loaded.model).items():
            handles.append(module.register_forward_pre_hook(
                lambda _module, args, name=name: captured.__setitem__(name, args[0][0].detach().clone())))
    try:
        kwargs: dict[str, Any] = {"attention_mask": torch.ones_like(input_ids), "output_attentions": attention}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        output = loaded.model(input_ids, **kwargs)
    finally:
        for handle in handles:
            handle.remove()

    ids = input_ids[0].tolist()
    capture = Capture(ids=ids, segments=segments, n_prompt=n_prompt,
                      tokens=display_tokens(loaded.tokenizer, ids, segments=segments,
                                            n_prompt=n_prompt if spec.generate else None,
                                            source=spec.pair if spec.pair is not None else spec.text),
                      input_ids=input_ids, token_type_ids=token_type_ids)
    if attention:
        capture.attentions = torch.stack([layer[0] for layer in output.attentions]).float().numpy()
    capture.mlp_post = {name: tensor.float().numpy() for name, tensor in captured.items()}
    return capture
