"""The options every attribution client shares (saliency, explanations), each declared once with its description:
`target`, `ig_steps` and `baseline`. A client's options model uses the types and field factories below, so the spec
schema, its error hints and the authors' table in docs/writing.md say the same everywhere.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .baselines import BASELINES, OPTION_DESCRIPTION as BASELINE_DESCRIPTION
from .checks import IG_STEPS_MAX, IG_STEPS_MIN
from .targets import CAUSAL_TARGETS, OPTION_DESCRIPTION as TARGET_DESCRIPTION

Target = Literal[CAUSAL_TARGETS]           # "logit" | "probability"
Baseline = Literal[BASELINES]              # "zero" | "neutral" | "mean"
IG_STEPS_DESCRIPTION = "Integration steps of integrated gradients."


def target_field() -> Any:
    """The `target` option: the explained score of a causal model (default "logit")."""
    return Field("logit", description=TARGET_DESCRIPTION)


def ig_steps_field() -> Any:
    """The `ig_steps` option: nodes of the quadrature rule (2-512, default 50)."""
    return Field(50, ge=IG_STEPS_MIN, le=IG_STEPS_MAX, description=IG_STEPS_DESCRIPTION)


def baseline_field(default: str) -> Any:
    """The `baseline` option: where integrated gradients' path starts (`baselines.BASELINES`)."""
    return Field(default, description=BASELINE_DESCRIPTION)
