"""What the experiment trackers log of an explanations section (`Method.metrics`): each method's faithfulness, and
integrated gradients' completeness, read back from the baked JSON (no model, no torch).

- `explanations_aopc_<method>`, `explanations_comprehensiveness_<method>`, `explanations_sufficiency_<method>`:
  the section's measures (ARCHITECTURE.md, "Section explanations") averaged over the explained outputs; `<method>`
  is `random` for the seeded random baseline;
- `explanations_ig_gap_max` / `_median` / `_infinite` (or `explanations_ig_gap` for a pair), when IG was run.
"""

from __future__ import annotations

from typing import Any

MEASURES = ("aopc", "comprehensiveness", "sufficiency")


def metrics(section: dict[str, Any]) -> dict[str, float]:
    """Tracker metrics of one explanations section (layout in this module's docstring)."""
    from ...attribution.shares import gap_metrics

    names = [*section.get("methods", []), "random"]
    faithfulness = section.get("faithfulness") or {}
    out: dict[str, float] = {}
    for measure in MEASURES:
        for name, row in zip(names, faithfulness.get(measure, [])):
            values = [value for value in row if isinstance(value, (int, float))]
            if values:
                out[f"explanations_{measure}_{name}"] = sum(values) / len(values)
    ig = section.get("ig")
    if ig:
        gap = ig.get("gap")
        out.update(gap_metrics(gap[0] if section.get("kind") == "similarity" and gap else gap, "explanations_ig_gap"))
    return out
