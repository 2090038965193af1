"""Payload parts: arrays a view shows one at a time, written as data files of their own.

A payload larger than the embed limit reaches the site as a data file (plugin.py). Some sections hold a list of
ARRAYs of which a view shows one at a time (the neuron section: queries and keys per layer); their method names
those fields in `Method.parts` (and in `Method.detached` those whose first entry goes too: a long text's attention
layers, generator/methods/attention.py). `split` moves every entry of such a list but the first into a data file of its own
(NAME.json holding the ARRAY's `data` as a JSON string; NAME the first 20 hex digits of the SHA-256 of that text)
and leaves in its place the ARRAY without `data`, plus `"part": "NAME.json"`: dtype, shape and bounds stay in the
payload, so a view checks every entry before it fetches any. The browser fetches a part when a view first decodes
that entry (`array` in assets/js/payload.js), so a first paint waits for the payload and the first entry only.
`join` is the inverse; a payload embedded in the page or exported on its own keeps every array inline.
"""

from __future__ import annotations

import hashlib
import json
from typing import Iterable, Mapping

from .document import dumps, loads


def data_name(data: bytes) -> str:
    """The content-addressed file name of a data file: 20 hex digits of its SHA-256, then ".json"."""
    return hashlib.sha256(data).hexdigest()[:20] + ".json"


def split(payload: bytes, fields: Mapping[str, Iterable[str]],
          detached: Mapping[str, Iterable[str]] | None = None) -> tuple[bytes, dict[str, bytes]]:
    """(payload with parts referenced, {part file name: part bytes}).

    payload: serialised payload (document.dumps). fields: {section name: names of its fields that hold a list of
    ARRAYs}. detached: {section name: those of its fields whose first entry becomes a data file too}.
    Deterministic: the same payload gives the same bytes and names. Without such a list of two or more entries
    (one, for a detached field), the payload comes back unchanged and there are no parts. Raises ValueError on a payload that is not
    schema_version 1, or a named field that is not a list of ARRAYs with `data`.
    """
    document, parts = loads(payload), {}
    for section, names in fields.items():
        body = document.get(section)
        for field in names if isinstance(body, dict) else ():
            entries = body.get(field, [])
            if not isinstance(entries, list) or not all(isinstance(a, dict) and "data" in a for a in entries):
                raise ValueError(f"payload section {section!r}: field {field!r} is not a list of ARRAYs")
            first = 0 if field in (detached or {}).get(section, ()) else 1
            for index, array in enumerate(entries[first:], first):
                text = json.dumps(array["data"]).encode("ascii")
                name = data_name(text)
                parts[name] = text
                entries[index] = {**{key: value for key, value in array.items() if key != "data"}, "part": name}
    return (dumps(document) if parts else payload), parts


def join(payload: bytes, parts: Mapping[str, bytes]) -> bytes:
    """The payload `split` was given: every `{..., "part": NAME}` object back to its ARRAY with the data of NAME.
    Raises KeyError for a part missing from `parts`."""
    def restore(value):
        if isinstance(value, dict):
            if "part" in value and "dtype" in value:
                return {**{k: v for k, v in value.items() if k != "part"}, "data": json.loads(parts[value["part"]])}
            return {key: restore(item) for key, item in value.items()}
        if isinstance(value, list):
            return [restore(item) for item in value]
        return value
    return dumps(restore(loads(payload)))
