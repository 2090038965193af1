"""Interventions (issue 23) on SmolLM2: knockout map, attention edits and patching grids against their targets.

Run by hand (figures go in benchmarks/RESULTS.md):

    .venv/bin/python benchmarks/interventions.py                    # everything
    .venv/bin/python benchmarks/interventions.py --parts knockout --lengths 24

Targets (SmolLM2-135M: 30 layers x 9 query heads, 3 key/value heads, d_model 576):
- knockout of all 270 heads at 24 tokens: at most 0.55x the time of a plain loop of one full forward per head. The
  knockout (`methods.interventions.knockout`, as the bake runs it) also removes each layer's attention block and MLP
  (330 edited runs, not 270); its runs of layer l start at block l from the cached residual stream and are batched
  per layer. The loop runs the whole model once per head (`ModelRun.run_with_hooks` with that head's hook_z zeroed;
  both keep only the last position's logits). Growth is reported at 16, 64 and 256 tokens (the loop there on one head
  per layer, 30 runs, scaled by 9, and said so);
- patching grids (3 kinds x 30 layers x 24 positions, both directions): at most 60 s;
- editing table (24 words x 4 factors, every layer): at most 20 s.

The machine is shared: the load average before and after each part is printed with its figures. The model load
(GGUF de-quantisation) is not counted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TEXT = ("The animal didn't cross the street because it was too tired, so it lay down on the warm stones and watched "
        "the cars go by while the children on the other side of the road laughed and called its name again and "
        "again until the evening came and the lights of the little town were lit one after another along the river. ")


def _load():
    from generator.model_run import ModelRun
    from generator.models.loading import POOL
    from generator.models.registry import resolve

    loaded = POOL.get(resolve("smollm2"))
    return loaded, ModelRun(loaded)


def _ids(loaded, n):
    import torch

    ids = loaded.tokenizer(TEXT * 8)["input_ids"][:n]
    assert len(ids) == n
    return torch.tensor([ids])


def _load_average() -> str:
    return "load %.1f %.1f %.1f" % os.getloadavg()


CPU = []   # process CPU seconds of the last _timed call (all threads): less sensitive to a shared machine's load


def _timed(fn, repeats=1):
    """Median wall seconds of `repeats` calls; CPU[-1] gets the median process CPU seconds."""
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    CPU.append(statistics.median(cpu))
    return statistics.median(times)


def knockout_part(loaded, run, lengths, repeats):
    import torch

    from generator.methods.interventions.explained import Explained
    from generator.methods.interventions.knockout import knockout

    L, H = run.info.n_layers, run.info.n_heads

    def zero(head):
        def fn(z, hook):
            z = z.clone()
            z[:, :, head] = 0
            return z
        return fn

    for n in lengths:
        ids = _ids(loaded, n)
        explained = Explained(run, [ids], 260)
        heads = [(layer, head) for layer in range(L) for head in range(H)]
        sample = heads if n <= 24 else [(layer, layer % H) for layer in range(L)]
        scale = len(heads) / len(sample)

        def loop():
            for layer, head in sample:
                run.run_with_hooks(ids, [(f"blocks.{layer}.attn.hook_z", zero(head))], logits_to_keep=1)
        print(f"[{n} tokens] {_load_average()}", flush=True)
        ours, plain, ours_cpu, plain_cpu = [], [], [], []
        with torch.no_grad():
            run.run_with_hooks(ids, logits_to_keep=1)          # warm-up
            for _ in range(repeats):                            # interleaved
                ours.append(_timed(lambda: knockout(explained, "zero", batch_size=16)))
                ours_cpu.append(CPU[-1])
                plain.append(_timed(loop) * scale)
                plain_cpu.append(CPU[-1] * scale)
        o, p = statistics.median(ours), statistics.median(plain)
        oc, pc = statistics.median(ours_cpu), statistics.median(plain_cpu)
        note = "" if scale == 1 else f" (loop measured on {len(sample)} heads, x{scale:g})"
        print(f"knockout {n} tokens: map {o:.2f} s wall / {oc:.2f} s CPU (330 runs), loop of 270 forwards "
              f"{p:.2f} s wall / {pc:.2f} s CPU{note}: ratio {o / p:.2f} wall, {oc / pc:.2f} CPU; {_load_average()}",
              flush=True)


def editing_part(loaded, run, n, repeats):
    from generator.methods.interventions.editing import Scope, editing
    from generator.methods.interventions.explained import Explained

    ids = _ids(loaded, n)
    explained = Explained(run, [ids], 260)
    print(f"[editing] {_load_average()}", flush=True)
    t = _timed(lambda: editing(explained, [Scope(0, run.info.n_layers - 1)], list(range(n)), [0.0, 0.5, 2.0, 4.0],
                               top_k=5, batch_size=16), repeats)
    print(f"editing {n} words x 4 factors, every layer: {t:.2f} s wall / {CPU[-1]:.2f} s CPU (target <= 20 s); "
          f"{_load_average()}", flush=True)


def patching_part(loaded, run, n, repeats):
    from generator.methods.interventions.explained import Explained
    from generator.methods.interventions.patching import patching

    ids = _ids(loaded, n)
    contrast = ids.clone()
    contrast[0, 1] = int(_ids(loaded, n + 5)[0, n + 3])
    explained = Explained(run, [ids], 260)
    print(f"[patching] {_load_average()}", flush=True)
    t = _timed(lambda: patching(explained, contrast, batch_size=16), repeats)
    print(f"patching 3 kinds x {run.info.n_layers} layers x {n} positions x 2 directions: {t:.2f} s wall / "
          f"{CPU[-1]:.2f} s CPU (target <= 60 s); {_load_average()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="knockout,editing,patching")
    parser.add_argument("--lengths", default="24,16,64,256")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=0)
    args = parser.parse_args()
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}", flush=True)
    loaded, run = _load()
    for part in args.parts.split(","):        # in the order given
        if part == "knockout":
            knockout_part(loaded, run, [int(n) for n in args.lengths.split(",")], args.repeats)
        elif part == "editing":
            editing_part(loaded, run, 24, args.repeats)
        elif part == "patching":
            patching_part(loaded, run, 24, max(1, args.repeats // 3))


if __name__ == "__main__":
    main()
