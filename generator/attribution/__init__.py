"""The attribution engine: what every method that attributes one output to the input tokens shares.

Saliency (`generator.methods.saliency`) and the explanations comparison (`generator.methods.explanations`) are its
two clients; neither imports the other's modules (Captum's shared `_utils` under many methods, in small).

- `targets`: the explained scores, declared once (logit, probability, similarity) and read from a model run;
- `gradients`: the contact with the model (input embeddings in, outputs out) and batched vector-Jacobian products;
- `baselines`: integrated gradients' baselines (zero, neutral, mean) with their descriptions, and their set-up;
- `quadrature`: the integration rules; `integrated`: integrated gradients of the causal and the similarity targets;
- `shares`: from attributions to token shares, and the completeness gap;
- `checks`: argument checks and limits; `rules`: the spec rules of a method explaining one output (placed errors);
- `options`: the options the clients share (`target`, `ig_steps`, `baseline`), declared once.

`targets`, `baselines`, `quadrature`, `shares`, `checks`, `rules` and `options` import no torch.
"""
