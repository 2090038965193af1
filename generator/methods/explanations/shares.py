"""Every method's shares for every explained output of one capture, and the model run the faithfulness tests need.

Causal model: output t is the generated token at position p = n_prompt + t, predicted at position p - 1; a method's
row for it is row p - 1 of its matrix (raw attention, rollout, flow, value-weighted attention, gradient-weighted
rollout), and the inputs are the positions 0..p - 1.

Bi-encoder pair (one output: the cosine similarity of the mean-pooled sentence embeddings): each sentence is read
on its own, and the pooled embedding is the mean over the sentence's positions, so a method's row for it is the
mean of the sentence's rows. Attention alone says nothing about how the similarity depends on one sentence rather
than the other: the attention-only methods (raw attention, rollout, flow, value-weighted) give each sentence half of
the mass. The gradient methods are normalised over both sentences together, as the saliency view does.

Every share row is non-negative and sums to 1 over the inputs (a row that is zero everywhere stays zero).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ...attribution.shares import completeness_gap, normalise
from ...hooks import every_layer, hook_name, weight_name
from .attention_maps import raw_attention, residual_attention, rollout_layers
from .flow import flow_rows
from .options import (ATTENTION_ATTRIBUTION, ATTENTION_X_GRADIENT, FLOW, GRAD_ROLLOUT, GRADIENT_METHODS,
                      GRADIENT_X_INPUT, INTEGRATED_GRADIENTS, RAW_ATTENTION, ROLLOUT, VALUE_WEIGHTED, VALUE_ZEROING,
                      ExplanationsOptions)
from .value_weighted import value_weighted_norms

if TYPE_CHECKING:
    from ...capture import Capture

PATTERNS = every_layer("attn.hook_pattern")
ATTENTION_ONLY = (RAW_ATTENTION, ROLLOUT, FLOW, VALUE_WEIGHTED, VALUE_ZEROING)   # each sentence half the mass


@dataclass
class Explained:
    """T explained outputs over N input positions."""

    kind: str                                        # "causal" or "similarity"
    shares: dict[str, np.ndarray]                    # method -> [T, N], in the options' order
    maps: dict[str, np.ndarray]                      # rollout / flow -> [T, L, N], row l: the state at layer l + 1
    values: np.ndarray                               # [T] f(x)
    candidates: np.ndarray                           # [T, N] the inputs a faithfulness test may remove
    run_masks: Callable[[int, np.ndarray], np.ndarray]   # (t, masks [B, N]) -> f with those positions replaced
    ig: dict[str, Any] | None = None                 # baseline values, attribution sums, completeness gaps [T]
    extra: dict[str, Any] = field(default_factory=dict)


def _ig_summary(f_input: Any, f_baseline: Any, sums: np.ndarray) -> dict[str, np.ndarray]:
    f_input = np.asarray(f_input, dtype=np.float64)
    f_baseline = np.asarray(f_baseline, dtype=np.float64)
    return {"baseline_values": f_baseline, "attribution_sums": sums,
            "gap": completeness_gap(sums, f_input, f_baseline)}


def causal(capture: "Capture", options: ExplanationsOptions) -> Explained:
    """Shares [T = G, N] of every generated token."""
    import torch

    from ...attribution.baselines import baseline_for
    from ...attribution.gradients import gradient_ready, token_embeddings
    from ...attribution.integrated import causal_integrated_gradients
    from ...attribution.targets import generated_scores
    from .attention_gradients import causal_attention_gradients
    from .model_runs import causal_variant_scores

    methods, target = options.methods, options.target
    attentions = capture.stack(PATTERNS).astype(np.float64)                 # [L, H, N, N]
    n_layers, n_tokens, n_prompt = attentions.shape[0], attentions.shape[-1], capture.n_prompt
    rows = np.arange(n_prompt - 1, n_tokens - 1)                  # position predicting each generated token
    valid = np.arange(n_tokens)[None, :] <= rows[:, None]
    special = np.array([bool(t["special"]) for t in capture.tokens])
    ids = capture.input_ids[0]
    raw: dict[str, np.ndarray] = {}
    maps: dict[str, np.ndarray] = {}

    if RAW_ATTENTION in methods:
        raw[RAW_ATTENTION] = raw_attention(attentions)[rows]
    if ROLLOUT in methods:
        products = rollout_layers(attentions)                      # [L, N, N]
        raw[ROLLOUT] = products[-1][rows]
        if options.layer_maps:
            maps[ROLLOUT] = products[:, rows].transpose(1, 0, 2)
    if FLOW in methods:
        raw[FLOW], layered = flow_rows(residual_attention(attentions), rows, causal=True, layers=options.layer_maps)
        if options.layer_maps:
            maps[FLOW] = layered
    if VALUE_WEIGHTED in methods:
        last = n_layers - 1
        raw[VALUE_WEIGHTED] = value_weighted_norms(attentions[last][:, rows], capture.activations[
            hook_name(last, "attn.hook_v")], capture.weights[weight_name(last, "attn.W_O")])
    if any(name in methods for name in GRADIENT_METHODS):
        gradients = causal_attention_gradients(capture.model_run, ids, n_prompt, target)
        raw[GRAD_ROLLOUT] = gradients.relevance[np.arange(len(rows)), rows]
        raw[ATTENTION_X_GRADIENT] = gradients.attention_x_gradient.sum(axis=1)
        raw[GRADIENT_X_INPUT] = gradients.gradient_x_input
    if ATTENTION_ATTRIBUTION in methods:
        from .attention_attribution import causal_attention_attribution

        raw[ATTENTION_ATTRIBUTION] = causal_attention_attribution(capture.model_run, ids, n_prompt, target,
                                                                  steps=options.ig_steps)
    if VALUE_ZEROING in methods:
        from .value_zeroing import value_zeroing

        raw[VALUE_ZEROING] = value_zeroing(capture.model_run, ids, causal=True)[rows]
    ig = None
    if INTEGRATED_GRADIENTS in methods:
        baseline = baseline_for(capture.model_run, ids, options.baseline, neutral_id=capture.neutral_id,
                                special=special)
        result = causal_integrated_gradients(capture.model_run, ids, n_prompt, target, steps=options.ig_steps,
                                             baseline=baseline)
        attributions = result.attributions.detach().double().numpy()          # [G, N, D]
        raw[INTEGRATED_GRADIENTS] = np.linalg.norm(attributions, axis=-1)
        sums = np.where(valid, attributions.sum(axis=-1), 0.0).sum(axis=-1)
        ig = _ig_summary(result.f_input.double().numpy(), result.f_baseline.double().numpy(), sums)

    with gradient_ready(capture.model_run), torch.no_grad():
        values = generated_scores(capture.model_run, token_embeddings(capture.model_run, ids)[None], ids,
                                  n_prompt,
                                  target)[0].double().numpy()

    def run_masks(t: int, masks: np.ndarray) -> np.ndarray:
        position = n_prompt + t
        return causal_variant_scores(capture.model_run, ids, position, masks[:, :position], capture.neutral_id,
                                     target)

    shares = {name: normalise(np.clip(raw[name], 0, None), valid) for name in methods}
    maps = {name: normalise(np.clip(layers, 0, None), valid[:, None, :]) for name, layers in maps.items()}
    return Explained("causal", shares, maps, values, valid & ~special[None, :], run_masks, ig)


def similarity(capture: "Capture", options: ExplanationsOptions) -> Explained:
    """Shares [T = 1, Na + Nb] of a bi-encoder pair's cosine similarity (A's tokens first)."""
    from ...attribution.baselines import baseline_for
    from ...attribution.integrated import similarity_integrated_gradients
    from .attention_gradients import similarity_attention_gradients
    from .model_runs import similarity_variant_scores

    methods = options.methods
    sentences = capture.sentences
    sizes = [int(s.input_ids.shape[0]) for s in sentences]
    halves: dict[str, list[np.ndarray]] = {name: [] for name in methods if name in ATTENTION_ONLY}
    layer_halves: dict[str, list[np.ndarray]] = {}
    for sentence in sentences:
        attentions = sentence.stack(PATTERNS).astype(np.float64)
        n_layers, n = attentions.shape[0], attentions.shape[-1]
        if RAW_ATTENTION in methods:
            halves[RAW_ATTENTION].append(raw_attention(attentions).mean(axis=0))
        if ROLLOUT in methods:
            products = rollout_layers(attentions).mean(axis=1)               # [L, n]: mean over positions
            halves[ROLLOUT].append(products[-1])
            layer_halves.setdefault(ROLLOUT, []).append(products)
        if FLOW in methods:
            flows, layered = flow_rows(residual_attention(attentions), range(n), causal=False,
                                       layers=options.layer_maps)
            halves[FLOW].append(flows.mean(axis=0))
            if options.layer_maps:
                layer_halves.setdefault(FLOW, []).append(layered.mean(axis=0))
        if VALUE_WEIGHTED in methods:
            last = n_layers - 1
            pooled = attentions[last].mean(axis=1, keepdims=True)            # [H, 1, n]
            halves[VALUE_WEIGHTED].append(value_weighted_norms(
                pooled, sentence.activations[hook_name(last, "attn.hook_v")],
                capture.weights[weight_name(last, "attn.W_O")])[0])
        if VALUE_ZEROING in methods:
            from .value_zeroing import value_zeroing

            zeroed = value_zeroing(capture.model_run, sentence.input_ids, causal=False)
            halves[VALUE_ZEROING].append(zeroed.mean(axis=0))
    shares = {name: 0.5 * np.concatenate([normalise(np.clip(h, 0, None)) for h in parts])[None]
              for name, parts in halves.items()}
    maps = {}
    if options.layer_maps:
        maps = {name: 0.5 * np.concatenate([normalise(np.clip(h, 0, None)) for h in parts], axis=-1)[None]
                for name, parts in layer_halves.items()}

    ids_a, ids_b = (s.input_ids for s in sentences)
    joint: dict[str, np.ndarray] = {}
    gradients = similarity_attention_gradients(capture.model_run, ids_a, ids_b)
    if GRAD_ROLLOUT in methods:
        joint[GRAD_ROLLOUT] = np.concatenate([g.relevance[0].mean(axis=0) for g in gradients])
    if ATTENTION_X_GRADIENT in methods:
        joint[ATTENTION_X_GRADIENT] = np.concatenate([g.attention_x_gradient[0].sum(axis=0) for g in gradients])
    if GRADIENT_X_INPUT in methods:
        joint[GRADIENT_X_INPUT] = np.concatenate([g.gradient_x_input[0] for g in gradients])
    value = float(gradients[0].values[0])
    if ATTENTION_ATTRIBUTION in methods:
        from .attention_attribution import similarity_attention_attribution

        joint[ATTENTION_ATTRIBUTION] = np.concatenate(similarity_attention_attribution(
            capture.model_run, ids_a, ids_b, steps=options.ig_steps))
    ig = None
    if INTEGRATED_GRADIENTS in methods:
        baselines = None
        if options.baseline != "zero":
            baselines = tuple(baseline_for(capture.model_run, s.input_ids, options.baseline,
                                           neutral_id=capture.neutral_id, special=[t["special"] for t in s.tokens])
                              for s in sentences)
        results = similarity_integrated_gradients(capture.model_run, ids_a, ids_b, steps=options.ig_steps,
                                                  baselines=baselines)
        attributions = [r.attributions.detach().double().numpy() for r in results]
        joint[INTEGRATED_GRADIENTS] = np.concatenate([np.linalg.norm(a, axis=-1) for a in attributions])
        sums = np.array([sum(float(a.sum()) for a in attributions)])
        ig = _ig_summary([float(results[0].f_input)], [float(results[0].f_baseline)], sums)
    shares.update({name: normalise(np.clip(values, 0, None))[None] for name, values in joint.items()})
    shares = {name: shares[name] for name in methods}

    special = np.array([bool(t["special"]) for s in sentences for t in s.tokens])

    def run_masks(_t: int, masks: np.ndarray) -> np.ndarray:
        return similarity_variant_scores(capture.model_run, ids_a, ids_b, masks, capture.neutral_id)

    return Explained("similarity", shares, maps, np.array([value]), ~special[None, :], run_masks, ig,
                     extra={"sizes": sizes})
