"""Argument checks and limits of the attribution engine, each stated once (the spec's options import the limits).

Each check raises ValueError with a message naming the argument; `check_finite_gradients` raises FloatingPointError.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

IG_STEPS_MIN = 2
IG_STEPS_MAX = 512


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_ig_steps(ig_steps: Any) -> int:
    if not _is_int(ig_steps) or not IG_STEPS_MIN <= ig_steps <= IG_STEPS_MAX:
        raise ValueError(f"ig_steps must be an integer from {IG_STEPS_MIN} to {IG_STEPS_MAX} "
                         f"(number of integrated-gradients steps), got {ig_steps!r}")
    return int(ig_steps)


def check_n_prompt(n_prompt: Any, n_tokens: int) -> int:
    """The first n_prompt tokens are the prompt; the rest were generated. At least one of each is needed."""
    if not _is_int(n_prompt):
        raise ValueError(f"n_prompt must be an integer, got {n_prompt!r}")
    if not 1 <= n_prompt <= n_tokens:
        raise ValueError(f"n_prompt must be between 1 and the sequence length {n_tokens} "
                         f"(a generated token needs at least one token before it), got {n_prompt}")
    if n_prompt == n_tokens:
        raise ValueError(f"nothing generated: n_prompt ({n_prompt}) equals the sequence length, so there is no "
                         "generated token to attribute; pass input_ids with the generated tokens appended")
    return int(n_prompt)


def check_chunk_budget(name: str, value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_token_ids(input_ids: Any, vocab_size: int, name: str = "input_ids") -> Any:
    """A non-empty 1-D integer tensor of ids below the embedding table's size; returned unchanged."""
    import torch

    if not isinstance(input_ids, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of token ids, got {type(input_ids).__name__}")
    if input_ids.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one sequence, no batch dimension), got shape {tuple(input_ids.shape)}")
    if input_ids.dtype.is_floating_point or input_ids.dtype.is_complex or input_ids.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer token ids, got dtype {input_ids.dtype}")
    if input_ids.numel() == 0:
        raise ValueError(f"{name} is empty")
    low, high = int(input_ids.min()), int(input_ids.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(f"{name} holds ids outside the embedding table [0, {vocab_size}): min {low}, max {high}")
    return input_ids


def check_finite_gradients(grads: Any, alphas: Any = None) -> None:
    """Raise FloatingPointError if a gradient is inf or NaN; `alphas` (one per grads[:, k]) names the IG nodes."""
    if bool(grads.isfinite().all()):
        return
    if alphas is None:
        raise FloatingPointError("the gradient of a target with respect to the input embeddings is not finite")
    bad = grads.isfinite().logical_not().flatten(2).any(-1).any(0)  # grads [targets, nodes, ...]
    where = ", ".join(f"{float(a):.3g}" for a, b in zip(alphas, bad.tolist()) if b)
    raise FloatingPointError(
        f"integrated gradients: the gradient is not finite at alpha = {where} on the path alpha * x. Near alpha = 0 "
        "the residual stream of a model without absolute position embeddings (Llama, RoPE) is ~0, where RMSNorm "
        "amplifies by 1/sqrt(eps) per layer and the Jacobian overflows; use an ig_method that does not evaluate "
        "alpha = 0 ('gausslegendre', 'riemann_middle' or 'riemann_right')")
