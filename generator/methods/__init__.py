"""Methods: pure functions from a Capture (and, for gradients, the loaded model) to payload sections.

Each method module exposes `section(spec, loaded, capture) -> dict` returning its payload section; bake.py calls
those named by the spec. Heavy imports stay inside the modules so a warm rebuild never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

# payload section name -> module providing `section`
METHODS: dict[str, str] = {
    "attention": "generator.methods.attention.section",
    "saliency": "generator.methods.saliency.section",
    "factors": "generator.methods.factors.section",
}


def section_builder(name: str) -> Callable[..., dict[str, Any]]:
    return importlib.import_module(METHODS[name]).section
