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
        weights = decode_array(payload["attention"]["values"]) if "attention" in payload else None
        return weights, [t["text"] for t in payload["tokens"]], payload
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


# -- "Inside a head": recomputed from the queries and keys of the neuron sections ---------------------------------

def queries_keys(payload, layer, head):
    """Decoded q [N, d] of a query head and k [N, d] of the key head it reads, and the layer's scale."""
    section = payload["neuron"]
    slot = section["layers"].index(layer)
    group = payload["model"]["n_heads"] // payload["model"]["n_kv_heads"]
    q = decode_array(section["queries"][slot])[section["heads"].index(head)]
    k = decode_array(section["keys"][slot])[section["key_heads"].index(head // group)]
    return q, k, section["scales"][slot]


def softmax_rows(q, k, scale, causal):
    scores = q @ k.T * scale
    if causal:
        scores = np.where(np.tril(np.ones_like(scores)) > 0, scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True)


def top_dims(product, count):
    return set(np.argsort(-np.abs(product))[:count].tolist())


def test_inside_a_delimiter_head(example):
    attention, tokens, payload = example("neuron-delimiter")
    special = np.array([t["special"] for t in payload["tokens"]])
    q, k, scale = queries_keys(payload, 4, 5)
    weights = softmax_rows(q, k, scale, causal=False)
    assert weights[~special, 0].mean() == pytest.approx(0.92, abs=TOLERANCE)
    assert weights[~special, 0].min() == pytest.approx(0.82, abs=TOLERANCE)
    assert k[0, 11] == pytest.approx(-1.73, abs=TOLERANCE) and k[0, 8] == pytest.approx(-1.38, abs=TOLERANCE)
    assert q[~special, 11].mean() == pytest.approx(-2.32, abs=TOLERANCE)
    assert q[~special, 8].mean() == pytest.approx(-2.21, abs=TOLERANCE)
    assert sum(11 in top_dims(q[i] * k[0], 3) for i in np.where(~special)[0]) == 13 and (~special).sum() == 14
    seps = [i for i, t in enumerate(tokens) if t == "[SEP]"]
    on_sep = attention[..., seps].sum(-1)[:, :, ~special].mean(-1)
    assert on_sep.max() == pytest.approx(0.38, abs=TOLERANCE) and on_sep[0, 5] == on_sep.max()


def test_inside_a_sentence_bound_head(example):
    _, tokens, payload = example("neuron-bag-of-words")
    special = np.array([t["special"] for t in payload["tokens"]])
    segment = np.array([t["segment"] for t in payload["tokens"]])
    q, k, scale = queries_keys(payload, 0, 4)
    weights = softmax_rows(q, k, scale, causal=False)
    words = {s: ~special & (segment == s) for s in (0, 1)}
    kept = {s: (weights[words[s]][:, words[s]].sum(-1) / weights[words[s]][:, ~special].sum(-1)).mean() for s in (0, 1)}
    assert kept[1] == pytest.approx(0.94, abs=TOLERANCE) and kept[0] == pytest.approx(0.66, abs=TOLERANCE)
    assert weights[words[0]][:, special].sum(-1).mean() == pytest.approx(0.38, abs=TOLERANCE)
    assert (k[words[0], 9] > 0).all() and (k[words[1], 9] < 0).all()
    assert k[words[0], 9].mean() == pytest.approx(0.61, abs=TOLERANCE)
    assert k[words[1], 9].mean() == pytest.approx(-1.00, abs=TOLERANCE)
    assert q[words[0], 9].mean() == pytest.approx(0.23, abs=TOLERANCE)
    assert q[words[1], 9].mean() == pytest.approx(-0.65, abs=TOLERANCE)


def test_inside_a_previous_token_head(example):
    _, tokens, payload = example("neuron-previous-token")
    n = len(tokens)
    q, k, scale = queries_keys(payload, 16, 0)
    weights = softmax_rows(q, k, scale, causal=True)
    previous = weights[np.arange(1, n), np.arange(n - 1)]
    assert previous.mean() == pytest.approx(0.75, abs=TOLERANCE) and previous.min() == pytest.approx(0.59, abs=TOLERANCE)
    gap = np.array([q[i] * (k[i - 1] - k[i - 2]) for i in range(2, n)]).mean(0)     # per dimension
    assert gap.sum() == pytest.approx(18.0, abs=0.05)
    assert gap[0] + gap[32] == pytest.approx(21.6, abs=0.05)
    assert n - 1 == 12 and all({25, 57} <= top_dims(q[i] * k[i - 1], 4) for i in range(1, n))
    # The rotary angles: pair (c, c + 32) turns theta^(-2c/64) radians per token (Su et al. 2021; HF rotate_half).
    from transformers import AutoConfig
    from generator.models.registry import resolve
    source = resolve("smollm2")
    config = AutoConfig.from_pretrained(source.path, gguf_file=source.gguf_file)
    theta = config.rope_parameters["rope_theta"]
    assert theta ** (-2 * 0 / 64) == 1.0
    assert 0.5e-4 < theta ** (-2 * 25 / 64) < 2e-4


def test_telescope(example):
    attention, tokens, payload = example("neuron-telescope")
    with_, saw, man = tokens.index(" with"), tokens.index(" saw"), tokens.index(" man")
    difference = attention[:, :, with_, saw] - attention[:, :, with_, man]
    assert attention.shape[:2] == (30, 9)
    assert (difference > 0.05).sum() == 38 and (difference < -0.05).sum() == 66
    assert attention[:, :, with_, saw].mean() == pytest.approx(0.06, abs=TOLERANCE)
    assert attention[:, :, with_, man].mean() == pytest.approx(0.10, abs=TOLERANCE)
    for layer, head, key, weight in ((10, 1, saw, 0.91), (25, 2, man, 0.85), (11, 0, man, 0.81), (11, 1, man, 0.80)):
        q, k, scale = queries_keys(payload, layer, head)
        assert softmax_rows(q, k, scale, causal=True)[with_, key] == pytest.approx(weight, abs=TOLERANCE)
    q, k, scale = queries_keys(payload, 10, 1)
    assert q[with_] @ k[saw] * scale == pytest.approx(8.62, abs=TOLERANCE)
    assert q[with_] @ k[man] * scale == pytest.approx(3.54, abs=TOLERANCE)
    product = q[with_] * k[saw]
    assert top_dims(product, 2) == {23, 55} and product[23] < 0 < product[55]
    assert abs(product[23] + product[55]) < 0.15 * abs(product[23])
