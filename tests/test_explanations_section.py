"""The "explanations" section baked end to end from tiny models, the faithfulness measures on a hand-checked toy model
whose output hangs on one token, the integrated-gradients baselines, and every bad input on the field to change."""

from __future__ import annotations

import json
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from generator.bake import Baker
from generator.errors import SpecError
from generator.methods.explanations.faithfulness import evaluate, random_ranking, removal_counts
from generator.methods.explanations.model_runs import causal_variant_scores, similarity_variant_scores
from generator.methods.explanations.options import METHODS
from generator.model_run import ModelRun
from generator.models.loading import POOL
from generator.models.registry import resolve
from generator.payload import decode_array
from generator.payload.arrays import max_error
from generator.spec import Catalogue, spec_from_block


def block(body: str):
    return spec_from_block(textwrap.dedent(body), file="docs/page.md", line_offset=10, catalogue=Catalogue({}))


def bake(tmp_path, body: str) -> dict:
    return json.loads(Baker(tmp_path / "cache", base_dir=tmp_path).payload(block(body)))


def bake_error(tmp_path, body: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        Baker(tmp_path / "cache", base_dir=tmp_path).payload(block(body))
    return caught.value


# -- the hand-checked case: one decisive token ------------------------------------------------------------------------

class OneTokenModel(torch.nn.Module):
    """A 'language model' over 6 token ids with one-hot embeddings whose logit for id 5 at position i is
    1 + 10 x (number of id-3 tokens at positions <= i); id 0 is the neutral token. Only token 3 matters."""

    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(6, 6)
        with torch.no_grad():
            self.embedding.weight.copy_(torch.eye(6))

    def get_input_embeddings(self):
        return self.embedding

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None, logits_to_keep=None):
        if inputs_embeds is None:
            inputs_embeds = self.embedding(input_ids)      # the hook_embed point: the embedding table's output
        logits = torch.zeros(inputs_embeds.shape[:2] + (6,))
        logits[..., 5] = 1 + 10 * inputs_embeds[..., 3].cumsum(dim=1)
        return SimpleNamespace(logits=logits[:, -logits_to_keep:] if logits_to_keep else logits)


def test_removing_the_decisive_token_collapses_the_target_and_the_measures_say_so():
    model, ids = OneTokenModel(), torch.tensor([1, 2, 3, 4, 2, 5])      # output: id 5 at position 5
    model = ModelRun(SimpleNamespace(model=model, adapter=None, info=SimpleNamespace(architecture="toy", n_layers=0)))
    candidates = np.array([[True] * 5 + [False]])
    shares = {"right": np.array([[0.1, 0.1, 0.5, 0.2, 0.1, 0.0]]),    # ranks position 2 (id 3) first
              "wrong": np.array([[0.3, 0.25, 0.05, 0.2, 0.2, 0.0]])}   # ranks it last: order 0, 1, 3, 4, 2

    def run_masks(t, masks):
        return causal_variant_scores(model, ids, 5 + t, masks[:, :5 + t], 0, "logit")
    f0 = float(run_masks(0, np.zeros((1, 6), dtype=bool))[0])
    assert f0 == 11.0
    steps = [20, 40, 60]
    assert removal_counts(5, steps) == [1, 2, 3] and removal_counts(24, [10, 50, 100]) == [2, 12, 24]
    result = evaluate(shares, candidates, np.array([f0]), steps, random_orders=4, run_masks=run_masks)
    # "right": every deletion step removes id 3 (f = 1), every sufficiency step keeps it (f = 11)
    assert result.deleted[0, 0].tolist() == [1.0, 1.0, 1.0] and result.kept[0, 0].tolist() == [11.0, 11.0, 11.0]
    assert result.aopc[0, 0] == pytest.approx((0 + 10 + 10 + 10) / 4)
    assert result.comprehensiveness[0, 0] == pytest.approx(10.0) and result.sufficiency[0, 0] == 0.0
    # "wrong": the top 1, 2, 3 (positions 0; 0, 1; 0, 1, 3) never hold id 3
    assert result.deleted[1, 0].tolist() == [11.0, 11.0, 11.0] and result.kept[1, 0].tolist() == [1.0, 1.0, 1.0]
    assert result.aopc[1, 0] == 0.0 and result.sufficiency[1, 0] == pytest.approx(10.0)
    # random: f = 1 at step k exactly for the orders whose first c_k positions hold position 2
    orders = [random_ranking(candidates[0], order, 0) for order in range(4)]
    expected = [np.mean([1.0 if 2 in order[:c] else 11.0 for order in orders]) for c in (1, 2, 3)]
    np.testing.assert_allclose(result.deleted[2, 0], expected)
    assert len({tuple(order) for order in orders}) > 1, "the random orders differ"
    assert result.spearman[0, 0, 1] < 0


def test_variant_scores_equal_a_forward_on_replaced_token_ids(tiny_models):
    loaded = POOL.get(resolve(str(tiny_models["llama"])))
    ids = torch.tensor([5, 17, 240, 33, 90, 12, 7])
    masks = np.array([[False, True, False, False, True, False], [True, False, False, False, False, False],
                      [False] * 6])
    neutral = 2
    got = causal_variant_scores(ModelRun(loaded), ids, 6, masks, neutral, "probability", max_tokens=7)
    for mask, value in zip(masks, got):
        replaced = torch.where(torch.tensor(mask), neutral, ids[:6])
        with torch.no_grad():
            logits = loaded.model(replaced[None]).logits[0, -1]
        assert value == pytest.approx(float(logits.softmax(-1)[ids[6]]), rel=1e-5)

    bert = POOL.get(resolve(str(tiny_models["bert"])))
    ids_a, ids_b = torch.tensor([101, 1037, 2158, 102]), torch.tensor([101, 2189, 1012, 3248, 102])
    masks = np.zeros((3, 9), dtype=bool)
    masks[0, 1], masks[1, [2, 6]], masks[2, 6] = True, True, True
    got = similarity_variant_scores(ModelRun(bert), ids_a, ids_b, masks, 103)
    for mask, value in zip(masks, got):
        with torch.no_grad():
            u = bert.model(torch.where(torch.tensor(mask[:4]), 103, ids_a)[None]).last_hidden_state[0].mean(0)
            v = bert.model(torch.where(torch.tensor(mask[4:]), 103, ids_b)[None]).last_hidden_state[0].mean(0)
        assert value == pytest.approx(float(u @ v / (u.norm() * v.norm())), abs=1e-6)


# -- the baked section ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def causal_payload(tmp_path_factory, tiny_models):
    body = (f"model: {tiny_models['llama']}\ntext: The cat sat on the mat because it\ngenerate: 3\n"
            f"views: [explanations]\nexplanations: {{ig_steps: 8, methods: {json.dumps(list(METHODS))}}}\n")
    return bake(tmp_path_factory.mktemp("causal"), body), body


def test_causal_section_has_every_method_as_shares_of_earlier_positions(causal_payload, tiny_models):
    payload, _ = causal_payload
    section, n_prompt, n = payload["explanations"], payload["n_prompt"], len(payload["tokens"])
    assert section["kind"] == "causal" and section["methods"] == list(METHODS)
    shares, bound = decode_array(section["shares"]), max_error(section["shares"])
    assert shares.shape == (len(METHODS), n - n_prompt, n) and shares.min() >= 0
    for m, name in enumerate(METHODS):
        for t in range(n - n_prompt):
            p = n_prompt + t
            assert np.all(shares[m, t, p:] == 0), f"{name}: an output depends on earlier tokens only"
            assert abs(shares[m, t, :p].sum() - 1) <= p * bound + 1e-12, name
    for name in ("rollout", "flow"):
        layers = decode_array(section["layers"][name])
        assert layers.shape == (n - n_prompt, 2, n)
        np.testing.assert_allclose(layers[:, -1], shares[METHODS.index(name)], atol=2 * bound)
    loaded = POOL.get(resolve(str(tiny_models["llama"])))
    ids = loaded.tokenizer("The cat sat on the mat because it", return_tensors="pt")["input_ids"]
    assert ids.shape[1] == n_prompt
    with torch.no_grad():
        for _ in range(n - n_prompt):                  # the greedy continuation, regenerated here
            ids = torch.cat([ids, loaded.model(ids).logits[:, -1:].argmax(-1)], dim=1)
        logits = loaded.model(ids).logits[0]
    expected = [float(logits[p - 1, ids[0, p]]) for p in range(n_prompt, n)]
    assert section["values"] == pytest.approx(expected, abs=1e-4)


def test_causal_faithfulness_and_ig_records(causal_payload):
    payload, _ = causal_payload
    section, n_prompt, n = payload["explanations"], payload["n_prompt"], len(payload["tokens"])
    faith, outputs = section["faithfulness"], n - n_prompt
    assert faith["steps"] == [10, 20, 30, 40, 50] and faith["random_orders"] == 3
    assert faith["removal"] == "replaced" and faith["neutral_token"] == "<|im_end|>"
    assert faith["candidates"] == [n_prompt + t for t in range(outputs)]
    assert np.array(faith["deleted"]).shape == (len(METHODS) + 1, outputs, 5)
    assert np.array(faith["spearman"], dtype=float).shape == (outputs, len(METHODS), len(METHODS))
    f0 = np.array(section["values"])[:, None]
    deleted, kept = np.array(faith["deleted"]), np.array(faith["kept"])
    np.testing.assert_allclose(faith["aopc"], (f0 - deleted).sum(-1) / 6, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(faith["sufficiency"], (f0 - kept).mean(-1), rtol=1e-5, atol=1e-6)
    ig = section["ig"]
    assert ig["baseline"] == "neutral" and ig["steps"] == 8 and "<|im_end|>" in ig["baseline_text"]
    assert max(ig["gap"]) < 0.01, "a tiny model's path is smooth: 8 Gauss-Legendre steps add up"


def test_similarity_section_halves_attention_and_joins_gradients(tmp_path, tiny_models):
    pair = ["A man plays a guitar.", "Someone makes music."]
    body = (f"model: {tiny_models['bert']}\npair: {json.dumps(pair)}\nviews: [explanations]\n"
            f"explanations: {{ig_steps: 8, baseline: zero, methods: {json.dumps(list(METHODS))}}}\n")
    section = bake(tmp_path, body)["explanations"]
    n_a, n_b = len(section["tokens_a"]), len(section["tokens_b"])
    shares = decode_array(section["shares"])
    assert section["kind"] == "similarity" and section["target"] == "similarity"
    assert shares.shape == (len(METHODS), 1, n_a + n_b)
    bound = max_error(section["shares"]) * (n_a + n_b)
    for m, name in enumerate(METHODS):
        assert abs(shares[m, 0].sum() - 1) <= bound + 1e-12
        if name in ("raw_attention", "rollout", "flow", "value_weighted", "value_zeroing"):
            assert abs(shares[m, 0, :n_a].sum() - 0.5) <= bound + 1e-12, name
    assert section["faithfulness"]["candidates"] == [n_a + n_b - 4], "[CLS] and [SEP] of each sentence stay"
    loaded = POOL.get(resolve(str(tiny_models["bert"])))
    from generator.methods.saliency.encoder import similarity_saliency
    ids = [loaded.tokenizer(s, return_tensors="pt")["input_ids"][0] for s in pair]
    expected = similarity_saliency(loaded.model, *ids, ig_steps=8)
    assert section["values"][0] == pytest.approx(expected.similarity, abs=1e-5)
    for name in ("gradient_x_input", "integrated_gradients"):
        joint = np.concatenate([expected.scores_a[name], expected.scores_b[name]])
        assert np.abs(shares[METHODS.index(name), 0] - joint).max() <= max_error(section["shares"]) + 1e-6


def test_zero_baseline_ig_equals_the_saliency_view_and_bakes_byte_identically(tmp_path, tiny_models):
    body = (f"model: {tiny_models['gpt2']}\ntext: One two three four\ngenerate: 2\nviews: [saliency, explanations]\n"
            "saliency: {ig_steps: 6}\nexplanations: {ig_steps: 6, baseline: zero, methods: [integrated_gradients, "
            "gradient_x_input], deletion_steps: [25, 50], random_orders: 2}\n")
    payload = bake(tmp_path, body)
    section = payload["explanations"]
    assert section["methods"] == ["gradient_x_input", "integrated_gradients"] and section["layers"] == {}
    shares = decode_array(section["shares"])
    for m, name in enumerate(section["methods"]):
        np.testing.assert_allclose(shares[m], decode_array(payload["saliency"]["methods"][name]), atol=2e-5)
    assert section["ig"]["gap"] == pytest.approx(payload["saliency"]["ig_gap"], rel=1e-4)
    again = Baker(tmp_path / "other", base_dir=tmp_path)._compute(block(body))
    assert again == Baker(tmp_path / "third", base_dir=tmp_path)._compute(block(body))


@pytest.mark.parametrize("baseline", ["neutral", "mean"])
def test_ig_baselines_keep_the_first_token_and_add_up(tmp_path, tiny_models, baseline):
    from generator.attribution.baselines import baseline_embeddings, kept_positions
    from generator.attribution.gradients import token_embeddings
    from generator.attribution.integrated import causal_integrated_gradients

    loaded = POOL.get(resolve(str(tiny_models["llama"])))
    ids = torch.tensor([7, 300, 41, 9, 1200, 55, 2])
    x = token_embeddings(loaded.model, ids)
    b = baseline_embeddings(loaded.model, x, baseline, neutral_id=2, keep=kept_positions([False, False, True] + [False] * 4))
    table = loaded.model.get_input_embeddings().weight.detach()
    filler = table[2] if baseline == "neutral" else table.mean(0)
    assert torch.equal(b[0], x[0]) and torch.equal(b[2], x[2]), "the first and the special token are kept"
    assert torch.allclose(b[[1, 3, 4, 5, 6]], filler.expand(5, -1))
    ig = causal_integrated_gradients(loaded.model, ids, 4, steps=64, baseline=b)
    attributions = ig.attributions.double()
    assert torch.all(attributions[:, [0, 2]] == 0)
    for g in range(3):
        total = float(attributions[g, :4 + g].sum())
        assert total == pytest.approx(float(ig.f_input[g] - ig.f_baseline[g]), rel=1e-3, abs=1e-6)
    saliency = bake(tmp_path, f"model: {tiny_models['llama']}\ntext: a b c\ngenerate: 1\nviews: [saliency]\n"
                              f"saliency: {{ig_steps: 4, baseline: {baseline}}}\n")["saliency"]
    assert saliency["ig_baseline"] == baseline and "first" in saliency["ig_baseline_text"]


# -- bad input -------------------------------------------------------------------------------------------------------

def test_causal_explanations_without_generate_name_the_field(tmp_path, tiny_models):
    error = bake_error(tmp_path, f"model: {tiny_models['gpt2']}\ntext: Nothing generated\nviews: [explanations]\n")
    assert error.field == "views" and error.line == 13 and "generates none" in error.message
    assert "generate: N" in error.hint and "remove 'explanations'" in error.hint
    error = bake_error(tmp_path, f"model: {tiny_models['gpt2']}\ntext: Nothing\nexplanations: {{random_orders: 2}}\n")
    assert error.field == "explanations" and error.line == 13


def test_encoder_explanations_need_a_pair_and_refuse_a_target(tmp_path, tiny_models):
    error = bake_error(tmp_path, f"model: {tiny_models['bert']}\ntext: Only one.\nviews: [explanations]\n")
    assert error.field == "text" and error.line == 12 and "pair:" in error.hint
    error = bake_error(tmp_path, f"model: {tiny_models['bert']}\npair: [a, b]\nexplanations:\n  target: logit\n")
    assert error.field == "explanations.target" and error.line == 14


@pytest.mark.parametrize("options, field, words", [
    ("{deletion_steps: [0, 20]}", "explanations.deletion_steps", "from 1 to 100, got 0"),
    ("{deletion_steps: [10, 120]}", "explanations.deletion_steps", "from 1 to 100, got 120"),
    ("{deletion_steps: [30, 20]}", "explanations.deletion_steps", "must increase"),
    ("{deletion_steps: []}", "explanations.deletion_steps", "at least 1"),
    ("{baseline: blurred}", "explanations.baseline", "'zero', 'neutral' or 'mean'"),
    ("{methods: [shap]}", "explanations.methods.0", "'raw_attention'"),
    ("{random_orders: 0}", "explanations.random_orders", "0 is too small: the least allowed is 1"),
])
def test_bad_options_are_schema_errors_naming_the_field(options, field, words):
    with pytest.raises(SpecError) as caught:
        block(f"model: smollm2\ntext: a\ngenerate: 2\nexplanations: {options}\n")
    assert caught.value.field == field and caught.value.line == 14 and words in caught.value.message


def test_an_unknown_saliency_baseline_is_a_schema_error():
    with pytest.raises(SpecError) as caught:
        block("model: smollm2\ntext: a\ngenerate: 2\nsaliency:\n  baseline: pad\n")
    assert caught.value.field == "saliency.baseline" and caught.value.line == 15
