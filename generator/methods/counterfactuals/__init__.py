"""What would change the answer: counterfactual and adversarial edits, author contrasts and counterfactual attention.

One explained output (a causal model's generated token, or an encoder pair's cosine similarity), and:

- `versions`: author contrasts beside the text, aligned by a word-level diff;
- `vocabulary`: which positions an edit may change and which whole-word tokens may go there;
- `hotflip`: HotFlip's first-order estimate of each replacement (Ebrahimi et al. 2018);
- `search`: the smallest edit that flips the answer, binary search over the number of edited positions (after MiCE,
  Ross et al. 2021), every step recorded; the adversarial variant searches the least salient half only;
- `attention`: counterfactual attention, permuted and uniform rows at the explained position (Jain & Wallace 2019);
- `target`: the explained output and every model run (`generator.model_run.ModelRun`);
- `attribution`: the one import of gradient x input (the saliency package's);
- `options`, `section` (the registry record), `build` (assembles the section).

`options` and `section` import no torch.
"""
