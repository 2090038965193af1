"""Input saliency: gradient x input, gradient norm and integrated gradients, as pure tensors-in, numpy-out functions.

- `causal_saliency(model, input_ids, n_prompt, target="logit", ig_steps=50, ...) -> CausalSaliency`: every
  generated token of a causal LM, batched (one forward, vectorised backward passes).
- `causal_saliency_reference(...)`: the same numbers from a plain loop, one prefix forward/backward per token.
- `similarity_saliency(model, input_ids_a, input_ids_b, ...) -> SimilaritySaliency`: a bi-encoder's cosine
  similarity of mean-pooled sentence embeddings.

The model is touched only through `get_input_embeddings()` and `model(inputs_embeds=..., attention_mask=...)`.
Importing this package does not import torch (results and rules are numpy only); the functions import it.
"""

from __future__ import annotations

import importlib
from typing import Any

from .quadrature import DEFAULT_IG_METHOD, IG_METHODS, ig_rule
from .results import (GRADIENT_NORM, GRADIENT_X_INPUT, INTEGRATED_GRADIENTS, METHODS, CausalSaliency,
                      SimilaritySaliency)
from .validation import IG_STEPS_MAX, IG_STEPS_MIN, TARGETS

_LAZY = {
    "causal_saliency": "causal", "causal_gradients": "causal", "causal_integrated_gradients": "causal",
    "causal_saliency_reference": "causal_reference",
    "similarity_saliency": "encoder", "similarity_gradients": "encoder", "similarity_integrated_gradients": "encoder",
    "IGTensors": "assemble",
}

__all__ = ["CausalSaliency", "SimilaritySaliency", "METHODS", "GRADIENT_X_INPUT", "GRADIENT_NORM",
           "INTEGRATED_GRADIENTS", "IG_METHODS", "DEFAULT_IG_METHOD", "IG_STEPS_MIN", "IG_STEPS_MAX", "TARGETS",
           "ig_rule", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
