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
ATTENTION_X_GRADIENT = "attention_x_gradient"      # Grad-SAM (Barkan et al. 2021) up to normalisation; key kept
ATTENTION_ATTRIBUTION = "attention_attribution"    # Hao et al. 2021: IG over each layer's attention weights
VALUE_WEIGHTED = "value_weighted"
VALUE_ZEROING = "value_zeroing"                    # Mohebbi et al. 2023
GRADIENT_X_INPUT = "gradient_x_input"
INTEGRATED_GRADIENTS = "integrated_gradients"
METHODS = (RAW_ATTENTION, ROLLOUT, FLOW, GRAD_ROLLOUT, ATTENTION_X_GRADIENT, ATTENTION_ATTRIBUTION, VALUE_WEIGHTED,
           VALUE_ZEROING, GRADIENT_X_INPUT, INTEGRATED_GRADIENTS)
# the default comparison; the two methods that edit the run (one run per layer and IG node, or per layer and token)
# are asked for by name
DEFAULT_METHODS = (RAW_ATTENTION, ROLLOUT, FLOW, GRAD_ROLLOUT, ATTENTION_X_GRADIENT, VALUE_WEIGHTED, GRADIENT_X_INPUT,
                   INTEGRATED_GRADIENTS)
EDITING_METHODS = (ATTENTION_ATTRIBUTION, VALUE_ZEROING)                     # methods that edit a run by hook name
GRADIENT_METHODS = (GRAD_ROLLOUT, ATTENTION_X_GRADIENT, GRADIENT_X_INPUT)   # from one forward + batched backward
LAYERED = (ROLLOUT, FLOW)                                                    # methods with layer-by-layer maps

MethodName = Literal[METHODS]

DELETION_STEP_MIN, DELETION_STEP_MAX = 1, 100
DELETION_STEPS_MAX = 10
RANDOM_ORDERS_MIN, RANDOM_ORDERS_MAX = 1, 20


class ExplanationsOptions(Options):
    """Options of the explanations view, as authors write them under `explanations:`."""

    methods: list[MethodName] = Field(
        default_factory=lambda: list(DEFAULT_METHODS), min_length=1,
        description="The methods to compare (default: all but attention_attribution and value_zeroing, which re-run "
                    "the model once per layer and step, or per layer); leave out integrated_gradients for a fast "
                    "bake.")
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
