"""The model's own explanation, tested (counterfactuals.self_explanation), on a tiny random Llama that carries
SmolLM2's tokenizer and chat template:

- the prompt is what the tokenizer's own `apply_chat_template` gives for the recorded conversation, and the
  explanation is the greedy continuation of it, recomputed here by a loop of full forwards without a key/value
  cache (the method uses the model's `generate` with its cache);
- the deletion numbers (cited words, top-saliency words, every random draw) are recomputed by forward passes of the
  model itself on embeddings with the deleted positions' rows replaced by the end-of-text token's row;
- the cited words are the words of a fixed explanation that occur in the text, less the words of our question;
- two bakes give byte-identical payloads; bad input is a placed error.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from generator.errors import SpecError
from generator.methods.counterfactuals import self_explanation as module
from generator.methods.counterfactuals.target import Target
from tests.test_counterfactuals import TEXT, bake_error, bake_text, block


def body(model, extra: str = "") -> str:
    return f"""\
        model: {model}
        text: {TEXT}
        generate: 1
        views: [contrast]
        counterfactuals: {{searches: [], attention: false, self_explanation: true, explanation_tokens: 24,
                           draws: 5{extra}}}
        """


@pytest.fixture(scope="module")
def payload(tiny_models, tmp_path_factory):
    return bake_text(tmp_path_factory.mktemp("self"), body(tiny_models["llama"]))


def _direct(folder):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    return model, AutoTokenizer.from_pretrained(folder)


def test_the_prompt_is_the_chat_template_and_the_explanation_its_greedy_continuation(payload, tiny_models):
    record = json.loads(payload)["counterfactuals"]["self_explanation"]
    model, tokenizer = _direct(tiny_models["llama"])
    conversation = record["messages"]
    assert [m["role"] for m in conversation] == ["user", "assistant", "user"]
    assert TEXT in conversation[0]["content"]
    y = json.loads(payload)["counterfactuals"]["explained"]["id"]
    assert conversation[1]["content"] == tokenizer.decode([y]).strip()
    out = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True)
    ids = list(out["input_ids"] if hasattr(out, "keys") else out)
    assert tokenizer.decode(ids).endswith("<|im_start|>assistant\n")          # SmolLM2's template, turn opened
    stops = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")}
    new = []
    with torch.no_grad():
        for _ in range(24):                                                   # no cache: every step a full forward
            row = torch.tensor([ids + new])
            nxt = int(model(row, attention_mask=torch.ones_like(row)).logits[0, -1].argmax())
            new.append(nxt)
            if nxt in stops:
                break
    assert record["tokens"] == len(new)
    assert record["ended"] == (new[-1] in stops)
    assert record["explanation"] == tokenizer.decode(new[:-1] if new[-1] in stops else new,
                                                     skip_special_tokens=True)


def test_two_bakes_give_byte_identical_payloads(payload, tiny_models, tmp_path):
    again = bake_text(tmp_path, body(tiny_models["llama"]), "again")
    assert again == payload


@pytest.fixture(scope="module")
def fixed(tiny_models):
    """The test on a fixed explanation ("Because of the dog, and the park."): the generation is replaced, the rest
    (words, deletion, random draws) is the method's."""
    from generator.capture import run
    from generator.methods.registry import Needs
    from generator.models.loading import load
    from generator.models.registry import resolve

    loaded = load(resolve(str(tiny_models["llama"])))
    spec = block(body(tiny_models["llama"]))
    capture = run(spec, loaded, Needs(gradients=True, vocabulary=True, adapter=True))
    target = Target(capture, 0, 0.5)
    text = "Because of the dog, and the park."
    said = loaded.tokenizer(text, add_special_tokens=False)["input_ids"] + [loaded.tokenizer.eos_token_id]
    target.run.generate = lambda ids, n, stops: said                         # this object only
    tokens = capture.tokens[:target.position]
    saliency = target.saliency()
    record = module.self_explanation(target, capture.vocabulary, tokens, TEXT, "x", saliency, capture.neutral_id,
                                     max_tokens=24, draws=6, seed=0)
    return record, loaded, target, saliency


def test_the_cited_words_are_the_texts_words_in_the_explanation_less_the_questions(fixed):
    record, loaded, target, _ = fixed
    assert record["explanation"] == "Because of the dog, and the park." and record["ended"]
    # "the" and "of" are words of our question ("Which words of the text ..."); "because" is not in the text
    assert record["cited"] == ["dog", "park", "and"]   # in the order of the text
    pieces = loaded.tokenizer.convert_ids_to_tokens(target.row[record["positions"]].tolist())
    assert sorted(p.lstrip("Ġ") for p in pieces) == ["and", "dog", "park"]


def test_the_deletion_numbers_hold_in_an_independent_forward(fixed):
    record, loaded, target, saliency = fixed
    model, row, y = loaded.model, target.row, target.output_id
    table = model.get_input_embeddings().weight.detach()
    eos = table[loaded.tokenizer.eos_token_id]

    def prob(positions):      # the model itself on embeddings, the deleted rows replaced by end-of-text's
        x = table[torch.cat([row, torch.tensor([y])])].clone()
        x[list(positions)] = eos
        with torch.no_grad():
            logits = model(inputs_embeds=x[None], attention_mask=torch.ones(1, x.shape[0], dtype=torch.long)).logits
        return float(torch.softmax(logits[0, -2].double(), -1)[y])

    base = prob([])
    assert record["prob"] == pytest.approx(base, rel=1e-5, abs=1e-7)
    deleted = record["deleted"]
    assert deleted["cited"]["prob"] == pytest.approx(prob(record["positions"]), rel=1e-5, abs=1e-7)
    assert deleted["cited"]["drop"] == pytest.approx(base - prob(record["positions"]), rel=1e-4, abs=1e-6)
    # the top-saliency words: as many words, the largest summed shares (checked from the shares themselves)
    positions = deleted["saliency"]["positions"]
    assert deleted["saliency"]["prob"] == pytest.approx(prob(positions), rel=1e-5, abs=1e-7)
    assert len(deleted["saliency"]["words"]) == record["occurrences"] == 3
    assert saliency[positions].sum() >= saliency[record["positions"]].sum() - 1e-12
    drops = [base - prob(p) for p in deleted["random"]["positions"]]
    assert deleted["random"]["drops"] == pytest.approx(drops, rel=1e-4, abs=1e-6)
    assert len(drops) == 6 and len({tuple(p) for p in deleted["random"]["positions"]}) > 1
    assert deleted["random"]["drop"]["median"] == pytest.approx(float(np.median(drops)), rel=1e-4, abs=1e-6)
    assert record["random_at_least"] == sum(d >= deleted["cited"]["drop"] - 1e-12 for d in drops)


def test_a_pair_model_cannot_be_asked(tiny_models, tmp_path):
    error = bake_error(tmp_path, f"""\
        model: {tiny_models["bert"]}
        pair: [A man plays a guitar., Someone makes music.]
        views: [contrast]
        counterfactuals: {{searches: [], self_explanation: true}}
        """)
    assert "counterfactuals.self_explanation" in str(error) and "chat" in str(error)


def test_a_tokenizer_without_a_chat_template_is_a_placed_error(tiny_models, tmp_path):
    folder = tmp_path / "plain"
    shutil.copytree(tiny_models["llama"], folder)
    for name in ("chat_template.jinja", "chat_template.json"):
        (folder / name).unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(SpecError) as caught:
        bake_text(tmp_path, body(folder))
    assert "counterfactuals.self_explanation" in str(caught.value) and "chat template" in str(caught.value)


@pytest.mark.parametrize("option, value", [("explanation_tokens", 4), ("explanation_tokens", 1000), ("draws", 0)])
def test_out_of_range_counts_are_schema_errors(tiny_models, tmp_path, option, value):
    error = bake_error(tmp_path, f"""\
        model: {tiny_models["llama"]}
        text: {TEXT}
        generate: 1
        counterfactuals: {{{option}: {value}}}
        """)
    assert option in str(error)
