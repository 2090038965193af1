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
    real attention, not of random numbers, is what matters here), with the bake's own attention encoding."""
    from generator.capture import run
    from generator.methods.attention import section
    from generator.models.loading import load
    from generator.models.registry import resolve
    from generator.spec import spec_from_data
    folder = str(tiny_models["llama"])
    capture = run(spec_from_data({"model": folder, "text": " ".join(["token"] * 60)}, file="t"),
                  load(resolve(folder)))
    float_json = len(json.dumps(capture.attentions.tolist()))
    encoded = len(json.dumps(section(None, capture)["values"]))
    assert encoded * 20 <= float_json, (encoded, float_json)


# -- attention rows keep summing to 1 ------------------------------------------------------------------------

def independent_decode(array: dict) -> np.ndarray:
    """A second ARRAY decoder, written from ARCHITECTURE.md alone: base64 -> zlib -> integers (uint16 'planes':
    all high bytes, then all low bytes) -> min + q * (max - min) / levels."""
    raw = zlib.decompress(base64.b64decode(array["data"]))
    count = int(np.prod(array["shape"]))
    bits = {"uint8": 8, "uint16": 16}[array["dtype"]]
    byte = np.frombuffer(raw, dtype=np.uint8).astype(np.int64)
    assert byte.size == count * bits // 8
    if bits == 8:
        q = byte
    elif array.get("layout") == "planes":
        q = byte[:count] * 256 + byte[count:]
    else:
        q = byte[0::2] + 256 * byte[1::2]
    levels = array.get("levels", 2 ** bits - 1)
    return (array["min"] + q * ((array["max"] - array["min"]) / levels)).reshape(array["shape"])


def attention_section(weights: np.ndarray) -> dict:
    """The dense attention encoding (a short text's section, a long text's dense layers)."""
    from generator.methods.attention import encode_weights
    return encode_weights(weights)


def check_attention_encoding(weights: np.ndarray) -> dict:
    encoded = attention_section(weights)
    decoded = independent_decode(encoded)
    row_sums = decoded.sum(axis=-1)
    assert np.abs(row_sums - weights.sum(axis=-1)).max() <= 1e-3, "a decoded row does not sum like the model's"
    assert np.abs(row_sums - 1).max() <= 1e-3
    assert np.abs(decoded - weights).max() <= 0.002
    return encoded


@pytest.mark.parametrize("n", [2, 280, 2048])
def test_attention_rows_of_equal_values_sum_to_one(n):
    """The hardest row for a fixed grid: n equal values 1/n. uint8 to nearest gives 280 * 1/255 = 1.098."""
    check_attention_encoding(np.full((1, 1, 3, n), 1 / n))


def test_attention_rows_sum_to_one_on_random_rows_of_every_shape():
    """Softmax rows, causal masks and one-hot rows (an attention sink), at lengths up to the spec's limit."""
    rng = np.random.default_rng(3)
    for n in (4, 17, 64, 300, 1031):
        weights = random_attention(rng, (2, 2, 4, n)) * rng.uniform(0.5, 3)
        weights = weights / weights.sum(-1, keepdims=True)
        causal = np.tril(rng.uniform(size=(n, n)) ** 8)
        causal /= causal.sum(-1, keepdims=True)
        weights[0, 0, :, :] = causal[-4:]
        weights[1, 1, 0, :] = np.eye(n)[n // 2]
        check_attention_encoding(weights)


def test_attention_rows_sum_to_one_on_a_long_smollm2_text(loaded_bundled):
    """The reported case: one sentence repeated to about 280 tokens (max_tokens 300). Every decoded row sums to 1
    within 1e-3, every value is within 0.002 of the model's, the size is at most 1/20 of float JSON."""
    from generator.capture import run
    from generator.spec import spec_from_data
    loaded = loaded_bundled("smollm2")
    sentence = "The animal didn't cross the street because it was too tired. "
    text = sentence * 30
    while len(loaded.tokenizer(text)["input_ids"]) > 285:
        text = text[: text.rstrip().rfind(" ")]
    capture = run(spec_from_data({"model": "smollm2", "text": text, "max_tokens": 300}, file="t"), loaded)
    assert capture.attentions.shape[-1] >= 270
    weights = capture.attentions.astype(np.float64)
    encoded = check_attention_encoding(weights)
    # float JSON writes every value with at least 3 characters ("0.0") and 2 of separator (", "): a lower bound
    # of its size that spares dumping 21 million floats
    assert len(json.dumps(encoded)) * 20 <= 5 * weights.size - 2


def test_levels_and_planes_round_trip_and_are_checked():
    rng = np.random.default_rng(4)
    values = rng.uniform(0, 1, size=(5, 33))
    encoded = encode_array(values, dtype="uint16", lo=0.0, hi=1.0, levels=511, layout="planes")
    assert encoded["levels"] == 511 and encoded["layout"] == "planes"
    np.testing.assert_allclose(decode_array(encoded), independent_decode(encoded), atol=1e-12)
    assert np.abs(decode_array(encoded) - values).max() <= 0.5 / 511 + 1e-12
    assert "levels" not in encode_array(values) and "layout" not in encode_array(values, dtype="uint16")
    with pytest.raises(ValueError, match="layout"):
        decode_array(dict(encoded, layout="columns"))
    with pytest.raises(ValueError, match="levels"):
        decode_array(dict(encoded, levels=70000))
    with pytest.raises(ValueError, match="layout"):
        encode_array(values, dtype="uint8", layout="planes")


def test_float32_attention_encodes_as_its_float64_copy_one_layer_at_a_time():
    """encode_array widens a float32 array one block of the first axis at a time (bake memory on long inputs): the
    bytes are those of encoding the whole float64 copy at once, computed here with the rounding written out."""
    import base64
    import zlib

    rng = np.random.default_rng(3)
    weights = rng.random((3, 2, 9, 9)).astype(np.float32) ** 4
    weights /= weights.sum(-1, keepdims=True)
    encoded = encode_array(weights, dtype="uint16", lo=0.0, hi=1.0, levels=511, layout="planes", keep_row_sums=True)
    assert encoded == encode_array(weights.astype(np.float64), dtype="uint16", lo=0.0, hi=1.0, levels=511,
                                   layout="planes", keep_row_sums=True)
    scaled = weights.astype(np.float64).reshape(-1, 9) * 511            # largest remainders, row by row
    floor = np.floor(scaled)
    expected = floor.copy()
    for row, (values, base) in enumerate(zip(scaled, floor)):
        missing = int(round(values.sum() - base.sum()))
        order = sorted(range(9), key=lambda j: (-(values[j] - base[j]), j))
        expected[row, order[:missing]] += 1
    q = expected.astype("<u2").reshape(-1)
    raw = (q >> 8).astype(np.uint8).tobytes() + (q & 255).astype(np.uint8).tobytes()
    assert zlib.decompress(base64.b64decode(encoded["data"])) == raw
