"""Every number the article "What would change the answer?" (docs/counterfactuals.md) states, recomputed from the
baked payloads of its curated examples (explorables/counterfactuals.yml). If the models, the method or the encoding
change what the figures show, this fails and the prose must be updated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.bake import Baker
from generator.spec import Catalogue

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def baked():
    catalogue = Catalogue.load(REPO / "explorables", relative_to=REPO)
    baker = Baker(REPO / ".cache" / "explorables", base_dir=REPO)
    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            cache[name] = json.loads(baker.payload(catalogue.specs[name]))["counterfactuals"]
        return cache[name]
    return get


def test_the_pair(baked):
    s = baked("cf-pair")
    assert s["original"]["score"] == pytest.approx(0.641, abs=5e-4)
    contrast = s["contrasts"][0]
    assert contrast["flipped"] and contrast["score"] == pytest.approx(0.221, abs=5e-4)
    minimal = s["searches"]["minimal"]["result"]
    assert [(old.strip(), new.strip()) for _, old, new in minimal["edit"]] == [("guitar", "poker")]
    assert minimal["score"] == pytest.approx(0.171, abs=5e-4)
    adversarial = s["searches"]["adversarial"]["result"]
    assert [(old.strip(), new.strip()) for _, old, new in adversarial["edit"]] == [("an", "twitter")]
    assert adversarial["score"] == pytest.approx(0.486, abs=5e-4) and adversarial["score"] < 0.5
    assert s["searches"]["minimal"]["estimates"]["pearson"] == pytest.approx(0.84, abs=5e-3)
    assert s["searches"]["adversarial"]["estimates"]["pearson"] == pytest.approx(0.92, abs=5e-3)


def test_the_sentiment_prompt(baked):
    s = baked("cf-sentiment")
    o = s["original"]
    assert o["top"][0]["text"] == " positive" and o["prob"] == pytest.approx(0.528, abs=5e-4)
    assert o["top"][1]["text"] == " negative" and o["top"][1]["p"] == pytest.approx(0.319, abs=5e-4)
    c = s["contrasts"][0]
    assert c["flipped"] and c["top"][0]["text"] == " negative" and c["top"][0]["p"] == pytest.approx(0.860, abs=5e-4)
    assert c["prob"] == pytest.approx(0.034, abs=5e-4)
    minimal = s["searches"]["minimal"]
    one = [step for step in minimal["steps"] if step["k"] == 1]
    assert one and one[0]["flips"] == 0 and one[0]["tried"] == 4
    result = minimal["result"]
    assert [(old.strip(), new.strip()) for _, old, new in result["edit"]] == [("Review", "id"), ("negative", "Worse")]
    assert result["top"][0]["text"] == " Better" and result["top"][0]["p"] == pytest.approx(0.100, abs=5e-4)
    assert result["prob"] == pytest.approx(0.008, abs=5e-4)
    adversarial = s["searches"]["adversarial"]["result"]
    assert [(old.strip(), new.strip()) for _, old, new in adversarial["edit"]] == [("I", "are")]
    assert adversarial["top"][0]["text"] == " negative" and adversarial["top"][0]["p"] == pytest.approx(0.527, abs=5e-4)
    assert adversarial["prob"] == pytest.approx(0.324, abs=5e-4)
    assert minimal["estimates"]["pearson"] == pytest.approx(0.89, abs=5e-3)
    assert s["searches"]["adversarial"]["estimates"]["pearson"] == pytest.approx(0.66, abs=5e-3)


def _attention(a):
    medians = [r["tvd"]["median"] for r in a["permuted"]]
    return medians, [i for i, r in enumerate(a["permuted"][:30]) if r["flips"] > 0]


def test_the_capital(baked):
    s = baked("cf-capital")
    assert s["original"]["top"][0]["text"] == " Paris" and s["original"]["prob"] == pytest.approx(0.962, abs=5e-4)
    italy, largest = s["contrasts"]
    assert italy["top"][0]["text"] == " Rome" and italy["top"][0]["p"] == pytest.approx(0.743, abs=5e-4)
    assert not largest["flipped"] and largest["prob"] == pytest.approx(0.572, abs=5e-4)
    minimal = s["searches"]["minimal"]["result"]
    assert [(o.strip(), n.strip()) for _, o, n in minimal["edit"]] == [("capital", "Reef")]
    assert minimal["top"][0]["text"] == " the" and minimal["top"][0]["p"] == pytest.approx(0.122, abs=5e-4)
    assert minimal["prob"] == pytest.approx(0.050, abs=5e-4)
    adversarial = s["searches"]["adversarial"]["result"]
    assert [(o.strip(), n.strip()) for _, o, n in adversarial["edit"]] == [("of", "extraord")]
    assert adversarial["top"][0]["text"] == "ina" and adversarial["top"][0]["p"] == pytest.approx(0.950, abs=5e-4)
    a = s["attention"]
    medians, flipping = _attention(a)
    assert a["permutations"] == 5 and len(medians) == 31
    assert medians[0] == pytest.approx(0.886, abs=5e-4) and a["uniform"][0]["tvd"] == pytest.approx(0.858, abs=5e-4)
    assert min(medians[1:30]) == pytest.approx(0.007, abs=5e-4) and max(medians[1:30]) == pytest.approx(0.245, abs=5e-4)
    assert medians.index(max(medians[1:30])) == 23
    assert flipping == [0]
    assert a["permuted"][30]["flips"] == 1.0 and medians[30] == pytest.approx(0.994, abs=5e-4)
    assert s["searches"]["minimal"]["estimates"]["pearson"] == pytest.approx(0.89, abs=5e-3)
    assert s["searches"]["adversarial"]["estimates"]["pearson"] == pytest.approx(-0.44, abs=5e-3)


def test_the_pronoun(baked):
    s = baked("cf-pronoun")
    o = s["original"]
    assert o["top"][0]["text"] == " Mary" and o["prob"] == pytest.approx(0.549, abs=5e-4)
    assert o["top"][1]["text"] == " her" and o["top"][1]["p"] == pytest.approx(0.223, abs=5e-4)
    c = s["contrasts"][0]
    assert c["flipped"] and c["top"][0]["text"] == " John" and c["top"][0]["p"] == pytest.approx(0.265, abs=6e-4)
    assert c["prob"] == pytest.approx(0.211, abs=5e-4)
    minimal = s["searches"]["minimal"]["result"]
    assert [(o.strip(), n.strip()) for _, o, n in minimal["edit"]] == [("Mary", "Microsoft")]
    assert minimal["top"][0]["text"] == " the" and minimal["top"][0]["p"] == pytest.approx(0.239, abs=5e-4)
    assert minimal["prob"] == pytest.approx(0.012, abs=5e-4)
    search = s["searches"]["adversarial"]
    assert search["budget"] == 16 and all(step["flips"] == 0 for step in search["steps"] if step["k"] < 4)
    adversarial = search["result"]
    assert [(o.strip(), n.strip()) for _, o, n in adversarial["edit"]] == [
        ("at", "postdocs"), ("the", "input"), ("gave", "emerged"), ("a", "hers")]
    assert adversarial["prob"] == pytest.approx(0.009, abs=5e-4)
    a = s["attention"]
    medians, flipping = _attention(a)
    assert medians[0] == pytest.approx(0.970, abs=5e-4) and a["uniform"][0]["tvd"] == pytest.approx(0.607, abs=5e-4)
    assert min(medians[1:30]) == pytest.approx(0.018, abs=5e-4) and max(medians[1:30]) == pytest.approx(0.522, abs=5e-4)
    assert medians.index(max(medians[1:30])) == 23
    assert flipping == [0, 18, 20, 23, 24, 26, 28]
    assert [i for i, u in enumerate(a["uniform"][:30]) if u["flipped"]] == [23]
    assert s["searches"]["minimal"]["estimates"]["pearson"] == pytest.approx(0.74, abs=5e-3)
    assert s["searches"]["adversarial"]["estimates"]["pearson"] == pytest.approx(0.92, abs=5e-3)


def test_the_models_own_explanations(baked):
    records = {name: baked(name)["self_explanation"] for name in ("cf-sentiment", "cf-capital", "cf-pronoun")}
    for name, r in records.items():
        assert r["explanation"].startswith("I added "), name          # it reads the question as an edit request
        assert r["tokens"] == 32 and not r["ended"], name
    r = records["cf-sentiment"]
    assert r["cited"] == ["review", "i", "positive", "a", "was", "and"] and r["occurrences"] == 9
    d = r["deleted"]
    assert d["cited"]["drop"] == pytest.approx(0.239, abs=5e-4)
    assert d["random"]["drop"]["median"] == pytest.approx(0.371, abs=5e-4)
    assert r["draws"] == 10 and r["random_at_least"] == 7
    r = records["cf-capital"]
    assert r["cited"] == ["capital", "france"] and r["deleted"]["saliency"]["words"] == ["capital", "france"]
    assert r["prob"] == pytest.approx(0.962, abs=5e-4) and r["deleted"]["cited"]["prob"] == pytest.approx(0.003, abs=5e-4)
    assert r["deleted"]["random"]["drop"]["median"] == pytest.approx(0.961, abs=5e-4) and r["random_at_least"] == 6
    r = records["cf-pronoun"]
    assert '"and"' in r["explanation"] and "to connect" in r["explanation"]
    assert r["cited"] == ["to"] and r["deleted"]["cited"]["drop"] == pytest.approx(0.549, abs=5e-4)
    assert r["deleted"]["saliency"]["words"] == ["mary"]
    assert r["deleted"]["saliency"]["drop"] == pytest.approx(0.522, abs=5e-4)
    assert r["random_at_least"] == 1
