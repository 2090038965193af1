"""Explanation-method figures on SmolLM2-135M-Instruct (Q4_1): attention flow against the original networkx
formulation, rollout, and the whole comparison bake and how it grows with the prompt.

    .venv/bin/python benchmarks/explanations.py [--threads 1] [--sizes 16 64 256] [--bake-only]

1. Attention flow of every output position of a 64-token input (30 layers, shares only), with scipy's Dinic on the
   pruned blocks (generator/methods/explanations/flow.py); then, on the first 12 and 16 tokens of the same input
   (the same attention: a causal model's first n rows and columns are its attention on the n-token prefix), the
   authors' formulation: a networkx DiGraph with float capacities and Edmonds-Karp for every (output, input) pair,
   and networkx's default algorithm (preflow-push), against ours on the same case, with the largest difference.
2. Rollout (all 30 partial products) for the 64-token input.
3. The whole comparison bake without integrated gradients (seven methods, faithfulness with the default five steps
   and three random orders, layer maps), 24-token prompt + 8 generated, split into its parts; then prompts of 16,
   64 and 256 tokens (+ 8 generated). Model loading is not timed.

Wall time and CPU time (user + system of this process) are printed side by side: on a machine shared with other
jobs, wall time also counts the time spent waiting for a core.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import generator  # noqa: E402,F401  (before torch: it sets OpenMP's short spin, as the bake has it)

TEXT = ("In a quiet village at the foot of the mountains, an old clockmaker repaired watches for the travellers "
        "who passed through on their way north. He kept a ledger of every repair, and the ledger grew into a "
        "history of the village itself: births announced by a new pocket watch, weddings by a pair of matching "
        "dials, and long winters by the clocks that stopped when the stove went cold. ")
WITHOUT_IG = ["raw_attention", "rollout", "flow", "grad_rollout", "attention_x_gradient", "value_weighted",
              "gradient_x_input"]


class Clock:
    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __str__(self) -> str:
        return f"{time.perf_counter() - self.wall:.2f} s wall, {time.process_time() - self.cpu:.2f} s CPU"

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.wall


def prompt_text(tokenizer, n: int) -> str:
    """A text that tokenises to exactly n tokens (checked)."""
    ids = tokenizer(TEXT * (1 + n // 40))["input_ids"][:n]
    text = tokenizer.decode(ids)
    assert len(tokenizer(text)["input_ids"]) == n, "the prompt must re-tokenise to the same length"
    return text


def networkx_flows(augmented, n):
    """The authors' formulation (Abnar & Zuidema's released code, rewritten): every (output, input) pair's maximum
    flow on a networkx DiGraph with float capacities."""
    import networkx as nx
    import numpy as np

    layers = augmented.shape[0]
    graph = nx.DiGraph()
    for layer in range(1, layers + 1):
        for k in range(n):
            for j in range(k + 1):
                graph.add_edge((layer, k), (layer - 1, j), capacity=float(augmented[layer - 1, k, j]))
    out = {}
    for name, algorithm in (("edmonds_karp", nx.algorithms.flow.edmonds_karp),
                            ("preflow_push", nx.algorithms.flow.preflow_push)):
        clock = Clock()
        flows = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1):
                flows[i, j] = nx.maximum_flow_value(graph, (layers, i), (0, j), flow_func=algorithm)
        out[name] = (clock.seconds, str(clock), flows / flows.sum(axis=1, keepdims=True))
    return out


def flow_and_rollout(loaded) -> None:
    import numpy as np

    from generator.capture import run
    from generator.methods.explanations.attention_maps import residual_attention, rollout, rollout_layers
    from generator.methods.explanations.flow import flow_rows
    from generator.methods.registry import Needs
    from generator.spec import spec_from_data

    text = prompt_text(loaded.tokenizer, 64)
    capture = run(spec_from_data({"model": "smollm2", "text": text}, file="benchmark"), loaded,
                  Needs(hooks=("blocks.*.attn.hook_pattern",)))
    augmented = residual_attention(capture.attentions)
    print(f"\n## Attention flow, SmolLM2 30 layers x 64 tokens, all 64 output positions (shares)")
    clock = Clock()
    flow_rows(augmented, range(64), causal=True)
    print(f"scipy (Dinic, pruned blocks): {clock}")
    for n in (12, 16):
        small = residual_attention(capture.attentions[:, :, :n, :n])
        clock = Clock()
        ours, _ = flow_rows(small, range(n), causal=True)
        ours_time, ours_text = clock.seconds, str(clock)
        print(f"\n30 layers x {n} tokens, all {n} outputs: scipy {ours_text}")
        for name, (seconds, text_, flows) in networkx_flows(small, n).items():
            print(f"networkx {name}: {text_}; {seconds / ours_time:.0f}x slower; largest difference "
                  f"{np.abs(flows - ours).max():.2g}")
    print("\n## Rollout, 30 layers x 64 tokens")
    for name, function in (("rollout (R only)", rollout), ("rollout_layers (all 30 partial products)", rollout_layers)):
        best = min(_timed(function, capture.attentions) for _ in range(5))
        print(f"{name}: {1000 * best:.1f} ms (best of 5, from the captured float32 attentions)")


def _timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


@contextmanager
def parts(record: dict):
    """Time the stages of one bake by wrapping the functions the section looks up when it runs."""
    import generator.methods.explanations.attention_gradients as gradients
    import generator.methods.explanations.faithfulness as faithfulness
    import generator.methods.explanations.shares as shares

    targets = [(shares, "rollout_layers"), (shares, "flow_rows"), (shares, "value_weighted_norms"),
               (gradients, "causal_attention_gradients"), (faithfulness, "evaluate")]
    saved = [(module, name, getattr(module, name)) for module, name in targets]
    for module, name, original in saved:
        def timed(*args, __original=original, __name=name, **kwargs):
            clock = Clock()
            result = __original(*args, **kwargs)
            record[__name] = record.get(__name, 0.0) + clock.seconds
            return result
        setattr(module, name, timed)
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def whole_bake(loaded, n_prompt: int, layer_maps: bool = True) -> None:
    from generator.capture import run
    from generator.methods import REGISTRY
    from generator.spec import spec_from_data

    spec = spec_from_data({"model": "smollm2", "text": prompt_text(loaded.tokenizer, n_prompt), "generate": 8,
                           "views": ["explanations"], "max_tokens": 512,
                           "explanations": {"methods": WITHOUT_IG, "layer_maps": layer_maps}}, file="benchmark")
    method = REGISTRY["explanations"]
    record: dict[str, float] = {}
    total = Clock()
    clock = Clock()
    capture = run(spec, loaded, method.needs)
    record["capture (tokenise, generate 8, forward)"] = clock.seconds
    with parts(record):
        method.section(spec, capture)
    detail = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in record.items())
    print(f"| {n_prompt} + 8 | {total} | {detail} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--sizes", nargs="*", type=int, default=[16, 64, 256],
                        help="prompt lengths baked after the 24 + 8 bake (none: only that one)")
    parser.add_argument("--bake-only", action="store_true", help="skip flow and rollout, and the 24 + 8 bake")
    args = parser.parse_args()

    import torch

    from generator.models.loading import POOL
    from generator.models.registry import resolve

    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    loaded = POOL.get(resolve("smollm2"))
    print(f"torch threads: {torch.get_num_threads()}; load average at start: {os.getloadavg()[0]:.1f}")
    if not args.bake_only:
        flow_and_rollout(loaded)
    print("\n## Whole comparison bake without integrated gradients (wall, CPU; parts in wall seconds)")
    print("| prompt + generated | total | parts |\n|---|---|---|")
    if not args.bake_only:
        whole_bake(loaded, 24)
    for n in args.sizes:
        whole_bake(loaded, n, layer_maps=n < 256)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
