"""Explanations compared: attention-based, gradient-based and attribution methods on one axis, with their
faithfulness measured on the same output.

For every explained output (each generated token of a causal model, or the cosine similarity of a sentence pair on a
bi-encoder) every method gives one share per input token, non-negative and summing to 1:

- `attention_maps`: raw attention (last layer, heads averaged) and attention rollout (Abnar & Zuidema 2020);
- `flow`: attention flow, max-flow on the layered graph of rollout capacities (Abnar & Zuidema 2020; scipy);
- `value_weighted`: the norm of each weighted, transformed value vector (Kobayashi et al. 2020);
- `attention_gradients`: gradient-weighted rollout (Chefer, Gur & Wolf 2021), Grad-SAM (Barkan et al. 2021, up to
  normalisation; payload key `attention_x_gradient`) and gradient x input, from one forward and one batched backward;
- `attention_attribution`: integrated gradients over each layer's attention weights (Hao et al. 2021), and
  `value_zeroing`: context mixing by zeroing one token's values (Mohebbi et al. 2023), the two methods that edit the
  model run by hook name (`generator.model_run`);
- integrated gradients from the attribution engine, `generator.attribution` (with its `baseline` option), which
  saliency uses too (this package imports nothing of `generator.methods.saliency`);
- `faithfulness`: deletion (AOPC, Samek et al. 2017), comprehensiveness and sufficiency (DeYoung et al. 2020, ERASER)
  against seeded random rankings, and the Spearman correlation of every pair of methods;
- `options`: the spec options and method names; `section`: the payload section and the registry record.

`options`, `attention_maps`, `flow`, `value_weighted` and the metric half of `faithfulness` import no torch.
"""
