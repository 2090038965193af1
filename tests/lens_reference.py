"""An independent logit lens for the tests, written from the definitions in float64 numpy.

It shares no code with generator/methods/lens: the hidden states come from forward hooks on the model's blocks (the
embedding output is recomputed from the embedding tables), the final norm is written out from its formula
(LayerNorm: (h - mean) / sqrt(var + eps) * weight + bias; RMSNorm: h / sqrt(mean(h^2) + eps) * weight), and the
unembedding is the LM head's weight (and bias) as a matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Residuals:
    """The residual stream before the final norm: [L + 1, N, d] float64 (0 = embedding output, l = after block l)."""

    states: np.ndarray
    logits: np.ndarray       # the model's own output logits [N, V], float32 as the model computed them


def residuals(model, ids: list[int]) -> Residuals:
    """Run the model once (no output_hidden_states) and read the residual stream through hooks and embeddings."""
    family = model.config.model_type
    if family == "gpt2":
        blocks, wte, wpe = model.transformer.h, model.transformer.wte, model.transformer.wpe
        first = (wte.weight[ids] + wpe.weight[: len(ids)]).double()
    else:
        blocks = model.model.layers
        first = model.model.embed_tokens.weight[ids].double()
        if family.startswith("gemma"):
            first = first * torch.tensor(model.config.hidden_size ** 0.5, dtype=torch.float32).double()
    outs = []
    handles = [block.register_forward_hook(
        lambda _m, _a, out: outs.append((out[0] if isinstance(out, tuple) else out)[0].double())) for block in blocks]
    try:
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].float().numpy()
    finally:
        for handle in handles:
            handle.remove()
    return Residuals(torch.stack([first, *outs]).detach().numpy(), logits)


def final_norm(model, h: np.ndarray, stats_from: np.ndarray | None = None) -> np.ndarray:
    """The final norm of h [..., d] by its formula; `stats_from` (same shape) takes the statistics from other rows
    (the mistake of reusing the last layer's scale)."""
    family = model.config.model_type
    source = h if stats_from is None else stats_from
    if family == "gpt2":
        norm = model.transformer.ln_f
        weight, bias, eps = norm.weight.detach().double().numpy(), norm.bias.detach().double().numpy(), norm.eps
        mean = source.mean(-1, keepdims=True)
        var = ((source - mean) ** 2).mean(-1, keepdims=True)
        return (h - mean) / np.sqrt(var + eps) * weight + bias
    norm = model.model.norm
    weight = norm.weight.detach().double().numpy()
    if family.startswith("gemma"):
        weight = 1.0 + weight                     # Gemma's RMSNorm scales by (1 + weight)
    eps = getattr(norm, "variance_epsilon", None) or getattr(norm, "eps")
    return h / np.sqrt((source ** 2).mean(-1, keepdims=True) + eps) * weight


def unembed(model, x: np.ndarray) -> np.ndarray:
    head = model.lm_head
    z = x @ head.weight.detach().double().numpy().T
    if getattr(head, "bias", None) is not None:
        z = z + head.bias.detach().double().numpy()
    cap = getattr(model.config, "final_logit_softcapping", None)
    return cap * np.tanh(z / cap) if cap else z


def log_softmax(z: np.ndarray) -> np.ndarray:
    top = z.max(-1, keepdims=True)
    return z - top - np.log(np.exp(z - top).sum(-1, keepdims=True))


def layer_logits(model, res: Residuals, layer: int, reuse_last_scale: bool = False) -> np.ndarray:
    """Logits [N, V] float64 after `layer` (0 .. L): the final norm with this layer's own statistics (or, with
    reuse_last_scale, the last layer's)."""
    h = res.states[layer]
    return unembed(model, final_norm(model, h, res.states[-1] if reuse_last_scale else None))


def rank_bounds(z: np.ndarray, token: int, tolerance: float) -> tuple[int, int]:
    """The rank of `token` (1 + number of strictly larger logits) allowing every logit within `tolerance` of its
    own to fall either side: float32 logits may order near-ties differently from these float64 ones."""
    t = z[token]
    return 1 + int((z > t + tolerance).sum()), 1 + int((z > t - tolerance).sum())
