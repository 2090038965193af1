"""Every number and checkable claim of the article "Is attention an explanation?" (docs/explanations.md), recomputed
from the baked payloads of its curated examples. If the models, the methods or the encoding change what the figures
show, this fails and the prose must be updated."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from generator.bake import Baker
from generator.payload import decode_array
from generator.spec import Catalogue

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
CAUSAL = ("explain-pronoun", "explain-counting", "explain-capital", "explain-shakespeare")


class Example:
    def __init__(self, payload: dict):
        self.section = section = payload["explanations"]
        self.methods = section["methods"]
        self.shares = decode_array(section["shares"])                           # [M, T, N]
        faith = section["faithfulness"]
        self.aopc = np.array(faith["aopc"], dtype=float)                         # [M + 1, T]
        self.spearman = np.array(faith["spearman"], dtype=float)                 # [T, M, M]
        self.deleted = np.array(faith["deleted"], dtype=float)
        tokens = payload["tokens"] if section["kind"] == "causal" else section["tokens_a"] + section["tokens_b"]
        self.tokens = [t["text"] for t in tokens]
        self.n_prompt = payload["n_prompt"]

    def m(self, name: str) -> int:
        return self.methods.index(name)

    def output(self, text: str) -> int:
        return self.tokens[self.n_prompt:].index(text)

    def share(self, method: str, output: int, token: str) -> float:
        return float(self.shares[self.m(method), output, self.tokens.index(token)])

    def top(self, method: str, output: int, k: int) -> list[str]:
        row = self.shares[self.m(method), output]
        return [self.tokens[i] for i in np.argsort(-row, kind="stable")[:k]]

    def rho(self, a: str, b: str) -> float:
        return float(np.nanmean(self.spearman[:, self.m(a), self.m(b)]))

    def above_random(self, method: str) -> int:
        return int((self.aopc[self.m(method)] > self.aopc[-1]).sum())


@pytest.fixture(scope="module")
def examples():
    catalogue = Catalogue.load(REPO / "explorables")
    baker = Baker(REPO / ".cache" / "explorables", base_dir=REPO)
    return {key: Example(json.loads(baker.payload(catalogue.specs[key]))) for key in CAUSAL + ("explain-similarity",)}


def test_pronoun(examples):
    e = examples["explain-pronoun"]
    her = e.output(" her")
    assert e.share("gradient_x_input", her, " Anna") == pytest.approx(0.576, abs=0.0005)
    aopc = {name: e.aopc[e.m(name), her] for name in ("gradient_x_input", "raw_attention", "value_weighted")}
    assert aopc == pytest.approx({"gradient_x_input": 0.71, "raw_attention": 3.20, "value_weighted": 6.59}, abs=0.005)
    assert e.aopc[-1, her] == pytest.approx(-2.96, abs=0.005)
    assert e.share("raw_attention", her, "My") == pytest.approx(0.520, abs=0.0005)
    assert e.top("value_weighted", her, 3) == [" helped", " so", " I"]
    assert e.tokens[e.n_prompt:] == [" her"], "one output: the pronoun"
    assert e.section["ig"]["steps"] == 32
    assert e.section["ig"]["gap"][her] == pytest.approx(0.119, abs=0.0005)


def test_counting(examples):
    e = examples["explain-counting"]
    assert e.tokens[e.n_prompt:] == [" ", "5"]
    both = sorted(name for name in e.methods if e.above_random(name) == 2)
    assert both == sorted(["raw_attention", "grad_rollout", "value_weighted", "integrated_gradients"])
    assert all(e.above_random(name) == 1 for name in e.methods if name not in both)
    assert (e.shares[e.m("raw_attention"), :, 0] > 0.5).all()
    assert e.shares[e.m("raw_attention"), :, 0].mean() == pytest.approx(0.578, abs=0.0005)
    assert (e.shares[e.m("rollout"), :, 0] > 0.9995).all()
    means = e.aopc.mean(axis=1)[:-1]
    assert means[e.m("value_weighted")] == pytest.approx(6.96, abs=0.005) and means.argmax() == e.m("value_weighted")
    assert means[e.m("raw_attention")] == pytest.approx(5.32, abs=0.005)
    assert means[e.m("gradient_x_input")] == pytest.approx(2.48, abs=0.005) and means.argmin() == e.m("gradient_x_input")


def test_capital(examples):
    e = examples["explain-capital"]
    paris = e.output(" Paris")
    assert e.tokens[e.n_prompt:] == [" Paris"]
    assert all(e.top(name, paris, 1) != [" France"] for name in e.methods), "no method ranks France first"
    assert e.share("raw_attention", paris, "The") == pytest.approx(0.635, abs=0.0005)
    assert e.share("raw_attention", paris, " France") == pytest.approx(0.077, abs=0.0005)
    assert e.top("value_weighted", paris, 3) == [" is", "The", " France"]
    assert e.share("value_weighted", paris, " is") == pytest.approx(0.459, abs=0.0005)
    assert e.share("value_weighted", paris, " France") == pytest.approx(0.110, abs=0.0005)
    assert e.top("integrated_gradients", paris, 2) == [" is", " France"]
    assert e.share("integrated_gradients", paris, " is") == pytest.approx(0.417, abs=0.0005)
    assert e.share("integrated_gradients", paris, " France") == pytest.approx(0.229, abs=0.0005)
    assert e.aopc[e.m("value_weighted"), paris] == pytest.approx(15.3, abs=0.05)
    assert e.aopc[e.m("integrated_gradients"), paris] == pytest.approx(15.8, abs=0.05)
    assert e.aopc[-1, paris] == pytest.approx(6.83, abs=0.005)
    same = [e.aopc[e.m(name), paris] for name in ("rollout", "flow", "grad_rollout", "attention_x_gradient")]
    assert same == pytest.approx([1.64] * 4, abs=0.005)
    for name in ("rollout", "flow", "grad_rollout", "attention_x_gradient"):
        assert e.top(name, paris, 3) == ["The", " capital", " of"]


def test_shakespeare(examples):
    e = examples["explain-shakespeare"]
    assert "".join(e.tokens[e.n_prompt:]) == " 1558"
    counts = {name: e.above_random(name) for name in e.methods}
    assert counts["raw_attention"] == counts["value_weighted"] == 5
    assert all(counts[name] in (1, 2) for name in ("rollout", "flow", "grad_rollout", "attention_x_gradient",
                                                   "gradient_x_input", "integrated_gradients"))
    tops = [e.top("gradient_x_input", t, 1)[0] for t in range(5)]
    assert tops.count(" Shakespeare") == 3
    assert e.aopc[e.m("gradient_x_input")].mean() == pytest.approx(0.98, abs=0.005)
    assert e.aopc[-1].mean() == pytest.approx(1.68, abs=0.005)


def test_similarity(examples):
    e = examples["explain-similarity"]
    assert e.section["values"][0] == pytest.approx(0.64, abs=0.005)
    n_a = e.tokens.index("[SEP]") + 1
    for name in ("raw_attention", "rollout", "flow", "value_weighted"):
        assert e.shares[e.m(name), 0, :n_a].sum() == pytest.approx(0.5, abs=0.001)
    assert e.rho("gradient_x_input", "integrated_gradients") == pytest.approx(0.96, abs=0.005)
    assert e.section["ig"]["gap"][0] < 1e-5
    assert e.rho("raw_attention", "gradient_x_input") == pytest.approx(0.84, abs=0.005)
    for name in ("raw_attention", "value_weighted", "gradient_x_input", "integrated_gradients"):
        candidates = [i for i, t in enumerate(e.tokens) if t not in ("[CLS]", "[SEP]")]
        order = sorted(candidates, key=lambda i: (-e.shares[e.m(name), 0, i], i))
        assert [e.tokens[i] for i in order[:2]] == [" guitar", " instrument"], name
    assert e.deleted[e.m("raw_attention"), 0, 0] == pytest.approx(0.77, abs=0.005)
    assert e.deleted[e.m("grad_rollout"), 0, 0] == pytest.approx(0.04, abs=0.005)
    aopc = {name: e.aopc[e.m(name), 0] for name in e.methods}
    above = sorted(name for name in e.methods if aopc[name] > e.aopc[-1, 0])
    assert above == ["attention_x_gradient", "flow", "grad_rollout", "rollout"]
    assert (aopc["flow"], aopc["grad_rollout"], aopc["rollout"], e.aopc[-1, 0]) == pytest.approx(
        (0.38, 0.17, -0.12, -0.14), abs=0.005)


def test_the_summary_table(examples):
    aopc = {}
    first = {}
    wins = {}
    for key in CAUSAL:
        e = examples[key]
        for name in e.methods + ["random"]:
            row = e.aopc[len(e.methods) if name == "random" else e.m(name)]
            aopc.setdefault(name, []).extend(row.tolist())
        for name in e.methods:
            first.setdefault(name, []).extend(e.shares[e.m(name), :, 0].tolist())
            wins[name] = wins.get(name, 0) + e.above_random(name)
    assert len(aopc["random"]) == 9
    table = {  # method: (mean AOPC, outputs above random, first-token share in %)
        "value_weighted": (8.19, 9, 19.2), "raw_attention": (5.41, 9, 51.2), "integrated_gradients": (4.21, 6, 0.0),
        "gradient_x_input": (1.40, 3, 22.0), "rollout": (1.19, 3, 100.0), "attention_x_gradient": (0.97, 3, 38.5),
        "grad_rollout": (0.86, 4, 52.6), "flow": (0.68, 3, 16.6)}
    for name, (mean, won, share) in table.items():
        assert np.mean(aopc[name]) == pytest.approx(mean, abs=0.005), name
        assert wins[name] == won, name
        assert 100 * np.mean(first[name]) == pytest.approx(share, abs=0.05), name
    assert np.mean(aopc["random"]) == pytest.approx(1.50, abs=0.005)
    ordered = sorted(table, key=lambda name: -np.mean(aopc[name]))
    assert ordered == list(table), "the table is in order of mean AOPC"
    below = [name for name in table if np.mean(aopc[name]) < np.mean(aopc["random"])]
    assert below == list(table)[3:], "random's row sits after the third method: five methods score below it"


def test_the_claims(examples):
    causal = [examples[key] for key in CAUSAL]
    raw_gxi = [e.rho("raw_attention", "gradient_x_input") for e in causal]
    raw_ig = [e.rho("raw_attention", "integrated_gradients") for e in causal]
    assert (round(min(raw_gxi), 2), round(max(raw_gxi), 2)) == (0.00, 0.51)
    assert (round(min(raw_ig), 2), round(max(raw_ig), 2)) == (-0.16, 0.29)
    best = []
    for e in causal:
        means = e.aopc.mean(axis=1)
        assert means[e.m("raw_attention")] > means[e.m("gradient_x_input")]
        best.append(e.methods[int(means.argmax())])
        assert e.shares[e.m("rollout"), :, 0].min() > 0.9995
    assert best == ["value_weighted", "value_weighted", "integrated_gradients", "value_weighted"], \
        "value-weighted is the most faithful in three examples; on the capital integrated gradients edges ahead"
    capital = examples["explain-capital"]
    assert capital.aopc[capital.m("integrated_gradients"), 0] == pytest.approx(15.8, abs=0.05)
    assert capital.aopc[capital.m("value_weighted"), 0] == pytest.approx(15.3, abs=0.05)
    gaps = [g for e in causal for g in e.section["ig"]["gap"]]
    assert all(e.section["ig"]["steps"] == 32 for e in causal)
    assert round(100 * min(gaps), 1) == 1.1 and round(100 * max(gaps)) == 228
    assert min(gaps) == capital.section["ig"]["gap"][0], "the smallest gap is on Paris"
    assert examples["explain-similarity"].section["ig"]["steps"] == 50
    rollout_flow = [e.rho("rollout", "flow") for e in causal]
    assert (round(min(rollout_flow), 2), round(max(rollout_flow), 2)) == (0.69, 1.0)
    raw_value = [e.rho("raw_attention", "value_weighted") for e in causal]
    assert (round(min(raw_value), 2), round(max(raw_value), 2)) == (0.90, 0.93)
    grad_axg = [e.rho("grad_rollout", "attention_x_gradient") for e in causal]
    assert (round(min(grad_axg), 2), round(max(grad_axg), 1)) == (0.73, 1.0)
    assert examples["explain-similarity"].rho("grad_rollout", "attention_x_gradient") == pytest.approx(0.99, abs=0.005)
