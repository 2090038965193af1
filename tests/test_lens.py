"""The logit lens on tiny random models: GPT-2 (LayerNorm with bias), Llama (RMSNorm, grouped-query attention) and
Gemma 2 (RMSNorm scaled by 1 + weight, soft-capped logits).

The models are built here with random final-norm weights and biases (a norm left at weight 1, bias 0 would hide a
missing or doubled norm) and a wide initialisation, so their distributions are peaked enough for differences to
show. Every number is compared with tests/lens_reference.py, a float64 lens written from the definitions that
shares no code with the generator; the last layer is compared with the model's own output.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch

import lens_reference as ref
from generator.bake import Baker
from generator.capture import run
from generator.errors import SpecError
from generator.methods import REGISTRY
from generator.methods.lens.compute import logit_lens
from generator.methods.lens.section import candidate_table, hidden_rows, watched_ids
from generator.models.adapters import adapter_for
from generator.models.loading import POOL
from generator.models.registry import resolve
from generator.payload import decode_array
from generator.payload.arrays import max_error
from generator.spec import Catalogue, spec_from_block

TEXT = "The keys to the cabinet in the hall"
FAMILIES = ["gpt2", "llama", "gemma2"]
LENS = REGISTRY["lens"]


def _build(family: str, vocab: int):
    from transformers import (Gemma2Config, Gemma2ForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig,
                              LlamaForCausalLM)

    common = dict(vocab_size=vocab, bos_token_id=1, eos_token_id=2, attn_implementation="eager")
    if family == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=3, n_head=4, n_positions=128, initializer_range=0.3,
                                           **common))
        norm = model.transformer.ln_f
    elif family == "llama":
        model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                             initializer_range=0.3, **common))
        norm = model.model.norm
    else:
        model = Gemma2ForCausalLM(Gemma2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                               num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                                               max_position_embeddings=128, initializer_range=0.3,
                                               final_logit_softcapping=5.0, **common))
        norm = model.model.norm
    with torch.no_grad():
        torch.nn.init.normal_(norm.weight, 1.0 if family != "gemma2" else 0.0, 0.5)
        if getattr(norm, "bias", None) is not None:
            torch.nn.init.normal_(norm.bias, 0.0, 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def lens_models(tmp_path_factory, byte_level_tokenizer) -> dict[str, str]:
    """Folders of the three tiny models, saved like hub models."""
    root = tmp_path_factory.mktemp("lens-models")
    torch.manual_seed(1)
    folders = {}
    for family in FAMILIES:
        folder = root / family
        _build(family, len(byte_level_tokenizer)).save_pretrained(folder)
        byte_level_tokenizer.save_pretrained(folder)
        folders[family] = str(folder)
    return folders


def block(body: str):
    return spec_from_block(textwrap.dedent(body), file="docs/page.md", line_offset=10, catalogue=Catalogue({}))


def lens_of(folder: str, generate: int = 0, watch: tuple[str, ...] = (), top_k: int = 5):
    """(capture, spec, LensResult, payload section) of the text on a model folder."""
    watch_yaml = json.dumps(list(watch))
    spec = block(f"model: {folder}\ntext: {TEXT}\ngenerate: {generate}\nviews: [layers, ranks, probabilities]\n"
                 f"lens: {{top_k: {top_k}, watch: {watch_yaml}}}\n")
    loaded = POOL.get(resolve(folder))
    capture = run(spec, loaded, LENS.needs)
    hidden = hidden_rows(capture.activations, capture.readout, capture.info.n_layers)
    result = logit_lens(hidden, capture.readout, capture.ids, watched_ids(spec, capture), top_k)
    return loaded, capture, result, LENS.section(spec, capture)


# -- the library's convention, checked rather than assumed -------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_the_adapter_knows_whether_the_last_hidden_state_carries_the_final_norm(family, lens_models):
    loaded = POOL.get(resolve(lens_models[family]))
    adapter = adapter_for(family)
    ids = loaded.tokenizer(TEXT, return_tensors="pt")["input_ids"]
    last_block = []
    handle = adapter.blocks(loaded.model)[-1].register_forward_hook(
        lambda _m, _a, out: last_block.append(out[0] if isinstance(out, tuple) else out))
    with torch.no_grad():
        hidden = loaded.model(ids, output_hidden_states=True).hidden_states
    handle.remove()
    normed = adapter.final_norm_module(loaded.model)(last_block[0])
    assert adapter.last_hidden_normed == torch.allclose(hidden[-1], normed, atol=1e-6)
    assert not torch.allclose(hidden[-1], last_block[0], atol=1e-3), "the norm is not the identity here"


# -- the last layer is the model's own output ------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_the_last_layer_is_the_models_own_output(family, lens_models):
    loaded, capture, result, _ = lens_of(lens_models[family])
    with torch.no_grad():
        own = loaded.model(capture.input_ids).logits[0].double()
    own_probs = torch.softmax(own, -1).numpy()
    L = capture.info.n_layers
    assert np.array_equal(result.top_ids[L, :, 0], own_probs.argmax(-1)), "top-1 equal at every position"
    picked = np.take_along_axis(own_probs, result.top_ids[L], axis=-1)
    assert np.abs(result.top_probs[L] - picked).max() < 1e-5
    nxt = own_probs[np.arange(len(capture.ids) - 1), capture.ids[1:]]
    assert np.abs(result.next_probs[L] - nxt).max() < 1e-5
    # The final norm applied once more (as a lens that ignored the library's convention would) is far from it:
    # the comparison above would catch it.
    last = hidden_rows(capture.activations, capture.readout, capture.info.n_layers)[L]
    twice = torch.log_softmax(capture.readout.logits(torch.as_tensor(last), normed=False)
                              .double(), -1).numpy()
    assert np.abs(twice - np.log(own_probs)).max() > 0.1


# -- every layer against the independent float64 lens --------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_every_layer_equals_the_independent_lens(family, lens_models):
    loaded, capture, result, _ = lens_of(lens_models[family], watch=(" the", " is"))
    res = ref.residuals(loaded.model, capture.ids)
    watch = [loaded.tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in (" the", " is")]
    N, L = len(capture.ids), capture.info.n_layers
    for layer in range(L + 1):
        logp = ref.log_softmax(ref.layer_logits(loaded.model, res, layer))
        # top-k: the same ids (the reference's order), the same probabilities
        expected_ids = np.argsort(-logp, axis=-1, kind="stable")[:, :5]
        assert np.array_equal(result.top_ids[layer], expected_ids), f"layer {layer}"
        got = np.log(result.top_probs[layer])
        assert np.abs(got - np.take_along_axis(logp, expected_ids, -1)).max() < 1e-4, f"layer {layer}"
        # ranks: 1 + the number of strictly larger logits
        z = logp  # the same order as the logits
        for p in range(N):
            targets = [(result.watch_ranks[w, layer, p], watch[w]) for w in range(2)]
            if p < N - 1:
                targets.append((result.next_ranks[layer, p], capture.ids[p + 1]))
            for rank, token in targets:
                low, high = ref.rank_bounds(z[p], token, 1e-4)
                assert low <= rank <= high, (layer, p, token, rank, low, high)
        assert np.abs(np.log(result.next_probs[layer]) - logp[np.arange(N - 1), capture.ids[1:]]).max() < 1e-4


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_reusing_the_last_layers_norm_scale_would_be_caught(family, lens_models):
    """TransformerLens's bug #1076: every layer normalised with the last layer's cached scale. On these models that
    lens is far from the right one at the early layers, where ours agrees with the reference to 1e-4."""
    loaded, capture, result, _ = lens_of(lens_models[family])
    res = ref.residuals(loaded.model, capture.ids)
    for layer in (0, 1):
        right = ref.log_softmax(ref.layer_logits(loaded.model, res, layer))
        wrong = ref.log_softmax(ref.layer_logits(loaded.model, res, layer, reuse_last_scale=True))
        ours = np.log(result.top_probs[layer])
        ids = result.top_ids[layer]
        assert np.abs(ours - np.take_along_axis(right, ids, -1)).max() < 1e-4
        assert np.abs(ours - np.take_along_axis(wrong, ids, -1)).max() > 0.1, f"layer {layer}"


# -- ranks under greedy decoding, blocks, payload ------------------------------------------------------------------

@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_a_greedy_token_has_rank_one_at_the_last_layer(family, lens_models):
    _, capture, result, section = lens_of(lens_models[family], generate=4)
    L, n_prompt = capture.info.n_layers, capture.n_prompt
    assert len(capture.ids) == n_prompt + 4
    assert np.all(result.next_ranks[L, n_prompt - 1:] == 1)
    ranks = decode_array(section["next_ranks"])
    assert np.array_equal(ranks, result.next_ranks), "ranks are stored exactly"


@pytest.mark.parametrize("tile", [(1, 16_385), (5, 4_099)])
@pytest.mark.parametrize("threads", [1, 2])
def test_tiles_of_any_size_and_any_number_of_workers_give_the_same_lens(tile, threads, lens_models):
    """One row a tile, and tiles cutting rows and the vocabulary (49,152) unevenly; on one worker and on two. Ranks
    and top ids stay exactly those of one whole tile, watched tokens included."""
    loaded, capture, _, _ = lens_of(lens_models["llama"])
    watch = [loaded.tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in (" the", " is")]
    hidden = hidden_rows(capture.activations, capture.readout, capture.info.n_layers)
    args = (hidden, capture.readout, capture.ids, watch, 5)
    whole = logit_lens(*args, tile=(10**6, 10**6))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        small = logit_lens(*args, tile=tile)
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before
    for name in ("top_ids", "next_ranks", "watch_ranks"):
        assert np.array_equal(getattr(small, name), getattr(whole, name)), name
    for name in ("top_probs", "next_probs", "watch_probs"):
        assert np.abs(getattr(small, name) - getattr(whole, name)).max() < 1e-6, name


def test_the_section_decodes_to_the_lens(lens_models):
    _, capture, result, section = lens_of(lens_models["gpt2"], watch=(" the",), top_k=3)
    N, L1 = len(capture.ids), capture.info.n_layers + 1
    assert section["top_k"] == 3 and section["n_layers"] == L1 - 1 and section["norm"] == "LayerNorm"
    assert section["top"]["shape"] == [L1, N, 3] and section["next_ranks"]["shape"] == [L1, N - 1]
    ids = np.array(section["candidates"]["ids"])
    assert np.array_equal(ids[decode_array(section["top"]).astype(int)], result.top_ids)
    assert len(set(ids.tolist())) == len(ids) == len(section["candidates"]["text"])
    probs = decode_array(section["top_probs"])
    assert np.abs(probs - result.top_probs).max() <= max_error(section["top_probs"]) + 1e-12
    (watched,) = section["watch"]
    assert watched["text"] == " the" and watched["ranks"]["shape"] == [L1, N]
    assert np.array_equal(decode_array(watched["ranks"]), result.watch_ranks[0])
    # candidates are read on their own: " the" is one of them somewhere, spelled with its space
    texts = dict(zip(section["candidates"]["ids"], section["candidates"]["text"]))
    assert texts.get(watched["id"], " the") == " the"


def test_candidates_most_frequent_first():
    top = np.array([[[7, 3], [3, 9]], [[3, 7], [5, 3]]])
    ids, index = candidate_table(top)
    assert ids.tolist() == [3, 7, 5, 9]           # 3 four times, 7 twice, then 5 and 9 once (lower id first)
    assert np.array_equal(ids[index], top)


def test_a_bake_is_byte_identical(tmp_path, lens_models):
    body = (f"model: {lens_models['llama']}\ntext: {TEXT}\ngenerate: 2\nviews: [layers, ranks]\n"
            "lens: {watch: [' is']}\n")
    first = Baker(tmp_path / "one", base_dir=tmp_path).payload(block(body))
    second = Baker(tmp_path / "two", base_dir=tmp_path).payload(block(body))
    assert first == second
    assert "attention" not in json.loads(first)


# -- bad input, placed at file, line and field -------------------------------------------------------------------

def bake_error(tmp_path, body: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        Baker(tmp_path / "cache", base_dir=tmp_path).payload(block(body))
    return caught.value


def test_a_watch_entry_of_several_tokens_names_its_pieces(tmp_path, lens_models):
    error = bake_error(tmp_path, f"model: {lens_models['llama']}\ntext: {TEXT}\nviews: [ranks]\nlens:\n"
                                 f"  watch:\n    - \" is\"\n    - \" 4\"\n")
    assert error.field == "lens.watch.1" and error.file == "docs/page.md" and error.line == 17
    assert '" 4" is not a single token' in error.message and 'tokenises as 2 tokens, " " + "4"' in error.message
    assert "leading space" in error.hint


@pytest.mark.parametrize("top_k, words", [(0, "0 is too small: the least allowed is 1"),
                                          (21, "21 is too large: the most allowed is 20"),
                                          ("five", "a whole number such as 5, not 'five'")])
def test_top_k_out_of_range_is_a_schema_error(top_k, words):
    with pytest.raises(SpecError) as caught:
        block(f"model: smollm2\ntext: a\nviews: [layers]\nlens:\n  top_k: {top_k}\n")
    error = caught.value
    assert error.field == "lens.top_k" and error.line == 15 and words in error.message
    assert error.hint == "candidates kept per layer and position: a whole number from 1 to 20, default 5"


def test_watch_entries_must_be_distinct_and_not_empty():
    for body, words in [("[' is', ' is']", "' is' is watched twice"), ("['']", "cannot be empty")]:
        with pytest.raises(SpecError) as caught:
            block(f"model: smollm2\ntext: a\nlens:\n  watch: {body}\n")
        assert caught.value.field == "lens.watch" and words in caught.value.message


@pytest.mark.slow
def test_an_encoder_is_refused_on_views_with_what_to_use(tmp_path):
    error = bake_error(tmp_path, "model: minilm\ntext: The keys to the cabinet\nviews: [layers, probabilities]\n")
    assert error.field == "views" and error.line == 13 and error.file == "docs/page.md"
    assert "all-MiniLM-L6-v2" in error.message and "without a language-model head" in error.message
    assert "the layers and probabilities views have nothing" in error.message
    assert "smollm2" in error.hint
    # the hint names the views that work on an encoder, from the support table's probes (models.support): the
    # attention views and the neuron view read any text, the interventions' editing and patching need an output
    # to explain that an encoder has not (a pair is explained by similarity, and knockout reads it)
    works = error.hint.split("views that work on bert: ")[1].split(", ")
    assert {"head", "model", "neuron", "factors", "knockout"} <= set(works)
    assert not {"layers", "ranks", "probabilities", "editing"} & set(works)
    error = bake_error(tmp_path, "model: minilm\ntext: The keys\nlens: {top_k: 3}\n")
    assert error.field == "lens" and error.line == 13
