"""Neuron-factor figures: bake time (capture + NMF) and payload size, and how they grow with tokens and layers.

Run by hand (figures go in the closing notes of issues and in docs when they change):

    .venv/bin/python benchmarks/factors.py            # budget line + scaling tables
    .venv/bin/python benchmarks/factors.py --compare  # also: these NMF settings vs scikit-learn's and Ecco's

Budget (SmolLM2, all 30 layers = 46,080 neurons, 64 tokens, counts [2, 5, 10]): capture + NMF <= 5 s on a 2-core
machine, payload <= 100 KB before gzip. Times are medians of 3 runs, after one warm-up run; the model load itself
(~20 s for the GGUF de-quantization) is not counted.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import generator  # noqa: E402,F401  (before torch: it sets OpenMP's short spin, as the bake has it)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Jane Austen, Pride and Prejudice (1813), chapter 1: public domain.
TEXT = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a "
    "wife. However little known the feelings or views of such a man may be on his first entering a neighbourhood, this "
    "truth is so well fixed in the minds of the surrounding families, that he is considered the rightful property of "
    "some one or other of their daughters. \"My dear Mr. Bennet,\" said his lady to him one day, \"have you heard that "
    "Netherfield Park is let at last?\" Mr. Bennet replied that he had not. \"But it is,\" returned she; \"for Mrs. Long "
    "has just been here, and she told me all about it.\" Mr. Bennet made no answer. \"Do you not want to know who has "
    "taken it?\" cried his wife impatiently. \"You want to tell me, and I have no objection to hearing it.\" This was "
    "invitation enough. \"Why, my dear, you must know, Mrs. Long says that Netherfield is taken by a young man of large "
    "fortune from the north of England; that he came down on Monday in a chaise and four to see the place, and was so "
    "much delighted with it, that he agreed with Mr. Morris immediately; that he is to take possession before "
    "Michaelmas, and some of his servants are to be in the house by the end of next week.\" \"What is his name?\" "
    "\"Bingley.\" \"Is he married or single?\" \"Oh! Single, my dear, to be sure! A single man of large fortune; four or "
    "five thousand a year. What a fine thing for our girls!\"")

COUNTS = [2, 5, 10]


def text_of(tokenizer, n_tokens: int) -> str:
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    special = len(tokenizer("a")["input_ids"]) - len(tokenizer("a", add_special_tokens=False)["input_ids"])
    if len(ids) + special < n_tokens:
        raise SystemExit(f"the benchmark text has only {len(ids)} tokens")
    return tokenizer.decode(ids[: n_tokens - special])


def measure(loaded, n_tokens: int, layers: str | int = "all", counts=COUNTS, repeats: int = 3) -> dict:
    from generator import SCHEMA_VERSION
    from generator.capture import run
    from generator.methods import Needs
    from generator.methods.factors.section import section
    from generator.payload import dumps
    from generator.spec import ExplorableSpec

    spec = ExplorableSpec(model=loaded.source.name, text=text_of(loaded.tokenizer, n_tokens), views=["factors"],
                          max_tokens=512, factors={"counts": counts, "layers": layers})
    captures, sections = [], []
    for attempt in range(repeats + 1):
        start = time.perf_counter()
        capture = run(spec, loaded, Needs(hooks=("blocks.*.mlp.hook_post",)))
        middle = time.perf_counter()
        result = section(spec, capture)
        end = time.perf_counter()
        if attempt:                     # the first run warms caches up
            captures.append(middle - start)
            sections.append(end - middle)
    assert len(capture.ids) == n_tokens, (len(capture.ids), n_tokens)
    payload = dumps({"schema_version": SCHEMA_VERSION, "model": loaded.info.describe(), "tokens": capture.tokens,
                     "n_prompt": capture.n_prompt, "factors": result})
    part = dumps(result)
    return {"tokens": n_tokens, "layers": len(result["layers"]),
            "neurons": len(result["layers"]) * result["neurons_per_layer"],
            "capture": statistics.median(captures), "nmf": statistics.median(sections),
            "iterations": [run_["iterations"] for run_ in result["runs"]],
            "errors": [run_["error"] for run_ in result["runs"]],
            "section": len(part), "payload": len(payload), "gzip": len(gzip.compress(payload, 9))}


def row(m: dict) -> str:
    total = m["capture"] + m["nmf"]
    return (f"| {m['tokens']:>6} | {m['layers']:>6} | {m['neurons']:>7,} | {m['capture']:6.2f} | {m['nmf']:6.2f} | "
            f"{total:6.2f} | {'/'.join(map(str, m['iterations'])):>10} | {m['section'] / 1000:7.1f} | "
            f"{m['payload'] / 1000:7.1f} | {m['gzip'] / 1000:6.1f} |")


HEADER = ("| tokens | layers | neurons | capture s | NMF s | total s | iterations | section KB | payload KB | gzip KB |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def compare(loaded, n_tokens: int = 64) -> None:
    """These settings against scikit-learn's own nndsvda init and Ecco's defaults, on the budget case.

    NMF has many optima of equal quality: each setting is compared with its own start run to convergence (tol 1e-5).
    """
    import warnings

    import numpy as np
    from scipy.optimize import linear_sum_assignment
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    from generator.capture import run

    from generator.methods import Needs
    from generator.methods.factors import nmf
    from generator.spec import ExplorableSpec

    spec = ExplorableSpec(model=loaded.source.name, text=text_of(loaded.tokenizer, n_tokens), views=["factors"])
    X = nmf.neuron_matrix(run(spec, loaded, Needs(hooks=("blocks.*.mlp.hook_post",))).activations, list(range(30)))
    X64 = X.astype(np.float64)
    svd, mean = nmf._SVD(X), float(X64.mean())

    def cosine(A, B):
        A = A / (np.linalg.norm(A, axis=0) + 1e-12)
        B = B / (np.linalg.norm(B, axis=0) + 1e-12)
        rows, cols = linear_sum_assignment(-(A.T @ B))
        return float((A.T @ B)[rows, cols].min())

    def fit(k, tol, max_iter, init):
        custom = init == "ours"
        model = NMF(k, solver="cd", tol=tol, max_iter=max_iter, random_state=0, init="custom" if custom else init)
        start = time.perf_counter()
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            if custom:
                W0, H0 = nmf.nndsvda(svd, k, mean)
                W = model.fit_transform(X, W=W0.astype(np.float32), H=H0.astype(np.float32))
            else:
                W = model.fit_transform(X)
        took = time.perf_counter() - start
        error = np.linalg.norm(X64 - W.astype(np.float64) @ model.components_) / np.linalg.norm(X64)
        return W, took, model.n_iter_, error

    print(f"\n{n_tokens} tokens x 30 layers, one fit per count (one BLAS thread):\n")
    print("| settings | count | time s | iterations | relative error | min cosine of W columns to the same start converged |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, init, tol, max_iter in [("this module: exact-SVD NNDSVDa, tol 1e-3, max_iter 400", "ours", 1e-3, 400),
                                       ("scikit-learn init='nndsvda', tol 1e-4 (defaults)", "nndsvda", 1e-4, 200),
                                       ("Ecco: init='random', max_iter=500", "random", 1e-4, 500)]:
        for k in COUNTS:
            W, took, iterations, error = fit(k, tol, max_iter, init)
            converged = fit(k, 1e-5, 5000, init)[0]
            print(f"| {label} | {k} | {took:.2f} | {iterations} | {error:.4f} | {cosine(W, converged):.3f} |",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", action="store_true", help="also compare NMF settings")
    parser.add_argument("--quick", action="store_true", help="only the budget line")
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="set torch's intra-op threads (default: torch's choice); on a machine shared with other "
                             "jobs, 1 avoids spinning threads that make the forward pass many times slower")
    args = parser.parse_args()

    from generator.models.loading import POOL
    from generator.models.registry import resolve
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    start = time.perf_counter()
    loaded = POOL.get(resolve("smollm2"))
    print(f"SmolLM2 loaded in {time.perf_counter() - start:.1f} s; torch threads: {torch.get_num_threads()}; "
          f"load average {os.getloadavg()[0]:.2f}")

    budget = measure(loaded, 64)
    total, size = budget["capture"] + budget["nmf"], budget["payload"]
    print(f"\nBudget case: 64 tokens x 30 layers (46,080 neurons) x counts {COUNTS}: "
          f"capture {budget['capture']:.2f} s + NMF {budget['nmf']:.2f} s = {total:.2f} s "
          f"(budget 5 s: {'ok' if total <= 5 else 'OVER'}); payload {size / 1000:.1f} KB before gzip "
          f"(budget 100 KB: {'ok' if size <= 100_000 else 'OVER'}), {budget['gzip'] / 1000:.1f} KB gzipped; "
          f"factors section {budget['section'] / 1000:.1f} KB; relative errors {budget['errors']}; "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.quick:
        return
    print("\nSequence length (all 30 layers, counts 2, 5, 10):\n" + HEADER)
    for n in (16, 32, 64, 128, 256):
        print(row(budget if n == 64 else measure(loaded, n)), flush=True)
    print("\nLayer count (64 tokens, counts 2, 5, 10):\n" + HEADER)
    for layers in (0, "0-3", "0-7", "0-14", "all"):
        print(row(budget if layers == "all" else measure(loaded, 64, layers)), flush=True)
    if args.compare:
        compare(loaded)


if __name__ == "__main__":
    main()
