"""Options of the explanations method, the method names in display order, and their limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ...attribution.options import Baseline, Target, baseline_field, ig_steps_field, target_field
from ..options import Options

RAW_ATTENTION = "raw_attention"
ROLLOUT = "rollout"
FLOW = "flow"
GRAD_ROLLOUT = "grad_rollout"
ATTENTION_X_GRADIENT = "attention_x_gradient"
VALUE_WEIGHTED = "value_weighted"
GRADIENT_X_INPUT = "gradient_x_input"
INTEGRATED_GRADIENTS = "integrated_gradients"
METHODS = (RAW_ATTENTION, ROLLOUT, FLOW, GRAD_ROLLOUT, ATTENTION_X_GRADIENT, VALUE_WEIGHTED, GRADIENT_X_INPUT,
           INTEGRATED_GRADIENTS)
GRADIENT_METHODS = (GRAD_ROLLOUT, ATTENTION_X_GRADIENT, GRADIENT_X_INPUT)   # from one forward + batched backward
LAYERED = (ROLLOUT, FLOW)                                                    # methods with layer-by-layer maps

MethodName = Literal["raw_attention", "rollout", "flow", "grad_rollout", "attention_x_gradient", "value_weighted",
                     "gradient_x_input", "integrated_gradients"]

DELETION_STEP_MIN, DELETION_STEP_MAX = 1, 100
DELETION_STEPS_MAX = 10
RANDOM_ORDERS_MIN, RANDOM_ORDERS_MAX = 1, 20


class ExplanationsOptions(Options):
    """Options of the explanations view, as authors write them under `explanations:`."""

    methods: list[MethodName] = Field(
        default_factory=lambda: list(METHODS), min_length=1,
        description="The methods to compare (default: all eight); leave out integrated_gradients for a fast bake.")
    target: Target = target_field()
    ig_steps: int = ig_steps_field()
    baseline: Baseline = baseline_field("neutral")
    deletion_steps: list[int] = Field(
        default_factory=lambda: [10, 20, 30, 40, 50], min_length=1, max_length=DELETION_STEPS_MAX,
        description="Percentages of the input tokens removed (deletion, comprehensiveness) or kept (sufficiency).")
    random_orders: int = Field(3, ge=RANDOM_ORDERS_MIN, le=RANDOM_ORDERS_MAX,
                               description="Seeded random rankings averaged into the random baseline.")
    layer_maps: bool = Field(True, description="Bake the layer-by-layer maps of rollout and flow.")

    @field_validator("methods")
    @classmethod
    def _known_once(cls, value: list[str]) -> list[str]:
        return [name for name in METHODS if name in value]       # display order, each once

    @field_validator("deletion_steps")
    @classmethod
    def _percentages(cls, value: list[int]) -> list[int]:
        for step in value:
            if not DELETION_STEP_MIN <= step <= DELETION_STEP_MAX:
                raise ValueError(f"a deletion step is a percentage of the input tokens from {DELETION_STEP_MIN} to "
                                 f"{DELETION_STEP_MAX}, got {step}")
        if any(b <= a for a, b in zip(value, value[1:])):
            raise ValueError(f"deletion steps must increase, got {value}")
        return value
