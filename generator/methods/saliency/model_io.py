"""The only contact with the model: its input embedding table and `model(inputs_embeds=..., attention_mask=...)`.

Two optional keyword arguments of Hugging Face forwards are passed when the forward names them: `use_cache=False`
(no key/value cache is built and kept alive) and `logits_to_keep` (the unembedding runs on the needed positions
only). Neither changes a value.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Any, Iterator

import torch

from .validation import check_token_ids


@contextmanager
def gradient_ready(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode (no dropout) and parameters frozen; both restored on exit.

    Frozen parameters mean autograd computes no weight gradients and keeps fewer tensors alive for the backward.
    """
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)


def embedding_table(model: torch.nn.Module) -> torch.nn.Module:
    table = model.get_input_embeddings()
    if table is None:
        raise ValueError(f"{type(model).__name__} has no input embeddings (get_input_embeddings() returned None)")
    return table


def token_embeddings(model: torch.nn.Module, input_ids: torch.Tensor, name: str = "input_ids") -> torch.Tensor:
    """x = E[input_ids]: [N, D], detached, in the model's dtype."""
    table = embedding_table(model)
    size = getattr(table, "num_embeddings", None) or table.weight.shape[0]
    ids = check_token_ids(input_ids, int(size), name)
    device = table.weight.device
    with torch.no_grad():
        return table(ids.to(device)).detach()


def _named_parameters_of_forward(model: torch.nn.Module) -> set[str]:
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return set()
    return {name for name, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def run(model: torch.nn.Module, embeds: torch.Tensor, logits_to_keep: int | None = None) -> Any:
    """model(inputs_embeds=embeds, attention_mask=ones) for a batch [B, N, D] of unpadded sequences."""
    named = _named_parameters_of_forward(model)
    kwargs: dict[str, Any] = {}
    if "use_cache" in named:
        kwargs["use_cache"] = False
    if logits_to_keep is not None and "logits_to_keep" in named:
        kwargs["logits_to_keep"] = logits_to_keep
    mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
    return model(inputs_embeds=embeds, attention_mask=mask, **kwargs)


def first_output(output: Any, name: str) -> torch.Tensor:
    value = getattr(output, name, None)
    return value if value is not None else output[0]
