"""How big BertViz 1.4.1's head view page is for long texts: the HTML its own `head_view(..., html_action="return")`
writes, for the bundled models at 128-2,048 tokens (issue 22's comparison "where BertViz manages at all").

BertViz embeds every layer's full attention as JSON lists of Python floats (`attention.tolist()`), in one inline
script. This script measures the real HTML at the lengths where it fits in memory here (--measure) and extrapolates
the others from the measured bytes per weight (the page grows as layers x heads x N^2). V8's longest string is
2^29 - 24 characters (about 512 MiB): a page whose script is longer cannot even be parsed.

    pip download --no-deps bertviz==1.4.1 -d DIR && unzip DIR/bertviz-*.whl -d BERTVIZ
    .venv/bin/python benchmarks/bertviz_bytes.py --bertviz BERTVIZ [--measure 128 256 512]

BertViz imports IPython only for its display helpers; a three-line stand-in (HTML, Javascript, display) is put in
sys.modules so that its page-writing code runs unchanged without a notebook.
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import generator  # noqa: E402,F401  (before torch: it sets OpenMP's short spin, as the bake has it)
V8_MAX_STRING = 2 ** 29 - 24


def _stand_in_ipython() -> None:
    display = types.ModuleType("IPython.display")

    class HTML:
        def __init__(self, data):
            self.data = data

    display.HTML, display.Javascript, display.display = HTML, type("Javascript", (HTML,), {}), lambda *a, **k: None
    sys.modules.setdefault("IPython", types.ModuleType("IPython"))
    sys.modules["IPython.display"] = display


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bertviz", type=Path, required=True, help="folder holding the unpacked bertviz package")
    ap.add_argument("--measure", nargs="+", type=int, default=[128, 256, 512])
    ap.add_argument("--lengths", nargs="+", type=int, default=[512, 1024, 2048])
    args = ap.parse_args()
    sys.path.insert(0, str(args.bertviz))
    _stand_in_ipython()
    import torch
    from bertviz import head_view

    from generator.models.loading import POOL
    from generator.models.registry import resolve

    text = " ".join(["alpha", "beta", "gamma", "delta", "river", "stone", "light", "paper"] * 400)
    for alias in ("minilm", "smollm2"):
        loaded = POOL.get(resolve(alias))
        ids_all = loaded.tokenizer(text, return_tensors="pt")["input_ids"][0]
        limit = 512 if alias == "minilm" else 2048
        per_weight = []
        for n in [n for n in args.measure if n <= limit]:
            ids = ids_all[:n][None]
            with torch.no_grad():
                attentions = loaded.model(ids, output_attentions=True).attentions
            tokens = loaded.tokenizer.convert_ids_to_tokens(ids[0])
            start = time.perf_counter()
            page = head_view(attentions, tokens, html_action="return").data
            seconds = time.perf_counter() - start
            weights = sum(a.numel() for a in attentions)
            per_weight.append(len(page.encode()) / weights)
            print(f"{alias} {n:5d} tokens: measured {len(page.encode()) / 1e6:9.1f} MB HTML "
                  f"({per_weight[-1]:.1f} B per weight, written in {seconds:.1f} s)"
                  f"{'  > V8 max string' if len(page) > V8_MAX_STRING else ''}", flush=True)
        bpw = sorted(per_weight)[len(per_weight) // 2]
        layers, heads = loaded.model.config.num_hidden_layers, loaded.model.config.num_attention_heads
        for n in [n for n in args.lengths if n <= limit and n not in args.measure]:
            size = bpw * layers * heads * n * n
            print(f"{alias} {n:5d} tokens: extrapolated {size / 1e6:9.1f} MB HTML "
                  f"({bpw:.1f} B per weight x {layers} x {heads} x {n}^2)"
                  f"{'  > V8 max string' if size > V8_MAX_STRING else ''}", flush=True)


if __name__ == "__main__":
    main()
