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
    assert len(adversarial["edit"]) == 1 and adversarial["edit"][0][1].strip() == "an"
    assert adversarial["score"] == pytest.approx(0.474, abs=5e-4)
    assert s["searches"]["minimal"]["estimates"]["pearson"] == pytest.approx(0.73, abs=5e-3)
    assert s["searches"]["adversarial"]["estimates"]["pearson"] == pytest.approx(0.44, abs=5e-3)


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
    assert one and one[0]["flips"] == 0 and one[0]["tried"] == 8
    result = minimal["result"]
    assert [(old.strip(), new.strip()) for _, old, new in result["edit"]] == [("Review", "id"), ("negative", "Worse")]
    assert result["top"][0]["text"] == " Better" and result["top"][0]["p"] == pytest.approx(0.100, abs=5e-4)
    assert result["prob"] == pytest.approx(0.008, abs=5e-4)
    adversarial = s["searches"]["adversarial"]["result"]
    assert [(old.strip(), new.strip()) for _, old, new in adversarial["edit"]] == [("I", "neither")]
    assert adversarial["top"][0]["text"] == " negative" and adversarial["top"][0]["p"] == pytest.approx(0.584, abs=5e-4)
    assert minimal["estimates"]["pearson"] == pytest.approx(0.22, abs=5e-3)
    assert s["searches"]["adversarial"]["estimates"]["pearson"] == pytest.approx(0.90, abs=5e-3)


def test_the_capital(baked):
    s = baked("cf-capital")
    assert s["original"]["top"][0]["text"] == " Paris" and s["original"]["prob"] == pytest.approx(0.962, abs=5e-4)
    italy, largest = s["contrasts"]
    assert italy["top"][0]["text"] == " Rome" and italy["top"][0]["p"] == pytest.approx(0.743, abs=5e-4)
    assert not largest["flipped"] and largest["prob"] == pytest.approx(0.572, abs=5e-4)
    minimal = s["searches"]["minimal"]["result"]
    assert [(o.strip(), n.strip()) for _, o, n in minimal["edit"]] == [("capital", "Pueblo")]
    adversarial = s["searches"]["adversarial"]["result"]
    assert [(o.strip(), n.strip()) for _, o, n in adversarial["edit"]] == [("of", "extraord")]
    a = s["attention"]
    medians = [r["tvd"]["median"] for r in a["permuted"]]
    assert medians[0] == pytest.approx(0.944, abs=5e-4) and a["uniform"][0]["tvd"] == pytest.approx(0.858, abs=5e-4)
    assert min(medians[1:30]) == pytest.approx(0.006, abs=5e-4) and max(medians[1:30]) == pytest.approx(0.216, abs=5e-4)
    assert [i for i, r in enumerate(a["permuted"][:30]) if r["flips"] > 0] == [0, 7]
    assert a["permuted"][30]["flips"] == 1.0 and medians[30] == pytest.approx(0.994, abs=5e-4)
