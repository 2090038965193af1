"""Payload encoding: versioned JSON documents with quantized, compressed arrays (see ARCHITECTURE.md)."""

from .arrays import decode_array, encode_array
from .document import dumps, loads

__all__ = ["decode_array", "encode_array", "dumps", "loads"]
