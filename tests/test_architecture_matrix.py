"""The architecture matrix (issue 22): a tiny random model of each family in `models.support.FAMILIES`, written with
save_pretrained, and every view on it. A view the support table says works bakes, and its invariants hold against
computations written here; a view it says does not work gives a placed error that names the view, the model type and
the views that do work, never a traceback. `explorables check` (facts read from the files, no torch) derives the same
table as the loaded model."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from generator.errors import SpecError
from generator.models.support import FAMILIES, view_support
from generator.payload import decode_array
from generator.spec import spec_from_data

TEXT = "The cat sat on the mat because it was warm"
PAIR = ["A cat sleeps on the mat.", "A kitten naps on a rug."]
WINDOW = 4     # the sliding window given to Gemma 2 and 3, shorter than TEXT
FAST = {"saliency": {"ig_steps": 4}, "factors": {"counts": [2]},
        "explanations": {"ig_steps": 4, "random_orders": 1, "deletion_steps": [50]},
        # activation patching needs a contrast with as many tokens as TEXT (one word swapped)
        "interventions": {"contrast": "The dog sat on the mat because it was warm"},
        "counterfactuals": {"budget": 16, "permutations": 2}}


def fast_options(views: list[str]) -> dict[str, dict]:
    """The FAST options the shown `views` use: a method's options when one of its views is shown, without the
    options only other views of it use (`Method.option_views`); a spec refuses options no shown view uses."""
    from generator.methods import REGISTRY

    chosen = {}
    for name, options in FAST.items():
        method = REGISTRY[name]
        if set(method.views) & set(views):
            chosen[name] = {option: value for option, value in options.items()
                            if set(method.option_views.get(option, method.views)) & set(views)}
    return chosen


def configs(vocab: int, wordpiece: int) -> dict[str, dict]:
    """AutoConfig.for_model keyword arguments per family: 2 layers, width 32, 4 heads (2 key/value heads where the
    family has grouped-query attention), weights wide enough that attention is far from uniform."""
    causal = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=vocab,
                  max_position_embeddings=128, bos_token_id=1, eos_token_id=2, initializer_range=0.4)
    gqa = dict(causal, num_key_value_heads=2)
    return {
        "gpt2": dict(n_embd=32, n_layer=2, n_head=4, n_positions=128, vocab_size=vocab, bos_token_id=1,
                     eos_token_id=2, initializer_range=0.4),
        "gpt_neox": causal,
        "opt": dict(hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=vocab,
                    max_position_embeddings=128, word_embed_proj_dim=32, bos_token_id=1, eos_token_id=2,
                    pad_token_id=0, init_std=0.4),
        "llama": gqa, "mistral": dict(gqa, sliding_window=None), "qwen2": gqa, "qwen3": dict(gqa, head_dim=8),
        "gemma2": dict(gqa, head_dim=8, sliding_window=WINDOW),
        "gemma3_text": dict(gqa, head_dim=8, query_pre_attn_scalar=8, sliding_window=WINDOW,
                            final_logit_softcapping=5.0),
        "phi3": dict(gqa, pad_token_id=0),
        "bert": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                     vocab_size=wordpiece, max_position_embeddings=128, initializer_range=0.4),
        "roberta": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                        vocab_size=vocab, max_position_embeddings=130, type_vocab_size=1, pad_token_id=0,
                        initializer_range=0.4),
        "distilbert": dict(dim=32, hidden_dim=64, n_layers=2, n_heads=4, vocab_size=wordpiece,
                           max_position_embeddings=128, initializer_range=0.4),
        "t5": dict(vocab_size=vocab, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
                   initializer_factor=8.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=2),
        "bart": dict(vocab_size=vocab, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                     decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
                     init_std=0.3, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=2,
                     forced_eos_token_id=None),
    }


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, byte_level_tokenizer, wordpiece_tokenizer) -> dict[str, Path]:
    """One folder per family. Tokenizers as the families ship them: byte-level BPE (SmolLM2's), WordPiece (MiniLM's)
    for BERT, and for DistilBERT the same vocabulary as DistilBertTokenizer (no token type ids)."""
    import torch
    from transformers import (AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM,
                              DistilBertTokenizer)

    root = tmp_path_factory.mktemp("matrix")
    wordpiece_folder = root / "wordpiece"
    wordpiece_tokenizer.save_pretrained(wordpiece_folder)
    distil_tokenizer = DistilBertTokenizer.from_pretrained(wordpiece_folder)
    folders = {}
    for family in FAMILIES:
        torch.manual_seed(0)
        config = AutoConfig.for_model(family.model_type, attn_implementation="eager",
                                      **configs(len(byte_level_tokenizer), len(wordpiece_tokenizer))[family.model_type])
        kind = (AutoModelForSeq2SeqLM if family.encoder_decoder else AutoModelForCausalLM if family.causal
                else AutoModel)
        folder = root / family.model_type
        kind.from_config(config).save_pretrained(folder)
        tokenizer = {"bert": wordpiece_tokenizer, "distilbert": distil_tokenizer}.get(family.model_type,
                                                                                       byte_level_tokenizer)
        tokenizer.save_pretrained(folder)
        folders[family.model_type] = folder
    return folders


def inputs(family) -> dict:
    if family.causal or family.encoder_decoder:
        return {"text": TEXT, "generate": 2}
    return {"pair": PAIR}


def compute(spec_fields: dict, tmp_path: Path) -> dict:
    """The bake without the safety net that turns library failures into placed errors: a traceback fails the test."""
    from generator.bake import Baker
    return json.loads(Baker(tmp_path / "cache")._compute(spec_from_data(spec_fields, file="matrix.md")))


def rows_sum_to_one(array: np.ndarray, where: np.ndarray | None = None, levels: int = 65535,
                    relative: float | None = None) -> None:
    """Rows sum to 1 within the storage error: `levels` steps of an integer array (each value within half a step),
    or, for float32 kept to a few mantissa bits, `relative` (each value within that fraction of itself, so a row of
    non-negative values summing to 1 within that fraction of 1)."""
    sums = array.sum(-1)
    if where is not None:
        sums = sums[where]
    atol = relative + 1e-6 if relative is not None else array.shape[-1] / levels + 1e-6
    np.testing.assert_allclose(sums, 1.0, atol=atol)


@pytest.mark.parametrize("family", FAMILIES, ids=[f.model_type for f in FAMILIES])
def test_every_view_bakes_with_its_invariants_or_gives_a_placed_error(family, matrix, tmp_path):
    from generator.models.facts import model_facts
    from generator.models.loading import POOL
    from generator.models.registry import resolve

    folder = matrix[family.model_type]
    loaded = POOL.get(resolve(str(folder)))
    support = view_support(loaded.info, loaded.can_read_pairs)
    facts = model_facts(resolve(str(folder)))
    assert view_support(facts.info, facts.can_read_pairs) == support          # `explorables check` agrees
    named = replace(family.info(), name=loaded.info.name, label=loaded.info.label)
    assert support == view_support(named, family.can_read_pairs)              # and so does the docs' table
    works = [view for view, reason in support.items() if not reason]
    assert {"head", "model"} <= set(works)
    neuron_needs_short = loaded.info.sliding_window is not None and "neuron" in works
    shown = [view for view in works if not (view == "neuron" and neuron_needs_short)]
    payload = compute({"model": str(folder), **inputs(family), "views": shown, **fast_options(shown)}, tmp_path)

    attention = payload["attention"]
    for name in ("values", "decoder", "cross"):
        if name in attention:
            rows_sum_to_one(decode_array(attention[name]), levels=511)
    if "saliency" in payload:
        for array in payload["saliency"]["methods"].values():
            scores = decode_array(array)
            if payload["saliency"]["kind"] == "causal":
                rows_sum_to_one(scores)
            else:
                np.testing.assert_allclose(scores.sum(), 1.0, atol=scores.size / 65535)
    if "explanations" in payload:
        section = payload["explanations"]
        rows_sum_to_one(decode_array(section["shares"]))
        rows_sum_to_one(decode_array(section["layers"]["rollout"]), relative=2.0 ** -11)   # 10 mantissa bits
    if "lens" in payload:
        lens_matches_the_model(payload["lens"], loaded)
    if "neuron" in works:
        softmax_of_queries_and_keys_is_the_attention(loaded, family)

    for view, reason in support.items():
        if reason:
            with pytest.raises(SpecError) as caught:
                compute({"model": str(folder), **inputs(family), "views": [view], **fast_options([view])},
                        tmp_path / view)
            error = caught.value
            assert error.field == "views" and view in error.message and family.model_type in error.message
            assert error.message == reason or error.message.startswith(reason.split(":")[0])
            if error.hint and "views that work on" in error.hint:   # the family's, or the method's own that work
                listed = error.hint.split(f"views that work on {family.model_type}: ")[1].split(";")[0]
                assert set(listed.split(", ")) <= set(works), error.hint
    if neuron_needs_short:
        with pytest.raises(SpecError) as caught:
            compute({"model": str(folder), "text": TEXT, "views": ["neuron"]}, tmp_path / "long")
        assert f"at most {WINDOW} tokens" in caught.value.message


def lens_matches_the_model(lens: dict, loaded) -> None:
    """The lens' last row is the model's own next-token distribution (its logits, soft-cap included)."""
    import torch

    ids = torch.tensor([lens["token_ids"]])
    with torch.no_grad():
        logits = loaded.model(ids).logits[0].double()
    expected = torch.softmax(logits, -1).topk(lens["top_k"]).values.numpy()
    np.testing.assert_allclose(decode_array(lens["top_probs"])[-1], expected, atol=2e-5)


def softmax_of_queries_and_keys_is_the_attention(loaded, family) -> None:
    """softmax(scale * q . k + mask) from the recorded queries and keys equals the model's attention weights, the
    mask being causal (decoders) and within the sliding window where the family has one (computed here from the
    config, not from the code under test)."""
    from generator.capture import run
    from generator.hooks import hook_name
    from generator.methods import Needs

    fields = {"model": str(loaded.source.path), "text": TEXT}
    needs = Needs(hooks=("blocks.*.attn.hook_pattern", "blocks.*.attn.hook_q", "blocks.*.attn.hook_k"))
    capture = run(spec_from_data(fields, file="t.yml"), loaded, needs)
    config = loaded.config
    window = getattr(config, "sliding_window", None)
    types = getattr(config, "layer_types", None) or []
    for layer in range(loaded.info.n_layers):
        q = capture.activations[hook_name(layer, "attn.hook_q")].astype(np.float64)      # [H, N, d]
        k = capture.activations[hook_name(layer, "attn.hook_k")].astype(np.float64)      # [H_kv, N, d]
        k = np.repeat(k, q.shape[0] // k.shape[0], axis=0)
        scores = capture.attention_scales[layer] * q @ k.transpose(0, 2, 1)
        n = q.shape[1]
        i, j = np.arange(n)[:, None], np.arange(n)[None, :]
        allowed = (j <= i) if family.causal else np.ones((n, n), bool)
        if window and types and types[layer] == "sliding_attention":
            allowed &= i - j < window
        scores = np.where(allowed, scores, -np.inf)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        np.testing.assert_allclose(capture.attentions[layer], weights, atol=1e-5)


def test_the_docs_table_is_the_one_the_rules_give():
    """docs/writing.md carries `support_table()` between its markers (regenerate: python -m generator.models.support
    --write docs/writing.md)."""
    from generator.models.support import replace_table

    text = (Path(__file__).resolve().parent.parent / "docs" / "writing.md").read_text(encoding="utf-8")
    assert replace_table(text) == text, "docs/writing.md's support table is out of date: run " \
                                        "python -m generator.models.support --write docs/writing.md"
    assert "| Gemma 2 | `gemma2` |" in text and "no (" in text


def test_the_table_is_read_without_torch():
    import subprocess
    import sys
    code = ("import sys\nfrom generator.models.support import support_table\nsupport_table()\n"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.strip() == "False", result.stderr


def test_a_probe_page_of_every_view_builds_with_error_boxes_for_the_views_a_family_lacks(matrix, tmp_path):
    """One block per view for three families with gaps (GPT-NeoX: none; Gemma 2: the neuron view; T5: all but head and
    model): a lax build writes a figure for every supported cell and an error box for every other one, with no
    traceback; a strict build fails on those boxes."""
    from test_site_build import build, make_site

    chosen = [family for family in FAMILIES if family.model_type in ("gpt_neox", "gemma2", "t5")]
    blocks, expected_errors = [], 0
    for family in chosen:
        support = view_support(family.info(), family.can_read_pairs)
        for view, reason in support.items():
            options = "".join(f"\n{name}: {json.dumps(value)}" for name, value in fast_options([view]).items())
            body = f"model: {matrix[family.model_type]}\ntext: {TEXT}\ngenerate: 2\nviews: [{view}]{options}"
            blocks.append(f"```explorable\n{body}\n```\n")
            expected_errors += bool(reason)
    config = make_site(tmp_path, {"index.md": "# Probe\n\n" + "\n".join(blocks)})
    lax = build(config, strict=False)
    assert lax.returncode == 0 and "Traceback" not in lax.stderr, lax.stderr[-3000:]
    page = (tmp_path / "site" / "index.html").read_text()
    assert page.count("explorable--error") == expected_errors
    assert len(re.findall(r"<explorable-[a-z-]+-view", page)) == len(blocks) - expected_errors
    assert build(config).returncode != 0
