"""Input saliency: gradient x input, gradient norm and integrated gradients, as tensors-in, numpy-out functions.

- `causal.causal_saliency(model, input_ids, n_prompt, target="logit", ig_steps=50, ...) -> CausalSaliency`: every
  generated token of a causal LM, batched (one forward, vectorised backward passes).
- `encoder.similarity_saliency(model, input_ids_a, input_ids_b, ...) -> SimilaritySaliency`: a bi-encoder's cosine
  similarity of mean-pooled sentence embeddings.
- `section`: the payload section and the method's registry record; `checks`: argument checks and limits;
  `gradients`: the contact with the model; `quadrature`: integration rules; `scores`: result containers and the
  normalisation to token shares.

The model is touched only through `get_input_embeddings()` and `model(inputs_embeds=..., attention_mask=...)`.
`section`, `scores`, `checks` and `quadrature` do not import torch; `causal`, `encoder` and `gradients` do.
"""
