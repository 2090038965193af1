"""Gradients of model outputs with respect to the input token embeddings: the attribution engine's contact with the
model.

The model is touched only through its input embedding table and `model(inputs_embeds=..., attention_mask=...)`.
Two optional keyword arguments of Hugging Face forwards are passed when the forward names them: `use_cache=False`
(no key/value cache is built and kept alive) and `logits_to_keep` (the unembedding runs on the needed positions
only). Neither changes a value.

Scores of all generated tokens come from ONE forward over the full sequence: for a causal model the logits at
position p - 1 depend on x_0 .. x_{p-1} only, so the full-sequence forward gives at position p - 1 exactly what the
prefix input_ids[:p] would give (`targets.generated_scores`). Their gradients come from batched vector-Jacobian
products (`is_grads_batched`, `batched_vjp`).
"""

from __future__ import annotations

import inspect
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import torch

from .checks import check_token_ids


@contextmanager
def gradient_ready(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode (no dropout) and parameters frozen; both restored on exit.

    Frozen parameters mean autograd computes no weight gradients and keeps fewer tensors alive for the backward.
    """
    model = module(model)
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


def embedding_table(model: Any) -> torch.nn.Module:
    """The input embedding table of a model (or of a run handle's model). Raises ValueError when it has none."""
    model = module(model)
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


def handle(model: Any) -> Any:
    """The run handle (`generator.model_run.ModelRun`) of `model`: itself when it is one (`Capture.model_run`), else a
    handle on a bare module, which runs whole forwards and edits `hook_embed` only (no adapter, no block points)."""
    from types import SimpleNamespace

    from ..model_run import ModelRun

    if isinstance(model, ModelRun):
        return model
    info = SimpleNamespace(architecture=type(model).__name__, n_layers=0, n_heads=0)
    return ModelRun(SimpleNamespace(model=model, adapter=None, info=info))


def module(model: Any) -> torch.nn.Module:
    """The torch module behind a run handle, or `model` itself."""
    return getattr(model, "model", model) if not isinstance(model, torch.nn.Module) else model


def forward(model: Any, embeds: torch.Tensor, logits_to_keep: int | None = None) -> torch.Tensor:
    """The model's main output for a batch [B, N, D] of unpadded sequences given as token embeddings, through the
    run handle (`handle`): logits [B, N or logits_to_keep, V] for a model with an LM head, else the last hidden state
    [B, N, d_model]. Gradients flow when the caller has them enabled."""
    return handle(model).run_with_hooks(inputs_embeds=embeds, grad=torch.is_grad_enabled(),
                                        logits_to_keep=logits_to_keep)


def run(model: Any, embeds: torch.Tensor, logits_to_keep: int | None = None) -> Any:
    """The model's whole output object, model(inputs_embeds=embeds, attention_mask=ones), outside the run handle
    (a reference route for tests; the methods re-run the model through `forward` or the run handle)."""
    model = module(model)
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


def one_hot_cotangents(outputs: torch.Tensor, columns: Sequence[int]) -> torch.Tensor:
    """[K, *outputs.shape]: cotangent k is 1 in output column columns[k] (last axis) for every row, else 0."""
    cotangents = outputs.new_zeros((len(columns),) + tuple(outputs.shape))
    for k, column in enumerate(columns):
        cotangents[k, ..., column] = 1
    return cotangents


def batched_vjp(outputs: torch.Tensor, inputs: torch.Tensor | Sequence[torch.Tensor], columns: Sequence[int]
                ) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """d outputs[..., c] / d inputs, summed over the leading output axes, for each c in columns: [K, *inputs.shape]
    (a tuple of those when `inputs` is a sequence of tensors, such as the embeddings and every layer's attention).

    Rows of `outputs` that depend only on the matching row of `inputs` (a batch of independent sequences) give
    each row's own gradient. One backward pass vectorised over the K cotangents (`is_grads_batched`); the graph
    is kept so that further column chunks can reuse the same forward.
    """
    single = isinstance(inputs, torch.Tensor)
    inputs = [inputs] if single else list(inputs)
    cotangents = one_hot_cotangents(outputs, columns)
    try:
        grads = torch.autograd.grad(outputs, inputs, grad_outputs=cotangents, is_grads_batched=True,
                                    retain_graph=True)
        return grads[0] if single else tuple(grads)
    except RuntimeError as exc:  # an operator without a batching rule: one backward per column instead
        warnings.warn(f"batched backward failed ({str(exc).splitlines()[0]}); falling back to one backward per "
                      "target", RuntimeWarning, stacklevel=2)
    per_column = [torch.autograd.grad(outputs, inputs, grad_outputs=c, retain_graph=True) for c in cotangents]
    grads = tuple(torch.stack([column[k] for column in per_column]) for k in range(len(inputs)))
    return grads[0] if single else grads
