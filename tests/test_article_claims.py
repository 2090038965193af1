"""Every number the Attention article states is recomputed here from the baked payloads of its curated examples.

If a model, the capture or the encoding changes what the figures show, this fails and the prose must be updated.
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
TOLERANCE = 0.01  # the article rounds to two decimals


@pytest.fixture(scope="module")
def example():
    catalogue = Catalogue.load(REPO / "explorables")
    baker = Baker(REPO / ".cache" / "explorables", base_dir=REPO)

    def get(spec_id):
        payload = json.loads(baker.payload(catalogue.specs[spec_id]))
        return decode_array(payload["attention"]["values"]), [t["text"] for t in payload["tokens"]], payload
    return get


def test_pronoun_heads(example):
    weights, tokens, _ = example("animal-it-minilm")
    it, animal, street = tokens.index(" it"), tokens.index(" animal"), tokens.index(" street")
    assert weights[3, 1, it, animal] == pytest.approx(0.68, abs=TOLERANCE)
    assert weights[3, 1, it, street] == pytest.approx(0.05, abs=TOLERANCE)
    weights, tokens, _ = example("animal-it-smollm2")
    it, animal, street = tokens.index(" it"), tokens.index(" animal"), tokens.index(" street")
    assert weights[13, 8, it, animal] == pytest.approx(0.75, abs=TOLERANCE)
    assert weights[13, 8, it, street] == pytest.approx(0.01, abs=TOLERANCE)


def test_delimiter_heads_and_attention_sink(example):
    weights, tokens, payload = example("animal-it-minilm")
    special = [i for i, t in enumerate(payload["tokens"]) if t["special"]]
    mass = weights[..., special].sum(-1).mean(-1)          # [layers, heads]
    assert mass[4].mean() == pytest.approx(0.62, abs=TOLERANCE)
    assert mass[4, 5] > 0.90
    weights, _, _ = example("animal-it-smollm2")
    first = weights[:, :, 1:, 0].mean(-1).mean(-1)        # per layer
    assert (first[3:] > 0.5).sum() > len(first[3:]) / 2, "most layers from 3 on give over half to the first token"


def test_positional_heads(example):
    weights, tokens, _ = example("repeated-sequence")
    n = len(tokens)
    previous = weights[16, 0, np.arange(1, n), np.arange(n - 1)].mean()
    assert previous == pytest.approx(0.95, abs=TOLERANCE)
    assert weights[11, 6, np.arange(n), np.arange(n)].mean() > 0.5
    second_half = np.arange(5, 10)
    assert weights[18, 6, second_half, second_half - 4].mean() == pytest.approx(0.70, abs=TOLERANCE)
    weights, tokens, _ = example("animal-it-minilm")
    n = len(tokens)
    assert weights[0, 2, np.arange(1, n), np.arange(n - 1)].mean() > 0.99


def test_bag_of_words_heads(example):
    weights, tokens, _ = example("animal-it-minilm")
    entropy = -(weights[0] * np.log(weights[0] + 1e-12)).sum(-1).mean(-1) / np.log(len(tokens))
    for head in (0, 3, 7):
        assert entropy[head] == pytest.approx(0.90, abs=0.015)


def test_cross_sentence_head(example):
    weights, tokens, _ = example("question-context")
    cats = [i for i, t in enumerate(tokens) if t == " cat"]
    assert weights[2, 9, cats[0], cats[1]] == pytest.approx(0.87, abs=TOLERANCE)
    assert weights[2, 9, tokens.index(" sleep"), tokens.index(" slept")] == pytest.approx(0.58, abs=TOLERANCE)


def test_counting_continuation(example):
    weights, tokens, payload = example("counting")
    n_prompt = payload["n_prompt"]
    assert "".join(tokens[n_prompt:]) == " 5, 6,"
    commas = [i for i, t in enumerate(tokens[:n_prompt]) if t == ","]
    assert weights[3, 0, commas[-1], commas[:-1]].sum() == pytest.approx(0.86, abs=TOLERANCE)
