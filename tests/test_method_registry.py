"""The method seam: a method added through the registry alone, from this test module, reaches a built page.

The toy method is "attention entropy per head": H(l, h) = mean over queries i of -sum_j A[l, h, i, j] ln A[l, h, i, j]
(in nats). Its numbers are checked against the model's own attentions, computed here with transformers directly.
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
    weights = np.asarray(capture.attentions, dtype=np.float64)          # [L, H, N, N]
    if spec.options("entropy").queries == "last":
        weights = weights[:, :, -1:, :]
    logs = np.log(np.where(weights > 0, weights, 1.0))
    entropy = -(weights * logs).sum(-1).mean(-1)                       # [L, H]
    return {"values": encode_array(entropy, dtype="float32", lo=float(entropy.min()), hi=float(entropy.max()))}


ENTROPY = Method(name="entropy", views={"entropy": "explorable-entropy-view"}, section=entropy_section,
                 needs=Needs(attention=True), options=EntropyOptions, summary="entropy: attention entropy per head")


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
