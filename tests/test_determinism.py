"""The same spec and model give byte-identical payloads."""

from __future__ import annotations

import pytest

from generator.bake import Baker
from generator.spec import spec_from_data


@pytest.mark.parametrize("model, fields", [
    ("llama", {"text": "Once upon a time", "generate": 3}),
    ("bert", {"pair": ["a question?", "an answer."]}),
])
def test_two_bakes_are_byte_identical(tmp_path, tiny_models, model, fields):
    spec = spec_from_data({"model": str(tiny_models[model]), **fields}, file="t")
    first = Baker(tmp_path / "one").payload(spec)
    second = Baker(tmp_path / "two").payload(spec)
    assert first == second
