#!/usr/bin/env python3
"""Encode known arrays into explorable payload fixtures, independently of the JS decoder.

Writes
  tests/js/fixtures/arrays.json            small arrays + expected values for node unit tests
  tests/browser_fixtures/causal.json       30 layers x 9 heads x 64 tokens, causal (loaded via data-src)
  tests/browser_fixtures/widgets.html      standalone page: causal, sentence pair, and broken payloads
  tests/browser_fixtures/single.html       only the causal model view (first-paint measurement)

Only numpy + zlib + base64 (the ARCHITECTURE.md ARRAY format). Deterministic (fixed seed).
Run: python3 tests/js/make_fixtures.py
"""
import base64
import glob
import html
import json
import os
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BROWSER = os.path.join(ROOT, "tests", "browser_fixtures")


def encode(a, dtype, lo=None, hi=None):
    a = np.asarray(a, dtype=np.float64)
    lo = float(a.min()) if lo is None else lo
    hi = float(a.max()) if hi is None else hi
    if dtype == "float32":
        raw = a.astype("<f4").tobytes()
    else:
        levels = 255 if dtype == "uint8" else 65535
        span = (hi - lo) or 1.0
        q = np.clip(np.rint((a - lo) / span * levels), 0, levels)
        raw = q.astype("<u1" if dtype == "uint8" else "<u2").tobytes()
    return {"dtype": dtype, "shape": list(a.shape), "min": lo, "max": hi,
            "data": base64.b64encode(zlib.compress(raw, 9)).decode("ascii")}


def encode_rows(a, levels):
    """uint16 on a grid of `levels` steps over [0, 1], each row rounded so that its integers sum to round(levels *
    row sum) (the largest fractional parts go up), stored as byte planes: all high bytes, then all low bytes."""
    a = np.asarray(a, dtype=np.float64)
    flat = a.reshape(-1, a.shape[-1]) * levels
    q = np.floor(flat).astype(np.int64)
    for r, row in enumerate(flat):
        short = int(round(row.sum())) - int(q[r].sum())
        for i in sorted(range(len(row)), key=lambda i: (q[r, i] - row[i], i))[:short]:
            q[r, i] += 1
    q = q.ravel()
    raw = bytes((q >> 8).astype(np.uint8)) + bytes((q & 255).astype(np.uint8))
    return {"dtype": "uint16", "shape": list(a.shape), "min": 0.0, "max": 1.0, "levels": levels, "layout": "planes",
            "data": base64.b64encode(zlib.compress(raw, 9)).decode("ascii")}


def softmax_rows(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def fake_attention(L, H, N, causal, rng, sep=()):
    """Row-normalised attention with recognisable per-head patterns (sink, previous, self, local, broad, sharp)."""
    i = np.arange(N)[:, None]
    j = np.arange(N)[None, :]
    out = np.zeros((L, H, N, N))
    for layer in range(L):
        for head in range(H):
            kind = (layer * 7 + head * 3) % 6
            logits = rng.normal(0, 1.0, (N, N))
            if kind == 0:
                logits[:, 0] += 5.0
                for s in sep:
                    logits[:, s] += 4.0
            elif kind == 1:
                logits += 6.0 * (j == i - 1)
            elif kind == 2:
                logits += 5.0 * (j == i)
            elif kind == 3:
                logits -= 0.6 * np.abs(i - j)
            elif kind == 4:
                logits *= 0.3
            else:
                logits *= 2.5
            if causal:
                logits = np.where(j <= i, logits, -np.inf)
            out[layer, head] = softmax_rows(logits)
    return out


def tok(text, special=False, partial=False, segment=0, generated=False):
    return {"text": text, "special": special, "partial": partial, "segment": segment, "generated": generated}


def unit_fixtures(rng):
    cases = []
    for name, dtype, shape, lo, hi in [
        ("u8", "uint8", (2, 3, 4), 0.0, 1.0),
        ("u16", "uint16", (5, 7), -3.0, 5.0),
        ("f32", "float32", (3, 3), None, None),
        ("u8-wide", "uint8", (4, 4, 4, 4), -10.0, 10.0),
    ]:
        vals = rng.uniform(lo if lo is not None else -1e3, hi if hi is not None else 1e3, shape)
        enc = encode(vals, dtype, lo, hi)
        step = 0.0 if dtype == "float32" else (enc["max"] - enc["min"]) / (255 if dtype == "uint8" else 65535)
        cases.append({"name": name, "array": enc, "expected": vals.ravel().tolist(), "step": step})
    const = encode(np.full((3,), 0.25), "uint8", 0.25, 0.25)
    cases.append({"name": "constant", "array": const, "expected": [0.25] * 3, "step": 0.0})
    # attention rows that must keep summing to 1: 280 equal values, then softmax rows (own generator, so the
    # random draws of the fixtures above stay the same)
    rows = np.vstack([np.full((2, 280), 1 / 280), softmax_rows(np.random.default_rng(511).normal(0, 3, (6, 280)))])
    cases.append({"name": "u16-planes-rows", "array": encode_rows(rows.reshape(2, 4, 280), 511),
                  "expected": rows.ravel().tolist(), "step": 2 / 511, "row": 280})

    att = fake_attention(2, 2, 4, True, rng)
    good = {"schema_version": 1, "id": "tiny", "tokens": [tok("<s>", special=True), tok("The"), tok(" cat"), tok(" sat")],
            "attention": {"values": encode(att, "uint8", 0.0, 1.0)}}
    truncated = json.loads(json.dumps(good))
    comp = base64.b64decode(truncated["attention"]["values"]["data"])
    truncated["attention"]["values"]["data"] = base64.b64encode(comp[: len(comp) // 2]).decode()
    wrong_shape = json.loads(json.dumps(good))
    wrong_shape["attention"]["values"]["shape"] = [2, 2, 4, 5]
    mismatch_tokens = json.loads(json.dumps(good))
    mismatch_tokens["tokens"] = mismatch_tokens["tokens"][:3]
    return {
        "cases": cases,
        "payload": good,
        "attention_expected": att.ravel().tolist(),
        "bad": {
            "schema_version": json.dumps({**good, "schema_version": 2}),
            "no_schema": json.dumps({k: v for k, v in good.items() if k != "schema_version"}),
            "not_json": json.dumps(good)[:-5],
        },
        "truncated": truncated,
        "wrong_shape": wrong_shape,
        "mismatch_tokens": mismatch_tokens,
    }


def causal_payload(rng):
    words = ("<|im_start|> The animal didn't cross the street because it was too tired . I think it means"
             " the animal , not the street : animals get tired , streets do n't . 🙂 Café owners in"
             " München said the same thing about their dogs and cats , which are quite often"
             " tired after a long walk in the").split(" ")
    texts = [words[0], words[1]] + [" " + w for w in words[2:]]
    texts += [" " + w for w in "and then they sleep until the next morning comes around again .".split(" ")]
    texts = texts[:64]
    tokens = [tok(t) for t in texts]
    tokens[0]["special"] = True
    # the emoji split over two byte-level tokens: both carry part of its bytes
    e = texts.index(" 🙂")
    tokens[e] = tok(" 🙂", partial=True)
    tokens.insert(e + 1, tok("🙂", partial=True))
    tokens = tokens[:64]
    for t in tokens[54:]:
        t["generated"] = True
    N, L, H = 64, 30, 9
    att = fake_attention(L, H, N, True, rng)
    return {"schema_version": 1, "id": "causal-fixture", "title": "Causal fixture", "caption": "random, row-normalised",
            "model": {"name": "fixture", "label": "Fixture (30 layers, 9 heads)", "architecture": "llama", "causal": True,
                      "n_layers": L, "n_heads": H, "n_kv_heads": 3},
            "tokens": tokens, "n_prompt": 54, "views": ["head", "model"],
            "attention": {"values": encode(att, "uint8", 0.0, 1.0)}}


def pair_payload(rng):
    a = ["[CLS]", "the", " cat", " sat", " on", " the", " mat", ".", "[SEP]"]
    b = ["it", " was", " very", " comfort", "able", " <script>alert(1)</script>", " !", "[SEP]"]
    tokens = [tok(t, special=t in ("[CLS]", "[SEP]"), segment=0) for t in a]
    tokens += [tok(t, special=t == "[SEP]", segment=1) for t in b]
    N = len(tokens)
    att = fake_attention(12, 12, N, False, rng, sep=(8, N - 1))
    return {"schema_version": 1, "id": "pair-fixture", "title": "Pair fixture",
            "model": {"name": "fixture-bert", "label": "Fixture BERT (12 layers, 12 heads)", "architecture": "bert", "causal": False,
                      "n_layers": 12, "n_heads": 12, "n_kv_heads": 12},
            "tokens": tokens, "n_prompt": N, "views": ["head", "model"],
            "attention": {"values": encode(att, "uint8", 0.0, 1.0)}}


def page(pair, broken, single=False):
    css = sorted(glob.glob(os.path.join(ROOT, ".venv/lib/python3*/site-packages/material/templates/assets/stylesheets/*.min.css")))
    links = "\n".join(f'<link rel="stylesheet" href="/{os.path.relpath(c, ROOT)}">' for c in css)
    esc = lambda s: html.escape(s, quote=True)
    pj = esc(json.dumps(pair, ensure_ascii=False, separators=(",", ":")))
    # data-src is resolved against the widgets' script URL (generator/assets/js/) as ../data/NAME
    causal_src = "../../../tests/browser_fixtures/causal.json"
    blocks = [
        ("Causal, model view (30 x 9 heads, 64 tokens)", f'data-src="{causal_src}"', "<explorable-model-view></explorable-model-view>"),
        ("Causal, head view", f'data-src="{causal_src}"', '<explorable-head-view heads="0 1 2"></explorable-head-view>'),
        ("Sentence pair, head view + model view in one block", f'data-payload="{pj}"',
         "<explorable-head-view></explorable-head-view>\n<explorable-model-view></explorable-model-view>"),
    ]
    if single:  # one widget on an otherwise plain article: the first-paint measurement without neighbours
        blocks = blocks[:1]
        broken = []
    for title, attr in broken:
        blocks.append((f"Broken: {title}", attr, "<explorable-head-view></explorable-head-view><explorable-model-view></explorable-model-view>"))
    body = "\n".join(f'<h2>{html.escape(t)}</h2>\n<div class="explorable" {a} data-search-exclude>\n{v}\n</div>' for t, a, v in blocks)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Explorable widgets fixture</title>
<link rel="icon" href="data:,">
{links}
<link rel="stylesheet" href="/generator/assets/css/explorables.css">
<script type="module" src="/generator/assets/js/explorables.js"></script>
</head>
<body dir="ltr" data-md-color-scheme="default" data-md-color-primary="indigo" data-md-color-accent="indigo">
<div class="md-container"><main class="md-main"><div class="md-main__inner md-grid"><div class="md-content">
<article class="md-content__inner md-typeset">
<h1>Explorable widgets fixture</h1>
<p>Generated by tests/js/make_fixtures.py. Serve the repository root and open /tests/browser_fixtures/widgets.html.</p>
{body}
</article></div></div></main></div>
</body></html>
"""


def main():
    rng = np.random.default_rng(20240501)
    os.makedirs(os.path.join(HERE, "fixtures"), exist_ok=True)
    with open(os.path.join(HERE, "fixtures", "arrays.json"), "w") as f:
        json.dump(unit_fixtures(rng), f)
    causal = causal_payload(rng)
    with open(os.path.join(BROWSER, "causal.json"), "w") as f:
        json.dump(causal, f, ensure_ascii=False, separators=(",", ":"))
    pair = pair_payload(rng)
    bad_trunc = json.loads(json.dumps(pair))
    d = bad_trunc["attention"]["values"]["data"]
    bad_trunc["attention"]["values"]["data"] = d[: len(d) // 2 // 4 * 4]
    bad_shape = json.loads(json.dumps(pair))
    n = len(pair["tokens"])
    bad_shape["attention"]["values"]["shape"] = [12, 12, n, n - 1]
    esc = lambda o: html.escape(json.dumps(o), quote=True)
    broken = [
        ("invalid JSON", 'data-payload="{&quot;schema_version&quot;: 1, &quot;tokens&quot;: ["'),
        ("schema_version 2", f'data-payload="{esc({**pair, "schema_version": 2})}"'),
        ("truncated array data", f'data-payload="{esc(bad_trunc)}"'),
        ("shape does not match the bytes", f'data-payload="{esc(bad_shape)}"'),
        ("attention does not fit the tokens", f'data-payload="{esc({**pair, "tokens": pair["tokens"][:-1]})}"'),
        ("data-src 404", 'data-src="missing-0123456789.json"'),
    ]
    with open(os.path.join(BROWSER, "widgets.html"), "w") as f:
        f.write(page(pair, broken))
    with open(os.path.join(BROWSER, "single.html"), "w") as f:
        f.write(page(pair, broken, single=True))
    print("wrote fixtures; causal.json is", os.path.getsize(os.path.join(BROWSER, "causal.json")), "bytes")


if __name__ == "__main__":
    main()
