"""Why integrated gradients on SmolLM2 cannot meet a 1 % completeness gap at 50 steps: figures, by hand.

    .venv/bin/python benchmarks/ig_completeness.py [--threads 2]

Part 1 evaluates the score f (logit of each generated token) on the zero-baseline path alpha * x for alpha from 1e-30
to 1. SmolLM2 has RMSNorm before every block and no biases, so f(0) = 0 exactly, but any alpha > 0 is normalised
back up to full size: f does not approach f(0) as alpha shrinks, it wanders between O(10) values down to the
smallest float32 numbers. No quadrature on [0, 1] can integrate that.

Part 2 measures the completeness gap |sum_i IG_i - (f(x) - f(b))| / |f(x) - f(b)| for several baselines b and
numbers of Gauss-Legendre steps. sum_i IG_i = integral_0^1 d/dalpha f(b + alpha (x - b)) d alpha is the same
quadrature the bake runs, but its integrand is one forward-mode derivative (torch.func.jvp) for all generated
tokens at once, so this script takes minutes where the full attributions would take hours.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import generator  # noqa: E402,F401  (before torch: it sets OpenMP's short spin, as the bake has it)

N_PROMPT = 24


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    import torch

    from benchmarks.saliency import load, sequence
    from generator.attribution.gradients import token_embeddings
    from generator.attribution.quadrature import ig_rule
    from generator.attribution.targets import generated_scores

    if args.threads:
        torch.set_num_threads(args.threads)
    tokenizer, model = load()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    ids = sequence(tokenizer, model, N_PROMPT)
    x = token_embeddings(model, ids)
    table = model.get_input_embeddings().weight

    def f(embeds: torch.Tensor) -> torch.Tensor:
        return generated_scores(model, embeds, ids, N_PROMPT, "logit")

    print(f"SmolLM2-135M-Instruct, {N_PROMPT}-token prompt + {ids.shape[0] - N_PROMPT} generated, logit target, "
          f"RMSNorm eps {model.config.rms_norm_eps:g}, token embedding RMS {x.pow(2).mean().sqrt():.3f}")

    print("\n## f(alpha x) on the zero-baseline path, first 6 generated tokens")
    print("| alpha | " + " | ".join(f"f{g}" for g in range(6)) + " |")
    print("|---|" + "---|" * 6)
    with torch.no_grad():
        for alpha in [0.0, 1e-30, 1e-20, 1e-12, 1e-8, 1e-6, 1e-4, 1e-2, 0.1, 0.5, 1.0]:
            values = f((alpha * x)[None])[0, :6]
            print(f"| {alpha:g} | " + " | ".join(f"{v:.2f}" for v in values.tolist()) + " |")

    def gaps(baseline: torch.Tensor, steps: int) -> torch.Tensor:
        alphas, weights = ig_rule("gausslegendre", steps)
        direction = x - baseline
        total = torch.zeros(ids.shape[0] - N_PROMPT, dtype=torch.float64)
        for start in range(0, steps, 25):
            alpha = torch.tensor(alphas[start:start + 25], dtype=x.dtype)
            points = baseline + alpha[:, None, None] * direction
            _, slopes = torch.func.jvp(f, (points,), (direction.expand_as(points).contiguous(),))
            total += (torch.tensor(weights[start:start + 25])[:, None] * slopes.double()).sum(0)
        with torch.no_grad():
            change = (f(x[None])[0] - f(baseline[None])[0]).double()
        return (total - change).abs() / change.abs()

    token = tokenizer.convert_tokens_to_ids("<|im_end|>")
    baselines = {
        "zero (the bake's)": torch.zeros_like(x),
        "zero, first token kept": torch.cat([x[:1], torch.zeros_like(x[1:])]),
        "<|im_end|>, first token kept": torch.cat([x[:1], table[token].expand_as(x[1:])]),
        "mean embedding, first token kept": torch.cat([x[:1], table.mean(0).expand_as(x[1:])]),
    }
    print("\n## completeness gap per generated token (Gauss-Legendre): median / max / tokens above 1 %")
    print("| baseline | 50 steps | 100 steps | 200 steps |")
    print("|---|---|---|---|")
    for name, baseline in baselines.items():
        cells = []
        for steps in (50, 100, 200):
            start = time.perf_counter()
            gap = gaps(baseline, steps)
            cells.append(f"{gap.median():.3f} / {gap.max():.3f} / {int((gap > 0.01).sum())} "
                         f"({time.perf_counter() - start:.0f} s)")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
