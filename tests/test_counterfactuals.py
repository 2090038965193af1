"""The "counterfactuals" method on tiny random models, each claim checked by another route:

- every reported flip is re-verified by an independent forward pass (the model called directly, not through
  ModelRun) on the edited text's token ids, read again by the tokenizer;
- the search against brute force over every edit of up to 2 positions among its positions and candidates: no
  flipping edit with fewer changed positions was missed;
- HotFlip's first-order estimate against central finite differences of the score (float64 copy of the model);
- seeded permutations: each a permutation, the same for the same seed; two bakes give byte-identical payloads;
- bad input: empty and identical contrasts, contrasts of the wrong form, out-of-range options (schema errors naming
  the field and range), a causal model without an output to explain (the same error as the explanations method).
"""

from __future__ import annotations

import copy
import itertools
import json
import textwrap

import numpy as np
import pytest
import torch

from generator.bake import Baker
from generator.errors import SpecError
from generator.methods.counterfactuals import hotflip, search as search_module
from generator.methods.counterfactuals.attention import permutation
from generator.methods.counterfactuals.target import Target
from generator.spec import Catalogue, spec_from_block


def block(body: str):
    return spec_from_block(textwrap.dedent(body), file="docs/page.md", line_offset=10, catalogue=Catalogue({}))


def bake_text(tmp_path, body: str, cache: str = "cache") -> str:
    return Baker(tmp_path / cache, base_dir=tmp_path).payload(block(body))


def bake_error(tmp_path, body: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        Baker(tmp_path / "cache", base_dir=tmp_path).payload(block(body))
    return caught.value


TEXT = "The old man walked his dog in the park and then he sat down on a bench near the"


def causal_body(model, extra: str = "") -> str:
    return f"""\
        model: {model}
        text: {TEXT}
        generate: 1
        views: [contrast, attention_counterfactual]
        counterfactuals: {{contrasts: ["The old woman walked her cat in the park and then she sat down on a bench near the"],
                           budget: 64, positions: 4, candidates: 4, permutations: 3{extra}}}
        """


@pytest.fixture(scope="module")
def causal_payload(tiny_models, tmp_path_factory):
    return json.loads(bake_text(tmp_path_factory.mktemp("cf"), causal_body(tiny_models["llama"])))


def _direct(folder):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    return model, AutoTokenizer.from_pretrained(folder)


def test_every_reported_flip_holds_in_an_independent_forward_on_the_edited_texts_ids(causal_payload, tiny_models):
    model, tokenizer = _direct(tiny_models["llama"])
    section = causal_payload["counterfactuals"]
    y = section["explained"]["id"]
    flips = [r for r in [*(s["result"] for s in section["searches"].values()), *section["contrasts"]]
             if r is not None and r["flipped"]]
    assert section["searches"]["minimal"]["result"] is not None, "the tiny model's answer is easy to flip"
    for record in flips:
        ids = tokenizer(record["text"], return_tensors="pt")["input_ids"]
        if record.get("retokenizes") is False:
            continue                     # a flip of the ids only; the payload says so
        with torch.no_grad():
            logits = model(ids, attention_mask=torch.ones_like(ids)).logits[0, -1]
        assert int(logits.argmax()) != y, record["label"]
        prob = float(torch.softmax(logits.double(), -1)[y])
        if "prob" in record:
            assert abs(prob - record["prob"]) <= 1e-4 * max(1.0, prob) + 1e-6
    # the original really had y on top
    ids = tokenizer(TEXT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert int(model(ids).logits[0, -1].argmax()) == y


def test_the_search_never_misses_a_smaller_flip_among_its_candidates(tiny_models):
    """Brute force over every edit of 1 and 2 positions among the search's positions and candidates, run by the
    model itself: none flips with fewer positions than the search's result (or at all, when it found none)."""
    from generator.capture import run
    from generator.methods.registry import Needs
    from generator.models.loading import load
    from generator.models.registry import resolve

    loaded = load(resolve(str(tiny_models["llama"])))
    spec = block(f"""\
        model: {tiny_models["llama"]}
        text: {TEXT}
        generate: 1
        views: [contrast]
        """)
    capture = run(spec, loaded, Needs(gradients=True, vocabulary=True, adapter=True))
    target = Target(capture, 0, 0.5)
    gradient = target.gradient()
    row = target.row
    rng = np.random.default_rng(0)
    positions = sorted(rng.choice(np.arange(1, row.shape[0]), size=4, replace=False).tolist())
    pool = np.arange(100, 5000)
    options = [hotflip.best(gradient, target.table, row, p, pool, 3) for p in positions]
    found = search_module.search(target, positions, options, budget=4096)
    model = loaded.model
    y = target.output_id

    def flips(edits):
        ids = row.clone()
        for p, new in edits:
            ids[p] = int(new)
        with torch.no_grad():
            return int(model(ids[None]).logits[0, -1].argmax()) != y

    smallest = found.result.edit.size if found.result is not None else 3
    for size in (1, 2):
        if size >= smallest:
            break
        for chosen in itertools.combinations(range(len(positions)), size):
            for picks in itertools.product(*(options[j][0] for j in chosen)):
                assert not flips(list(zip([positions[j] for j in chosen], picks))), (chosen, picks)
    if found.result is not None:   # and the one it reports does flip
        assert flips([(p, new) for p, _, new in found.result.edit.changes])
    assert found.forwards <= 4096


def test_edit_sets_come_lowest_estimate_first_and_cover_every_combination_when_allowed():
    row = np.array([10, 11, 12])
    options = [(np.array([1, 2]), np.array([-3.0, -1.0])), (np.array([5]), np.array([-2.0]))]
    sets = search_module.edit_sets(row, [0, 2], options, 100)
    assert len(sets) == 3 * 2 - 1                     # (2 candidates + unchanged) x (1 + unchanged), minus empty
    assert [round(s.estimate, 6) for s in sets] == sorted(round(s.estimate, 6) for s in sets)
    assert sets[0].changes == ((0, 10, 1), (2, 12, 5)) and sets[0].estimate == -5.0
    assert len(search_module.edit_sets(row, [0, 2], options, 2)) == 2


def test_the_first_order_estimate_matches_finite_differences(tiny_models):
    from generator.capture import run
    from generator.methods.registry import Needs
    from generator.models.loading import load
    from generator.models.registry import resolve

    loaded = copy.copy(load(resolve(str(tiny_models["llama"]))))
    loaded.model = copy.deepcopy(loaded.model).double()
    spec = block(f"""\
        model: {tiny_models["llama"]}
        text: {TEXT}
        generate: 1
        views: [contrast]
        """)
    capture = run(spec, loaded, Needs(gradients=True, vocabulary=True, adapter=True))
    target = Target(capture, 0, 0.5)
    gradient = target.gradient()
    model, table, row, y = loaded.model, target.table, target.row, target.output_id

    def score(x):   # independent of ModelRun and of the package: the model called on embeddings
        with torch.no_grad():
            logits = model(inputs_embeds=x[None], attention_mask=torch.ones(1, x.shape[0], dtype=torch.long)).logits
        return float(torch.log_softmax(logits[0, -1], -1)[y])

    x = table[row].clone()
    pool = np.arange(100, 3000)
    for position in (2, 7, row.shape[0] - 1):
        all_estimates = hotflip.estimates(gradient, table, row, position, pool)
        candidates = pool[np.argsort(-np.abs(all_estimates))[:3]]        # the largest predicted changes
        estimate = hotflip.estimates(gradient, table, row, position, candidates)
        for v, est in zip(candidates, estimate):
            d = torch.zeros_like(x)
            d[position] = table[int(v)] - table[int(row[position])]
            # the eager attention takes its softmax in float32 even in a float64 model: a step of 1e-3 keeps
            # that rounding (~1e-7 of f) far below the differences taken
            eps = 1e-3
            fd = (score(x + eps * d) - score(x - eps * d)) / (2 * eps)
            assert est == pytest.approx(fd, rel=1e-2, abs=1e-4)
            assert abs(est) > 1e-3          # a change worth comparing


def test_permutations_are_seeded_and_are_permutations():
    a = permutation(3, 2, 1, heads=4, width=9)
    assert (a == permutation(3, 2, 1, heads=4, width=9)).all()
    assert not (a == permutation(4, 2, 1, heads=4, width=9)).all()
    assert all(sorted(row) == list(range(9)) for row in a)


def test_two_bakes_give_byte_identical_payloads(tiny_models, tmp_path, causal_payload):
    body = causal_body(tiny_models["llama"])
    first = bake_text(tmp_path, body, "one")
    assert first == bake_text(tmp_path, body, "two")
    assert json.loads(first) == causal_payload


def test_counterfactual_attention_is_recorded_per_layer_and_all_layers(causal_payload):
    a = causal_payload["counterfactuals"]["attention"]
    assert a["layers"] == 2 and len(a["permuted"]) == 3 and len(a["uniform"]) == 3 and a["permutations"] == 3
    for record in a["permuted"]:
        s = record["tvd"]
        assert 0 <= s["min"] <= s["q25"] <= s["median"] <= s["q75"] <= s["max"] <= 1
    assert a["position"] == len(causal_payload["counterfactuals"]["original"]["tokens"]) - 1


def test_the_contrast_is_aligned_by_words(causal_payload):
    c = causal_payload["counterfactuals"]["contrasts"][0]
    tokens = c["tokens"]
    changed = {tokens[i]["text"].strip() for i in c["align"]["changed"]}
    assert changed == {"woman", "her", "cat", "she"}


def test_a_pair_edit_lowers_the_similarity_below_the_threshold_in_an_independent_run(tiny_models, tmp_path):
    from transformers import AutoModel, AutoTokenizer
    body = f"""\
        model: {tiny_models["bert"]}
        pair: [A cat sleeps on the mat., A kitten naps on a rug.]
        views: [contrast]
        counterfactuals: {{threshold: 0.9, budget: 64, positions: 3, candidates: 4}}
        """
    try:
        section = json.loads(bake_text(tmp_path, body))["counterfactuals"]
    except SpecError as error:        # the tiny model's pair already below 0.9: the placed error says so
        assert error.field == "counterfactuals.threshold"
        return
    model = AutoModel.from_pretrained(tiny_models["bert"], attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_models["bert"])
    for search in section["searches"].values():
        result = search["result"]
        if result is None or result.get("retokenizes") is False:
            continue
        pooled = []
        for sentence in result["text"]:
            ids = tokenizer(sentence, return_tensors="pt")["input_ids"]
            with torch.no_grad():
                pooled.append(model(ids).last_hidden_state[0].double().mean(0))
        cosine = float(torch.nn.functional.cosine_similarity(pooled[0], pooled[1], dim=0))
        assert cosine < 0.9
        assert cosine == pytest.approx(result["score"], abs=1e-4)


# -- bad input --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("contrast, message", [("''", "empty"), (f"'{TEXT}'", "the text itself"),
                                               ("[a, b]", "a string")])
def test_bad_contrasts_are_placed_errors(tiny_models, tmp_path, contrast, message):
    error = bake_error(tmp_path, f"""\
        model: {tiny_models["llama"]}
        text: {TEXT}
        generate: 1
        views: [contrast]
        counterfactuals:
          contrasts: [{contrast}]
        """)
    assert error.field == "counterfactuals.contrasts.0" and message in str(error)
    assert error.line is not None


def test_a_string_contrast_on_a_pair_is_a_placed_error(tiny_models, tmp_path):
    error = bake_error(tmp_path, f"""\
        model: {tiny_models["bert"]}
        pair: [A cat sleeps., A dog runs.]
        views: [contrast]
        counterfactuals: {{contrasts: [A cat naps.]}}
        """)
    assert error.field == "counterfactuals.contrasts.0" and "pair" in str(error)


@pytest.mark.parametrize("option, value, words", [("budget", 4, "8"), ("budget", 5000, "4096"),
                                                  ("permutations", 0, "1"), ("permutations", 101, "100"),
                                                  ("threshold", 1.5, "1"), ("positions", 17, "16"),
                                                  ("candidates", 0, "1")])
def test_out_of_range_options_are_schema_errors_naming_field_and_range(option, value, words):
    with pytest.raises(SpecError) as caught:
        block(f"""\
            model: smollm2
            text: Hello there
            generate: 1
            views: [contrast]
            counterfactuals: {{{option}: {value}}}
            """)
    assert f"counterfactuals.{option}" in str(caught.value) and words in str(caught.value)


def test_a_causal_model_without_an_output_gives_the_explanations_methods_error(tiny_models, tmp_path):
    body = f"""\
        model: {tiny_models["llama"]}
        text: {TEXT}
        views: [{{view}}]
        """
    ours = bake_error(tmp_path, body.replace("{view}", "contrast"))
    theirs = bake_error(tmp_path, body.replace("{view}", "explanations"))
    assert ours.field == theirs.field == "views"
    assert str(ours).replace("counterfactuals", "X") == str(theirs).replace("explanations", "X")


# suffix: each run computes the explained position alone from its layer (ModelRun.run_edit_sets(from_positions));
# otherwise full-length runs in groups (1: every layer its own group, started at its layer)
@pytest.mark.parametrize("group_rows", ["suffix", 1, 64])
def test_counterfactual_attention_started_at_the_edited_layer_equals_full_runs(tiny_models, monkeypatch, group_rows):
    """Each one-layer run starts at its layer from the clean residual stream (and, by default, computes position q
    alone); the same edits run from the embedding over the whole text (no start) give the same TVDs and changes of
    p(y)."""
    from generator.capture import run
    from generator.hooks import hook_name
    from generator.methods.counterfactuals import attention
    from generator.methods.registry import Needs
    from generator.models.loading import load
    from generator.models.registry import resolve

    loaded = load(resolve(str(tiny_models["llama"])))
    spec = block(f"""\
        model: {tiny_models["llama"]}
        text: {TEXT}
        generate: 1
        views: [contrast]
        """)
    capture = run(spec, loaded, Needs(gradients=True, vocabulary=True, adapter=True))
    target = Target(capture, 0, 0.5)
    if group_rows != "suffix":
        from generator.model_run import ModelRun
        monkeypatch.setattr(attention, "GROUP_ROWS", group_rows)
        monkeypatch.setattr(ModelRun, "suffix_refusal", lambda self, positions: "switched off by the test")
    found = attention.counterfactual_attention(target, 2, 5)
    row, q, y = target.row, int(target.row.shape[0]) - 1, target.output_id

    def probs(hooks):
        logits = target.run.run_with_hooks(row[None], hooks)
        return torch.softmax(logits[0, -1].double(), -1)

    base = probs([])
    for layer in range(2):
        heads = loaded.model.config.num_attention_heads
        for r in range(2):
            order = attention.permutation(5, layer, r, heads, q + 1)
            p = probs([(hook_name(layer, "attn.hook_pattern"), attention._permute(q, order))])
            tvd = 0.5 * float((p - base).abs().sum())
            assert tvd <= found["permuted"][layer]["tvd"]["max"] + 1e-6
            assert tvd >= found["permuted"][layer]["tvd"]["min"] - 1e-6
        p = probs([(hook_name(layer, "attn.hook_pattern"), attention._uniform(q))])
        assert found["uniform"][layer]["tvd"] == pytest.approx(0.5 * float((p - base).abs().sum()), abs=1e-6)
        assert found["uniform"][layer]["dprob"] == pytest.approx(float(p[y] - base[y]), abs=1e-6)
