"""Input saliency: gradient x input, gradient norm and integrated gradients, as tensors-in, numpy-out functions.
A client of the attribution engine (`generator.attribution`: targets, gradients, baselines, quadrature, integrated
gradients, checks), which it shares with the explanations comparison.

- `causal.causal_saliency(model, input_ids, n_prompt, target="logit", ig_steps=50, ...) -> CausalSaliency`: every
  generated token of a causal LM, batched (one forward, vectorised backward passes).
- `encoder.similarity_saliency(model, input_ids_a, input_ids_b, ...) -> SimilaritySaliency`: a bi-encoder's cosine
  similarity of mean-pooled sentence embeddings.
- `section`: the payload section and the method's registry record; `scores`: result containers and the way from
  attributions to token shares.

`section` and `scores` do not import torch; `causal` and `encoder` do.
"""
