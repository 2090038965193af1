"""Every number and checkable claim of the Input saliency article (docs/saliency.md), recomputed from the baked
payloads of its curated examples (and, for the claims about SmolLM2 itself, from the model).

If a model, the methods or the encoding changes what the figures show, this fails and the prose must be updated.
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
PCT = 0.0005        # the article prints shares to 0.1 %
GXI, GRAD, IG = "gradient_x_input", "gradient_norm", "integrated_gradients"
LOGIT_EXAMPLES = ("shakespeare-birth", "counting-saliency", "eu-countries-saliency", "pronoun-anna")


class Example:
    def __init__(self, payload: dict):
        self.payload, self.section = payload, payload["saliency"]
        self.n_prompt = payload["n_prompt"]
        self.tokens = [t["text"] for t in payload["tokens"]]
        self.scores = {name: decode_array(array) for name, array in self.section["methods"].items()}

    @property
    def generated(self) -> str:
        return "".join(self.tokens[self.n_prompt:])

    def out(self, text: str, nth: int = 0) -> int:
        """Row of the nth generated token with this text."""
        rows = [g for g, t in enumerate(self.tokens[self.n_prompt:]) if t == text]
        return rows[nth]

    def share(self, method: str, out: str, token: str) -> float:
        return float(self.scores[method][self.out(out), self.tokens.index(token)])

    def ranked(self, method: str, row: int) -> list[str]:
        values = self.scores[method][row]
        return [self.tokens[i] for i in np.argsort(-values, kind="stable")]


@pytest.fixture(scope="module")
def example():
    catalogue = Catalogue.load(REPO / "explorables")
    baker = Baker(REPO / ".cache" / "explorables", base_dir=REPO)
    return lambda spec_id: Example(json.loads(baker.payload(catalogue.specs[spec_id])))


def test_shakespeare(example):
    e = example("shakespeare-birth")
    assert e.generated == " 1558" and len(e.tokens) - e.n_prompt == 5
    assert e.section["target"] == "logit" and e.section["ig_steps"] == 16
    assert e.section["ig_method"] == "gausslegendre"
    assert e.share(GXI, " ", " Shakespeare") == pytest.approx(0.417, abs=PCT)
    assert e.share(GXI, " ", "William") == pytest.approx(0.181, abs=PCT)
    assert e.share(GXI, " ", " year") == pytest.approx(0.169, abs=PCT)
    name = e.scores[GXI][:, :2].sum(axis=1)          # "William", " Shakespeare"
    assert e.tokens[:2] == ["William", " Shakespeare"]
    assert round(100 * name.min()) == 49 and round(100 * name.max()) == 60


def test_counting(example):
    e = example("counting-saliency")
    assert e.generated == " 4, 5"
    assert e.scores[GXI].max() < 0.22
    four = e.out("4")
    assert e.ranked(GXI, four)[:2] == [",", "2"]
    assert np.sort(e.scores[GXI][four])[::-1][:2] == pytest.approx([0.168, 0.158], abs=PCT)
    five = e.out("5")
    assert e.ranked(GRAD, five)[0] == "4" and int(np.argmax(e.scores[GRAD][five])) == e.n_prompt + 1
    assert e.scores[GRAD][five].max() == pytest.approx(0.170, abs=PCT)


def test_eu_countries(example):
    e = example("eu-countries-saliency")
    assert e.generated.startswith(" Croatia")
    countries = [" Bulgaria", " Belgium", " Austria"]
    assert e.ranked(GXI, 0)[:3] == countries
    assert [e.share(GXI, " Croatia", c) for c in countries] == pytest.approx([0.414, 0.193, 0.074], abs=PCT)
    assert sum(e.share(GXI, " Croatia", c) for c in countries) > 0.5, "most of the share"
    assert e.ranked(GRAD, 0)[:3] == countries
    assert [e.share(GRAD, " Croatia", c) for c in countries] == pytest.approx([0.237, 0.163, 0.099], abs=PCT)


def test_pronoun_and_its_antecedent(example):
    e = example("pronoun-anna")
    assert e.generated == " her find them"
    assert e.share(GXI, " her", " Anna") == pytest.approx(0.576, abs=PCT)
    assert e.share(GRAD, " her", " Anna") == pytest.approx(0.382, abs=PCT)
    assert e.share(GXI, " them", " Anna") == pytest.approx(0.659, abs=PCT)
    assert e.share(GXI, " them", " keys") < 0.03


def test_logit_or_probability(example):
    e = example("pronoun-anna-probability")
    assert e.section["target"] == "probability" and e.generated == " her find them"
    assert e.section["target_values"][0] == pytest.approx(0.29, abs=0.005)
    her = e.out(" her")
    assert e.ranked(GXI, her)[:2] == [" Anna", " helped"]
    assert e.share(GXI, " her", " Anna") == pytest.approx(0.241, abs=PCT)
    assert e.share(GXI, " her", " helped") == pytest.approx(0.164, abs=PCT)
    them = e.out(" them")
    assert e.ranked(IG, them)[0] == " keys" and e.share(IG, " them", " keys") == pytest.approx(0.165, abs=PCT)


def test_integrated_gradients_on_smollm2(example):
    gaps = []
    for spec_id in LOGIT_EXAMPLES + ("pronoun-anna-probability",):
        assert example(spec_id).section["ig_steps"] == 16, "the article says the SmolLM2 figures take 16 steps"
    for spec_id in LOGIT_EXAMPLES:
        e = example(spec_id)
        assert e.section["ig_baseline_values"] == [0.0] * len(e.section["ig_gap"]), "f(baseline) = 0 exactly"
        gaps += e.section["ig_gap"]
    assert round(100 * min(gaps)) == 12 and round(100 * max(gaps)) == 408
    on_first, outputs, top_share = 0, 0, 0.0
    for spec_id, first in (("shakespeare-birth", "William"), ("counting-saliency", "1"), ("pronoun-anna", "My")):
        e = example(spec_id)
        assert e.tokens[0] == first
        ig = e.scores[IG]
        on_first += int((np.argmax(ig, axis=1) == 0).sum())
        outputs += ig.shape[0]
        top_share = max(top_share, ig.max())
    assert (on_first, outputs) == (11, 13), "the largest IG share of 11 of the 13 outputs is on the first token"
    counting = example("counting-saliency")
    assert top_share == pytest.approx(0.396, abs=PCT) == float(counting.scores[IG][0, 0]), "39.6%, on the first token"
    p = example("pronoun-anna-probability").section
    assert [round(100 * g, 2) for g in p["ig_gap"]] == pytest.approx([23.3, 4.4, 0.19], abs=0.05)
    assert p["ig_baseline_values"] == pytest.approx([1 / 49152] * 3, rel=1e-4)


def test_similarity(example):
    e = example("similarity-guitar").section
    assert e["kind"] == "similarity" and round(e["similarity"], 2) == 0.64
    tokens = [t["text"] for t in e["tokens_a"] + e["tokens_b"]]
    scores = decode_array(e["methods"][GXI])
    assert scores[tokens.index(" guitar")] == pytest.approx(0.275, abs=PCT)
    assert scores[tokens.index(" instrument")] == pytest.approx(0.118, abs=PCT)
    assert [tokens[i] for i in np.argsort(-scores)[:2]] == [" guitar", " instrument"]
    assert scores[: len(e["tokens_a"])].sum() == pytest.approx(0.621, abs=PCT)
    assert round(e["ig_baseline_value"], 3) == 0.998
    assert round(e["ig_attribution_sum"], 3) == -0.358
    assert e["ig_attribution_sum"] == pytest.approx(e["similarity"] - e["ig_baseline_value"], abs=1e-4)
    assert e["ig_gap"] < 1e-4


def test_smollm2_facts_behind_the_ig_caveat(loaded_bundled):
    """No biases; an RMSNorm opening every layer; embeddings scaled to 1e-4 already beat the full logit."""
    import torch

    from generator.capture import run

    from generator.methods import Needs
    from generator.attribution.targets import generated_scores
    from generator.spec import ExplorableSpec

    loaded = loaded_bundled("smollm2")
    model = loaded.model
    assert model.config.hidden_size == 576 and model.config.vocab_size == 49152
    assert not [name for name, _ in model.named_parameters() if name.endswith("bias")]
    assert all("RMSNorm" in type(layer.input_layernorm).__name__ for layer in model.model.layers)
    capture = run(ExplorableSpec(model="smollm2", text="William Shakespeare was born in the year", generate=1,
                                 views=["saliency"]), loaded, Needs())
    ids = capture.input_ids[0]
    with torch.no_grad():
        x = model.get_input_embeddings()(ids)
        full, tiny, zero = generated_scores(model, torch.stack([x, 1e-4 * x, 0 * x]), ids, capture.n_prompt, "logit")[:, 0]
    assert float(zero) == 0.0 and float(tiny) > float(full) > 0


def test_minilm_embedding_size(loaded_bundled):
    assert loaded_bundled("minilm").config.hidden_size == 384
