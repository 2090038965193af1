"""Methods: functions from a `Capture` to payload sections, one registry record each (`registry.Method`).

The built-in methods are registered here, in the order their views are offered. Adding a method: write its module
(options model, check, `section(spec, capture)`, and a `METHOD` record) and add one line below. Importing this
package imports no torch: each method imports its heavy code inside its functions.
"""

from __future__ import annotations

from .attention import METHOD as ATTENTION
from .counterfactuals.section import METHOD as COUNTERFACTUALS
from .explanations.section import METHOD as EXPLANATIONS
from .factors.section import METHOD as FACTORS
from .interventions.section import METHOD as INTERVENTIONS
from .lens.section import METHOD as LENS
from .neuron.section import METHOD as NEURON
from .registry import REGISTRY, Method, Needs, register
from .saliency.section import METHOD as SALIENCY

DEFAULT_METHOD = "attention"     # what a spec without views and without method options shows

for _method in (ATTENTION, SALIENCY, FACTORS, LENS, EXPLANATIONS, NEURON, COUNTERFACTUALS, INTERVENTIONS):
    register(_method)

__all__ = ["DEFAULT_METHOD", "REGISTRY", "Method", "Needs", "register"]
