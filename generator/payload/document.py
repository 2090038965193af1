"""The payload document: one JSON object per explorable, serialised deterministically."""

from __future__ import annotations

import json
from typing import Any

from .. import SCHEMA_VERSION


def dumps(payload: dict[str, Any]) -> bytes:
    """Compact, key-sorted, UTF-8: the same payload always gives the same bytes."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def loads(data: bytes) -> dict[str, Any]:
    payload = json.loads(data.decode("utf-8"))
    if not isinstance(payload, dict) or payload.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"not a schema_version {SCHEMA_VERSION} payload")
    return payload
