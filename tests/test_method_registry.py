"""The method seam: methods added through the registry alone, from this test module, following ARCHITECTURE.md's
"Add a method" recipe, reach a baked payload and a built page.

- "attention entropy per head", reading a hook point by name (`Needs(hooks=("blocks.*.attn.hook_pattern",))`):
  H(l, h) = mean over queries i of -sum_j A[l, h, i, j] ln A[l, h, i, j] (in nats), checked against the model's own
  attentions computed here with transformers directly;
- "head knockout", editing the run by hook name (`blocks.{l}.attn.hook_z`, one batched edit set per head): the drop
  of the last position's top logit when one head's output is zeroed, checked against a copy of the model whose
  output projection has that head's columns zeroed.
"""

from __future__ import annotations

import html
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, Field

from generator.errors import SpecError
from generator.methods import REGISTRY, Method, Needs
from generator.payload import decode_array, encode_array
from generator.spec import spec_from_data

TEXT = "The cat sat on the mat because it was warm."


class EntropyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    queries: str = Field("all", pattern="^(all|last)$", description="Average over every query, or the last only.")


def entropy_section(spec, capture) -> dict:
    weights = np.stack([capture.activations[f"blocks.{layer}.attn.hook_pattern"]
                        for layer in range(capture.info.n_layers)]).astype(np.float64)   # [L, H, N, N]
    if spec.options("entropy").queries == "last":
        weights = weights[:, :, -1:, :]
    logs = np.log(np.where(weights > 0, weights, 1.0))
    entropy = -(weights * logs).sum(-1).mean(-1)                       # [L, H]
    return {"values": encode_array(entropy, dtype="float32", lo=float(entropy.min()), hi=float(entropy.max()))}


ENTROPY = Method(name="entropy", views={"entropy": "explorable-entropy-view"}, section=entropy_section,
                 needs=Needs(hooks=("blocks.*.attn.hook_pattern",)), options=EntropyOptions,
                 summary="attention entropy per head")


def knockout_section(spec, capture) -> dict:
    run, ids = capture.model_run, capture.input_ids                     # the run handle; ids [1, N]
    base = run.run_with_hooks(ids)[0, -1]
    top = int(base.argmax())
    layers, heads = capture.info.n_layers, capture.info.n_heads

    def zero(head):
        def edit(z, hook):                                              # z [1, N, H, d_head]
            z = z.clone()
            z[:, :, head] = 0
            return z
        return edit
    edit_sets = [[(f"blocks.{layer}.attn.hook_z", zero(head))] for layer in range(layers) for head in range(heads)]
    knocked = run.run_edit_sets(ids, edit_sets, reduce=lambda logits: logits[:, -1, top])
    drop = (base[top] - knocked).reshape(layers, heads).double().numpy()
    return {"top": top, "drop": encode_array(drop, dtype="float32", lo=float(drop.min()), hi=float(drop.max()))}


KNOCKOUT = Method(name="head_drop", views={"head_drop": "explorable-head-drop-view"}, section=knockout_section,
                  needs=Needs(gradients=True, adapter=True), summary="the top logit's drop when one head is removed")


@pytest.fixture
def knockout_method():
    REGISTRY.register(KNOCKOUT)
    yield KNOCKOUT
    REGISTRY.unregister("head_drop")


def test_a_method_that_edits_the_run_by_hook_name(knockout_method, tmp_path, tiny_models):
    import copy

    import torch

    from generator.bake import Baker
    from generator.models.loading import POOL
    from generator.models.registry import resolve

    folder = tiny_models["llama"]
    spec = spec_from_data({"model": str(folder), "text": TEXT, "views": ["head_drop"]}, file="a.yml")
    payload = json.loads(Baker(tmp_path / "cache", base_dir=tmp_path).payload(spec))
    got = decode_array(payload["head_drop"]["drop"])
    loaded = POOL.get(resolve(str(folder)))
    ids = loaded.tokenizer(TEXT, return_tensors="pt")["input_ids"]
    top = payload["head_drop"]["top"]
    layers, heads = loaded.info.n_layers, loaded.info.n_heads
    width = loaded.model.config.hidden_size // heads
    with torch.no_grad():
        base = loaded.model(ids).logits[0, -1, top]
        expected = np.zeros((layers, heads))
        for layer in range(layers):
            for head in range(heads):
                model = copy.deepcopy(loaded.model)
                projection = model.model.layers[layer].self_attn.o_proj.weight     # [d_model, H * d_head]
                projection[:, head * width:(head + 1) * width] = 0
                expected[layer, head] = float(base - model(ids).logits[0, -1, top])
    assert got.shape == (2, 4) and np.abs(expected).max() > 0
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.fixture
def entropy_method():
    REGISTRY.register(ENTROPY)
    yield ENTROPY
    REGISTRY.unregister("entropy")


def test_the_spec_schema_follows_the_registry(entropy_method):
    spec = spec_from_data({"model": "smollm2", "text": "hi", "views": ["entropy"], "entropy": {"queries": "last"}},
                          file="a.yml")
    assert [method.name for method in spec.methods] == ["entropy"]
    assert spec.options("entropy").queries == "last"
    with pytest.raises(SpecError) as caught:
        spec_from_data({"model": "smollm2", "text": "hi", "entropy": {"queries": "some"}}, file="a.yml")
    assert caught.value.field == "entropy.queries"


def test_an_unregistered_view_is_refused_with_the_registered_views():
    with pytest.raises(SpecError) as caught:
        spec_from_data({"model": "smollm2", "text": "hi", "views": ["entropy"]}, file="a.yml")
    assert caught.value.field == "views.0"
    assert caught.value.hint == "valid views: " + ", ".join(REGISTRY.views())
    assert "entropy" not in caught.value.hint and "saliency" in caught.value.hint


def test_a_method_registered_from_a_test_reaches_a_built_page(entropy_method, tmp_path, tiny_models):
    import torch
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tiny_models["llama"]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text(textwrap.dedent(f"""\
        # Entropy

        ```explorable
        model: {folder}
        text: {TEXT}
        views: [entropy, head]
        ```
        """), encoding="utf-8")
    (tmp_path / "mkdocs.yml").write_text("site_name: Toy\nplugins:\n  - explorables\n", encoding="utf-8")
    config = load_config(str(tmp_path / "mkdocs.yml"), strict=True)
    build(config)

    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert re.search(r"<explorable-entropy-view></explorable-entropy-view><explorable-head-view>", page)
    payload = json.loads(html.unescape(re.search(r'data-payload="([^"]*)"', page).group(1)))
    got = decode_array(payload["entropy"]["values"])

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    with torch.no_grad():
        attentions = model(**tokenizer(TEXT, return_tensors="pt"), output_attentions=True).attentions
    expected = np.array([[float(torch.special.entr(head).sum(-1).mean()) for head in layer[0]]
                         for layer in attentions])
    assert got.shape == expected.shape == (2, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert "attention" in payload and payload["attention"]["values"]["shape"][:2] == [2, 4]
