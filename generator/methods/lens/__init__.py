"""The logit lens: what the model would predict after each layer (nostalgebraist 2020; Ecco's layer predictions and
rankings), the ranks of chosen tokens through the layers, and the model's output probabilities.

- `options`: what authors write under `lens:` (top_k, watch);
- `compute`: the lens itself, `logit_lens(hidden, readout, ...)`, chunked so the [layers, positions, vocabulary]
  logits never exist at once (needs torch);
- `section`: the payload section, the model checks, and the method's registry record (no torch import).
"""
