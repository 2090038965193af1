"""Every number and checkable claim of the "Layer by layer" article (docs/lens.md), recomputed from the baked payloads
of its curated examples (explorables/lens.yml).

If the model, the lens or the encoding changes what the figures show, this fails and the prose must be updated.
"""

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
PCT = 0.0005 + 1e-5     # the article prints probabilities to 0.1 % (plus the uint16 step)


class Example:
    def __init__(self, payload: dict):
        s = payload["lens"]
        self.tokens = [t["text"] for t in payload["tokens"]]
        self.n_prompt = payload["n_prompt"]
        self.cand = s["candidates"]["text"]
        self.top = decode_array(s["top"]).round().astype(int)
        self.probs = decode_array(s["top_probs"])
        self.ranks = decode_array(s["next_ranks"]).round().astype(int)
        self.next_probs = decode_array(s["next_probs"])
        self.watch = {w["text"]: (decode_array(w["ranks"]).round().astype(int), decode_array(w["probs"]))
                      for w in s["watch"]}
        self.L = self.top.shape[0] - 1

    @property
    def generated(self) -> str:
        return "".join(self.tokens[self.n_prompt:])

    def positions(self, text: str) -> list[int]:
        """Positions of the generated tokens with this text."""
        return [p for p in range(self.n_prompt, len(self.tokens)) if self.tokens[p] == text]

    def rank(self, p: int) -> np.ndarray:
        """Ranks, layer by layer, of the token at position p in the prediction made at p - 1."""
        return self.ranks[:, p - 1]

    def settled(self, p: int) -> int:
        """The first layer from which the token at p stays rank 1."""
        ranks = self.rank(p)
        layer = self.L
        while layer > 0 and ranks[layer - 1] == 1:
            layer -= 1
        assert ranks[layer] == 1
        return layer

    def output(self, p: int) -> list[tuple[str, float]]:
        """The model's top candidates for the token after position p."""
        return [(self.cand[i], float(q)) for i, q in zip(self.top[self.L, p], self.probs[self.L, p])]


@pytest.fixture(scope="module")
def example():
    catalogue = Catalogue.load(REPO / "explorables")
    baker = Baker(REPO / ".cache" / "explorables", base_dir=REPO)
    return lambda spec_id: Example(json.loads(baker.payload(catalogue.specs[spec_id])))


def test_counting(example):
    x = example("counting-lens")
    assert x.generated == " 4, 5, 6,"
    # the embedding row reads every token back, at almost 100 %
    assert [x.cand[i] for i in x.top[0, :, 0]] == x.tokens and x.probs[0, :, 0].min() > 0.99
    # commas and spaces settle from layers 12 to 16
    settle = [x.settled(p) for p in x.positions(",") + x.positions(" ")]
    assert len(settle) == 6 and min(settle) == 12 and max(settle) == 16
    # the middle layers' most frequent guesses are " and", " " and " (", well ahead of the fourth
    middle = [x.cand[i] for i in x.top[2:12, :, 0].ravel()]
    counts = sorted({t: middle.count(t) for t in middle}.items(), key=lambda kv: -kv[1])
    assert [t for t, _ in counts[:3]] == [" and", " ", " ("] and counts[2][1] > counts[3][1] + 3, counts[:4]
    (four,) = x.positions("4")
    assert x.rank(four)[[0, 20, 21, 22, 23, 24]].tolist() == [78, 41, 9, 7, 5, 2] and x.settled(four) == 25
    assert [x.settled(p) for p in x.positions("5") + x.positions("6")] == [24, 25]
    out = x.output(four - 1)
    assert [t for t, _ in out[:3]] == ["4", "5", "1"]
    assert [q for _, q in out[:3]] == pytest.approx([0.891, 0.027, 0.025], abs=PCT)
    for p in x.positions(" "):
        (first, p1), (second, _) = x.output(p - 1)[:2]
        assert first == " " and 0.88 < p1 < 0.95 and second == " and"
    # caveat: layers 21 to 29 are surer of the commas and spaces than the output is
    for p in x.positions(",") + x.positions(" "):
        assert x.next_probs[21:30, p - 1].min() > 0.98 > x.next_probs[x.L, p - 1]


def test_shakespeare(example):
    x = example("shakespeare-lens")
    assert x.generated == " 1558"
    space, one, five, five_again, eight = range(x.n_prompt, x.n_prompt + 5)
    assert x.settled(space) == 11 and x.settled(one) == 27
    assert x.settled(five) == 29
    assert x.settled(five_again) == 30 and x.rank(five_again)[29] == 16
    assert x.rank(eight)[26] == 1 and x.rank(eight)[27] > 1 and x.settled(eight) == 29
    for p, expected in [(five, [("5", 0.590), ("6", 0.328)]), (five_again, [("5", 0.484), ("6", 0.260)]),
                        (eight, [("8", 0.566), ("4", 0.348)])]:
        got = x.output(p - 1)[:2]
        assert [t for t, _ in got] == [t for t, _ in expected]
        assert [q for _, q in got] == pytest.approx([q for _, q in expected], abs=PCT)


def test_eu_countries(example):
    x = example("eu-countries-lens")
    assert x.generated.startswith(" Croatia\n5.")
    croatia = x.n_prompt
    assert x.rank(croatia)[[24, 25, 29, 30]].tolist() == [16609, 613, 24, 1] and x.settled(croatia) == 30
    out = x.output(croatia - 1)[:2]
    assert [t for t, _ in out] == [" Croatia", " Czech"]
    assert [q for _, q in out] == pytest.approx([0.372, 0.347], abs=PCT)
    newline, five, stop = croatia + 1, croatia + 2, croatia + 3
    assert x.tokens[newline] == "\n" and x.tokens[five] == "5" and x.tokens[stop] == "."
    assert x.settled(newline) == 21 and x.settled(five) == 24
    stop_ranks = x.rank(stop)
    assert int(np.argmax(stop_ranks == 1)) == 14 and x.settled(stop) == 21


def test_agreement(example):
    x = example("keys-agreement")
    assert x.generated.startswith(" are")
    cabinet = x.tokens.index(" cabinet")
    (is_ranks, is_probs), (are_ranks, are_probs) = x.watch[" is"], x.watch[" are"]
    assert are_probs[x.L, cabinet] == pytest.approx(0.159, abs=PCT)
    assert is_probs[x.L, cabinet] == pytest.approx(0.005, abs=PCT) and is_ranks[x.L, cabinet] == 28
    ahead = is_ranks[:, cabinet] < are_ranks[:, cabinet]
    assert ahead[1:27].all() and not ahead[27:].any()
    assert (is_ranks[24, cabinet], are_ranks[24, cabinet]) == (6, 24)
    assert are_ranks[27:, cabinet].tolist() == [12, 1, 2, 1]
