"""Counterfactual figures on SmolLM2-135M-Instruct (Q4_1): the minimal-edit search and counterfactual attention,
and how both grow with the prompt.

    .venv/bin/python benchmarks/counterfactuals.py [--sizes 16 64 256] [--budget 256] [--permutations 20]
        [--repeats 3] [--growth-budget 64] [--growth-permutations 5]

1. A 24-token prompt (one generated token explained): the minimal-edit search with a budget of 256 verifying
   forwards, split into its parts: the whole-word candidates of the vocabulary (read once), gradient x input and the
   HotFlip gradient, and the search (batched verification through ModelRun); then counterfactual attention, 30
   layers x 20 permutations (+ the uniform rows, + all layers at once: 651 edited runs).
2. The same at prompts of 16, 64 and 256 tokens, once each, with a smaller budget and fewer permutations (the
   cost per verifying forward and per edited run is what grows).

Wall time and CPU time (user + system of this process) are printed side by side, with the load average: on a
machine shared with other jobs, wall time also counts the time spent waiting for a core. Model loading is not timed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import generator  # noqa: E402,F401  (before torch: it sets OpenMP's short spin, as the bake has it)

TEXT = ("In a quiet village at the foot of the mountains, an old clockmaker repaired watches for the travellers "
        "who passed through on their way north. He kept a ledger of every repair, and the ledger grew into a "
        "history of the village itself: births announced by a new pocket watch, weddings by a pair of matching "
        "dials, and long winters by the clocks that stopped when the stove went cold. ")


class Clock:
    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __str__(self) -> str:
        return f"{time.perf_counter() - self.wall:.2f} s wall, {time.process_time() - self.cpu:.2f} s CPU"


def prompt_text(tokenizer, n: int) -> str:
    ids = tokenizer(TEXT * (1 + n // 40))["input_ids"][:n]
    text = tokenizer.decode(ids)
    assert len(tokenizer(text)["input_ids"]) == n, "the prompt must re-tokenise to the same length"
    return text


def measure(fn, repeats: int):
    """Median wall and CPU seconds of `repeats` calls, the load average (1 min) after each, and fn's last result."""
    import statistics
    walls, cpus, loads, out = [], [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        loads.append(os.getloadavg()[0])
    return (f"median of {repeats}: {statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s CPU "
            f"(load {min(loads):.1f}-{max(loads):.1f})"), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[16, 64, 256])
    parser.add_argument("--budget", type=int, default=256)
    parser.add_argument("--permutations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each figure at 24 tokens (median)")
    parser.add_argument("--growth-budget", type=int, default=64, help="search budget at the growth sizes")
    parser.add_argument("--growth-permutations", type=int, default=5, help="permutations at the growth sizes")
    parser.add_argument("--no-main", action="store_true", help="skip the 24-token figures (growth sizes only)")
    parser.add_argument("--attention-only", action="store_true", help="counterfactual attention only (no search)")
    parser.add_argument("--full-too", action="store_true",
                        help="also time counterfactual attention with full-length runs (the suffix shortcut off)")
    parser.add_argument("--torch-threads", type=int, default=0, help="0: torch's default")
    args = parser.parse_args()

    import generator  # noqa: F401  (first: it sets OpenMP's passive waiting before torch starts)
    import numpy as np
    import torch

    from generator.capture import run
    from generator.methods.counterfactuals import hotflip, vocabulary
    from generator.methods.counterfactuals.attention import counterfactual_attention
    from generator.methods.counterfactuals.search import search
    from generator.methods.counterfactuals.target import Target
    from generator.methods.registry import Needs
    from generator.models.loading import POOL
    from generator.models.registry import resolve
    from generator.spec import Catalogue, spec_from_block

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT')}, load average {os.getloadavg()[0]:.1f} at start")
    loaded = POOL.get(resolve("smollm2"))
    tokenizer = loaded.tokenizer
    candidates = None
    for n in ([] if args.no_main else [24]) + list(args.sizes):
        main_size = n == 24
        budget = args.budget if main_size else args.growth_budget
        permutations = args.permutations if main_size else args.growth_permutations
        repeats = args.repeats if main_size else 1
        text = prompt_text(tokenizer, n)
        spec = spec_from_block(f"model: smollm2\ntext: {text!r}\ngenerate: 1\nmax_tokens: 512\nviews: [contrast]\n",
                               file="bench.md",
                               line_offset=0, catalogue=Catalogue({}))
        capture = run(spec, loaded, Needs(gradients=True, vocabulary=True, adapter=True))
        target = Target(capture, 0, 0.5)
        print(f"\n== {n}-token prompt (load average {os.getloadavg()[0]:.1f})")
        if args.attention_only:
            _attention(target, permutations, repeats, args.full_too)
            continue
        if candidates is None:
            clock = Clock()
            tokens = capture.tokens[:target.position]
            candidates = vocabulary.candidates(capture.vocabulary, vocabulary.scripts(tokens))
            print(f"candidates: {candidates.ids.size} whole-word tokens: {clock}")
        clock = Clock()
        saliency = target.saliency()
        gradient = target.gradient()
        print(f"gradient x input + HotFlip gradient: {clock}")
        tokens = capture.tokens[:target.position]
        allowed = np.flatnonzero(vocabulary.editable(tokens, capture.tokens[target.position]))
        positions = [int(p) for p in allowed[np.argsort(-saliency[allowed], kind="stable")][:6]]
        clock = Clock()
        options = [hotflip.best(gradient, target.table, target.row, p,
                                candidates.ids[candidates.for_token(tokens[p]["text"])], 8) for p in positions]
        print(f"HotFlip estimates, {len(positions)} positions x {candidates.ids.size} candidates: {clock}")
        figure, found = measure(lambda: search(target, positions, options, budget), repeats)
        size = found.result.edit.size if found.result is not None else None
        print(f"search: {found.forwards} verifying forwards (budget {budget}), {len(found.steps)} steps, "
              f"flip with {size} edited positions: {figure}", flush=True)
        _attention(target, permutations, repeats, args.full_too)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


def _attention(target, permutations: int, repeats: int, full_too: bool) -> None:
    """Counterfactual attention as the bake runs it (each run computes the explained position alone, from its
    layer: `ModelRun.run_edit_sets(from_positions=)`), and with full_too the same with that shortcut off (full-length
    runs started at their layer group), in the same process."""
    from generator.methods.counterfactuals.attention import counterfactual_attention
    from generator.model_run import ModelRun

    figure, record = measure(lambda: counterfactual_attention(target, permutations, 0), repeats)
    runs = (record["layers"] + 1) * (permutations + 1) + 1
    print(f"counterfactual attention: {record['layers']} layers x {permutations} permutations "
          f"({runs} runs): {figure}", flush=True)
    if full_too:
        original = ModelRun.suffix_refusal
        ModelRun.suffix_refusal = lambda self, positions: "off"
        try:
            figure, old = measure(lambda: counterfactual_attention(target, permutations, 0), repeats)
        finally:
            ModelRun.suffix_refusal = original
        gap = max(abs(a["tvd"]["median"] - b["tvd"]["median"]) for a, b in zip(record["permuted"], old["permuted"]))
        print(f"  the same with full-length runs: {figure}; largest difference of a median TVD {gap:.2e}",
              flush=True)


if __name__ == "__main__":
    main()
