"""Interventions (issue 23) on SmolLM2: knockout map, attention edits and patching grids against their targets.

Run by hand (figures go in benchmarks/RESULTS.md):

    .venv/bin/python benchmarks/interventions.py                    # everything
    .venv/bin/python benchmarks/interventions.py --parts knockout --lengths 24

Targets (SmolLM2-135M: 30 layers x 9 query heads, 3 key/value heads, d_model 576):
- knockout of all 270 heads at 24 tokens: at most 0.55x the time of a plain loop of one full forward per head. The
  knockout (`methods.interventions.knockout`, as the bake runs it) also removes each layer's attention block and MLP
  (330 edited runs, not 270): both are timed, the 270 heads alone against the target. Runs of layer l start at
  block l from the cached residual stream, all layers batched with staggered starts. The loop runs the whole model
  once per head (`ModelRun.run_with_hooks` with that head's hook_z zeroed; both keep only the last position's
  logits), timed on one head per layer (30 forwards, all the same cost) and scaled by 9, in the same process,
  interleaved with the map. Growth is reported at 16, 64 and 256 tokens;
- patching grids (3 kinds x 30 layers x 24 positions): at most 60 s. The bake computes them in both directions
  (restore and break, 2 x 2,160 cells): the total is timed against the target, and each direction's edited runs
  are printed apart;
- editing table (24 words x 4 factors, every layer): at most 20 s.
Both compute each edited run only from its first changed position (`ModelRun.run_edit_sets(from_positions=)`);
`--full-too` also times them with full-length runs in the same process; `--patching-variants serial,new,serial,new`
times patching with its batches one after the other at 2 torch threads (session 6) and in two threads at one torch
thread each (`ModelRun.streams`) alternately (`old`: without the session-6 cuts either), printing the positions each
computed.

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
import generator  # noqa: E402,F401  (before torch: it sets OpenMP's short spin, as the bake has it)

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


def knockout_part(loaded, run, lengths, repeats, batch_size):
    import torch

    from generator import hooks
    from generator.methods.interventions.explained import Explained
    from generator.methods.interventions.knockout import _remove, knockout

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
        # the loop's forwards all cost the same whatever head they edit: time one head per layer, scale by H
        sample = [(layer, layer % H) for layer in range(L)]
        scale = L * H / len(sample)

        def loop():
            for layer, head in sample:
                run.run_with_hooks(ids, [(f"blocks.{layer}.attn.hook_z", zero(head))], logits_to_keep=1)

        def heads_only():
            # the 270 head knockouts alone, as knockout() runs them (clean cache, then staggered batches)
            names = [hooks.hook_name(layer, "hook_resid_pre") for layer in range(L)]
            cache = explained.clean_cache(names)[0]
            sets = [[(hooks.hook_name(layer, "attn.hook_z"), _remove(head, "zero"))]
                    for layer in range(L) for head in range(H)]
            layers = [layer for layer in range(L) for _ in range(H)]
            explained.log_probs(sets, batch_size=batch_size,
                                starts=(layers, [{l: cache[names[l]] for l in range(1, L)}]))
        print(f"[{n} tokens] {_load_average()}", flush=True)
        times = {"heads": [], "map": [], "loop": []}
        cpu = {"heads": [], "map": [], "loop": []}
        with torch.no_grad():
            run.run_with_hooks(ids, logits_to_keep=1)          # warm-up
            for _ in range(repeats):                            # interleaved
                for key, fn, factor in (("heads", heads_only, 1), ("loop", loop, scale),
                                        ("map", lambda: knockout(explained, "zero", batch_size=batch_size), 1)):
                    times[key].append(_timed(fn) * factor)
                    cpu[key].append(CPU[-1] * factor)
        w = {key: statistics.median(value) for key, value in times.items()}
        c = {key: statistics.median(value) for key, value in cpu.items()}
        print(f"knockout {n} tokens, batch {batch_size}, medians of {repeats}: 270 heads {w['heads']:.2f} s wall / "
              f"{c['heads']:.2f} s CPU; full map (270 heads + 30 blocks + 30 MLPs, 330 runs) {w['map']:.2f} s / "
              f"{c['map']:.2f} s CPU; loop of 270 forwards {w['loop']:.2f} s / {c['loop']:.2f} s CPU (timed on "
              f"{len(sample)} heads, x{scale:g}). Ratio heads/loop {w['heads'] / w['loop']:.3f} wall, "
              f"{c['heads'] / c['loop']:.3f} CPU; map/loop {w['map'] / w['loop']:.3f} wall, "
              f"{c['map'] / c['loop']:.3f} CPU; {_load_average()}", flush=True)


def _full_length(fn):
    """fn() with the suffix shortcut off (every edited run computes all positions: `ModelRun.suffix_refusal`)."""
    from generator.model_run import ModelRun

    original = ModelRun.suffix_refusal
    ModelRun.suffix_refusal = lambda self, positions: "off"
    try:
        return fn()
    finally:
        ModelRun.suffix_refusal = original


def editing_part(loaded, run, n, repeats, batch_size, full_too=False):
    from generator.methods.interventions.editing import Scope, editing
    from generator.methods.interventions.explained import Explained

    ids = _ids(loaded, n)
    explained = Explained(run, [ids], 260)
    print(f"[editing] {_load_average()}", flush=True)
    table = lambda: editing(explained, [Scope(0, run.info.n_layers - 1)], list(range(n)),   # noqa: E731
                            [0.0, 0.5, 2.0, 4.0], top_k=5, batch_size=batch_size)
    t = _timed(table, repeats)
    print(f"editing {n} words x 4 factors, every layer, batch {batch_size}, median of {repeats}: {t:.2f} s wall / {CPU[-1]:.2f} s CPU (target <= 20 s); "
          f"{_load_average()}", flush=True)
    if full_too:
        t = _timed(lambda: _full_length(table), repeats)
        print(f"  the same with full-length runs: {t:.2f} s wall / {CPU[-1]:.2f} s CPU; {_load_average()}", flush=True)


# patching's exact cuts, switched off by keyword (`patching(late=..., last_query=...)`), and the batches in two
# threads at once (`ModelRun.streams`, `_batches`): "serial" is session 6's code (one batch after the other, at 2 torch
# threads), "old" the code before session 6 (every run of layer l from block l, the last block at every position)
VARIANTS = {"new": {}, "serial": {"streams": 1}, "old": {"late": False, "last_query": False, "streams": 1},
            "late": {"last_query": False, "streams": 1}, "last": {"late": False, "streams": 1}}


def _block_positions(run):
    """Forward hooks counting the positions each block computed: {"blocks": rows x positions of each block's
    output (blocks skipped by a staggered start return an empty batch), "mlp": the same of each block's MLP (with
    last_query the last block's MLP, output projection and attention weights run at one position per row, its
    q/k/v projections at all)}; and the hooks' handles."""
    counted = {"blocks": [], "mlp": []}

    def hook(which):
        return lambda _module, _args, out: counted[which].append(
            (out[0] if isinstance(out, tuple) else out).shape[:2].numel())
    blocks = run.adapter.blocks(run.model) + run.adapter.blocks(run.twin().model)    # both threads (`_batches`)
    return counted, ([block.register_forward_hook(hook("blocks")) for block in blocks]
                     + [run.adapter.mlp_module(block).register_forward_hook(hook("mlp")) for block in blocks])


def patching_part(loaded, run, n, repeats, batch_size, full_too=False, variants=("new",)):
    import numpy as np
    import torch

    from generator.methods.interventions.explained import Explained
    from generator.methods.interventions.patching import patching

    ids = _ids(loaded, n)
    contrast = ids.clone()
    contrast[0, 1] = int(_ids(loaded, n + 5)[0, n + 3])
    explained = Explained(run, [ids], 260)
    # the target names one direction's grids (3 kinds x 30 layers x 24 positions); the bake computes two (restore:
    # the contrast run edited; break: the clean run edited): the edited runs of each are timed apart by their input
    spent = {"restore": 0.0, "break": 0.0}
    log_probs = Explained.log_probs

    def timed_log_probs(self, sets, **options):
        start = time.perf_counter()
        try:
            return log_probs(self, sets, **options)
        finally:
            if options.get("from_positions") is not None:     # the edited runs, not the two probabilities
                edited = options.get("ids")
                spent["break" if edited is None or torch.equal(edited, ids) else "restore"] += \
                    time.perf_counter() - start
    Explained.log_probs = timed_log_probs
    first = {}
    for variant in variants:
        print(f"[patching {variant}] {_load_average()}", flush=True)
        options = dict(VARIANTS[variant])
        streams = options.pop("streams", 2)

        def grids():
            run.streams = streams
            try:
                return patching(explained, contrast, batch_size=batch_size, **options)
            finally:
                run.streams = 2
        counted, handles = _block_positions(run)
        result = {}

        def once():
            for counts in counted.values():
                counts.clear()
            for direction in spent:
                spent[direction] = 0.0
            result.update(grids())
        try:
            t = _timed(once, repeats)
        finally:
            for handle in handles:
                handle.remove()
        first.setdefault("grids", result)
        differs = max(float(np.abs(result[d] - first["grids"][d]).max()) for d in ("restore", "break"))
        print(f"patching {variant}, batch {batch_size}, median of {repeats}: 3 kinds x {run.info.n_layers} layers x "
              f"{n} positions x 2 directions: {t:.2f} s wall / {CPU[-1]:.2f} s CPU (target <= 60 s); "
              f"{sum(counted['blocks']):,} block-positions, {sum(counted['mlp']):,} MLP positions (cache runs "
              f"included); largest difference from the first variant's "
              f"grids {differs:.3g}; {_load_average()}", flush=True)
        print(f"  edited runs of the last call: restore {spent['restore']:.2f} s, break {spent['break']:.2f} s wall; "
              f"the rest of the call (if repeats is 1: the cache runs, the probabilities) "
              f"{t - sum(spent.values()):.2f} s", flush=True)
    if full_too:
        t = _timed(lambda: _full_length(grids), repeats)
        print(f"  the same with full-length runs: {t:.2f} s wall / {CPU[-1]:.2f} s CPU; {_load_average()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="knockout,editing,patching")
    parser.add_argument("--lengths", default="24,16,64,256")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=2, help="2: as the bake (generator.bake.BAKE_THREADS)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--full-too", action="store_true",
                        help="editing and patching also with the suffix shortcut off (full-length runs), same process")
    parser.add_argument("--patching-length", type=int, default=24)
    parser.add_argument("--patching-variants", default="new",
                        help=f"comma-separated, run in this order in one process (old/new alternately): "
                             f"{', '.join(VARIANTS)}")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.torch_threads)
    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}", flush=True)
    loaded, run = _load()
    for part in args.parts.split(","):        # in the order given
        if part == "knockout":
            knockout_part(loaded, run, [int(n) for n in args.lengths.split(",")], args.repeats, args.batch_size)
        elif part == "editing":
            editing_part(loaded, run, 24, args.repeats, args.batch_size, args.full_too)
        elif part == "patching":
            patching_part(loaded, run, args.patching_length, args.repeats, args.batch_size, args.full_too,
                          args.patching_variants.split(","))


if __name__ == "__main__":
    main()
