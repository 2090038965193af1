"""Attention reduced layer by layer (generator/attention_stream.py) gives the attention section's bytes exactly, on
every family of tiny model (GPT-2, Llama with grouped-query attention, BERT)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from generator.attention_stream import attention_levels, attention_section
from generator.bake import Baker
from generator.capture import tokenize
from generator.models.loading import load
from generator.models.registry import resolve
from generator.payload import decode_array
from generator.spec import spec_from_data


@pytest.mark.parametrize("family", ["gpt2", "llama", "bert"])
def test_layer_by_layer_equals_the_bake(tmp_path, tiny_models, family):
    text = "The animal didn't cross the street because it was too tired, said the old man."
    spec = spec_from_data({"model": str(tiny_models[family]), "text": text, "views": ["head"]}, file="t")
    baked = json.loads(Baker(tmp_path).payload(spec))["attention"]
    loaded = load(resolve(str(tiny_models[family])))
    ids, _ = tokenize(spec, loaded)
    levels = attention_levels(loaded, ids)
    assert levels.dtype == np.uint16 and (levels.sum(-1) == 511).all(), "every row sums to the grid"
    assert attention_section(levels) == baked
    assert np.abs(decode_array(baked["values"]) - levels / 511).max() == 0
