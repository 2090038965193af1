"""The independent side of the causal-saliency tests: Captum run once per generated token on the full sequence,
scores normalised by hand, and the tolerance rule. Shared by the tiny-model and the SmolLM2 tests."""

from __future__ import annotations

import numpy as np
import torch

from generator.methods.saliency.scores import GRADIENT_NORM, GRADIENT_X_INPUT, INTEGRATED_GRADIENTS


def captum_forward(model, position: int, token: int, target: str):
    """f_p as a Captum forward function of the full sequence's embeddings [B, N, D]."""
    def forward(embeds):
        mask = torch.ones(embeds.shape[:2], dtype=torch.long)
        logits = model(inputs_embeds=embeds, attention_mask=mask).logits[:, position - 1]
        return logits[:, token] if target == "logit" else torch.softmax(logits, -1)[:, token]
    return forward


def captum_attributions(model, ids, n_prompt: int, target: str, ig_steps: int = 50,
                        ig_method: str = "gausslegendre") -> dict[str, np.ndarray]:
    """Per-dimension attributions [G, N, D] of every generated token by InputXGradient, Saliency and
    IntegratedGradients (zero baseline)."""
    from captum.attr import InputXGradient, IntegratedGradients, Saliency
    x = model.get_input_embeddings()(ids).detach()[None].requires_grad_(True)  # as Captum wants it
    out = {GRADIENT_X_INPUT: [], GRADIENT_NORM: [], INTEGRATED_GRADIENTS: []}
    for p in range(n_prompt, ids.shape[0]):
        forward = captum_forward(model, p, int(ids[p]), target)
        out[GRADIENT_X_INPUT].append(InputXGradient(forward).attribute(x)[0])
        out[GRADIENT_NORM].append(Saliency(forward).attribute(x, abs=False)[0])
        out[INTEGRATED_GRADIENTS].append(IntegratedGradients(forward).attribute(
            x, baselines=torch.zeros_like(x), n_steps=ig_steps, method=ig_method)[0])
    return {name: torch.stack(values).detach().numpy() for name, values in out.items()}


def normalised_by_hand(raw: np.ndarray, n_prompt: int) -> np.ndarray:
    """Row g: L2 norm over the embedding of each token before position n_prompt + g, divided by their sum."""
    scores = np.zeros(raw.shape[:2])
    for g in range(raw.shape[0]):
        norms = np.linalg.norm(raw[g, :n_prompt + g], axis=-1)
        scores[g, :n_prompt + g] = norms / norms.sum()
    return scores


def assert_close(ours, theirs, rtol=1e-5):
    """Agreement to rtol, relative to the largest magnitude of the expected array."""
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * np.abs(theirs).max())
