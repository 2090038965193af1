"""Payload arrays round-trip within their quantization bound, and are far smaller than float JSON."""

from __future__ import annotations

import base64
import json
import zlib

import numpy as np
import pytest

from generator.payload import decode_array, dumps, encode_array, loads
from generator.payload.arrays import max_error


def random_attention(rng, shape):
    scores = rng.normal(size=shape) * 3
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True)


def test_uint8_round_trip_error_is_below_0_002():
    rng = np.random.default_rng(0)
    values = random_attention(rng, (4, 6, 32, 32))
    encoded = encode_array(values, lo=0.0, hi=1.0)
    decoded = decode_array(encoded)
    assert decoded.shape == values.shape
    error = np.abs(decoded - values).max()
    assert error <= max_error(encoded) + 1e-12
    assert max_error(encoded) < 0.002


def test_uint16_and_float32_round_trips():
    rng = np.random.default_rng(1)
    values = rng.uniform(-3, 7, size=(50, 7))
    wide = decode_array(encode_array(values, dtype="uint16"))
    assert np.abs(wide - values).max() <= (values.max() - values.min()) / 65535 / 2 + 1e-9
    exact = decode_array(encode_array(values, dtype="float32"))
    np.testing.assert_array_equal(exact, values.astype(np.float32))


def test_the_data_is_zlib_of_little_endian_values():
    """The browser decoder relies on exactly this layout: base64 -> zlib inflate -> row-major uint8."""
    encoded = encode_array(np.array([[0.0, 1.0], [0.5, 0.25]]), lo=0.0, hi=1.0)
    raw = zlib.decompress(base64.b64decode(encoded["data"]))
    assert list(raw) == [0, 255, 128, 64]


def test_truncated_or_mismatched_data_is_rejected():
    encoded = encode_array(np.ones((4, 4)), lo=0.0, hi=1.0)
    bad_shape = dict(encoded, shape=[5, 4])
    with pytest.raises(ValueError, match="shape"):
        decode_array(bad_shape)
    truncated = dict(encoded, data=encoded["data"][: len(encoded["data"]) // 2])
    with pytest.raises((ValueError, zlib.error)):
        decode_array(truncated)


def test_non_finite_values_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        encode_array(np.array([0.1, np.nan]))


def test_documents_are_deterministic_and_versioned():
    payload = {"schema_version": 1, "b": [1, 2], "a": "é"}
    assert dumps(payload) == dumps(dict(reversed(list(payload.items()))))
    assert loads(dumps(payload)) == payload
    with pytest.raises(ValueError, match="schema_version"):
        loads(json.dumps({"schema_version": 99}).encode())


def test_real_attention_payload_is_under_a_twentieth_of_float_json(tiny_models):
    """Against BertViz-style float JSON of the same tensors (a real model's attention: the compressibility of
    real attention, not of random numbers, is what matters here)."""
    from generator.capture import run
    from generator.models.loading import load
    from generator.models.registry import resolve
    from generator.spec import spec_from_data
    folder = str(tiny_models["llama"])
    capture = run(spec_from_data({"model": folder, "text": " ".join(["token"] * 60)}, file="t"),
                  load(resolve(folder)))
    float_json = len(json.dumps(capture.attentions.tolist()))
    encoded = len(json.dumps(encode_array(capture.attentions, lo=0.0, hi=1.0)))
    assert encoded * 20 <= float_json, (encoded, float_json)
