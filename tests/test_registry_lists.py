"""The registry is the only list: the authors' table in docs/writing.md, the views' PNGs, the trackers' metrics and
the contract of a method record all follow the registered methods."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import numpy as np
import pytest

from generator.methods import REGISTRY, Method, Needs
from generator.methods.registry import ContractError
from generator.payload import encode_array

REPO = Path(__file__).resolve().parent.parent


def section(spec, capture):
    return {}


def test_the_docs_table_of_views_is_the_registrys():
    from generator.methods.table import END, START, with_table

    page = (REPO / "docs" / "writing.md").read_text(encoding="utf-8")
    assert with_table(page) == page, "run: python -m generator.methods.table docs/writing.md"
    table = page[page.index(START):page.index(END)]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(list(REGISTRY))
    for method in REGISTRY:          # every view named, every option named with its description
        row = next(row for row in rows if f"`{next(iter(method.views))}`" in row.split("|")[1])
        for name, field in (method.options.model_fields.items() if method.options else []):
            assert f"`{name}`: {field.description}" in row


def test_the_table_follows_a_method_registered_at_run_time():
    from pydantic import BaseModel, Field

    from generator.methods.table import views_table

    class Toy(BaseModel):
        depth: int = Field(3, ge=1, le=9, description="How deep.")
    record = Method(name="toy", views={"toy": "explorable-toy-view"}, section=section, options=Toy, summary="A toy.")
    REGISTRY.register(record)
    try:
        assert "| `toy` | `toy` | A toy. | `depth`: How deep. (1–9; default `3`) |" in views_table()
    finally:
        REGISTRY.unregister("toy")
    assert "`toy`" not in views_table()


def two_arguments(spec, model_info):
    pass


@pytest.mark.parametrize("change, words", [
    ({"check": two_arguments}, "check must be a function called as check(spec, model_info, n_tokens)"),
    ({"section": lambda spec: {}}, "section must be a function called as section(spec, capture)"),
    ({"metrics": lambda: {}}, "metrics must be a function called as metrics(section)"),
    ({"views": {"toy": "toy-view"}}, "a custom element tag here is 'explorable-<name>'"),
    ({"name": "Toy View"}, "the name is the payload section and the spec field"),
    ({"options": dict}, "options must be a pydantic model class"),
    ({"needs": {"attention": True}}, "needs must be a Needs record"),
    ({"parts": ["queries"]}, "parts must be a tuple"),
    ({"needs": Needs(hooks=("blocks.*.attn.hook_weights",))}, "'blocks.*.attn.hook_weights' names no hook point"),
    ({"needs": Needs(hooks="hook_embed")}, "needs.hooks must be a tuple"),
])
def test_register_refuses_a_record_that_breaks_the_contract(change, words):
    fields = {"name": "toy", "views": {"toy": "explorable-toy-view"}, "section": section, **change}
    with pytest.raises(ContractError) as caught:
        REGISTRY.register(Method(**fields))
    assert words in str(caught.value)
    assert "toy" not in REGISTRY.views()


def test_register_takes_a_check_with_a_default_for_the_token_count():
    def check(spec, model_info, n_tokens=None):
        pass
    REGISTRY.register(Method(name="toy", views={"toy": "explorable-toy-view"}, section=section, check=check))
    REGISTRY.unregister("toy")


def test_every_builtin_method_fits_the_contract():
    from generator.methods.registry import check_contract

    for method in REGISTRY:
        check_contract(method)


# -- metrics --------------------------------------------------------------------------------------------------------

def test_explanations_metrics_average_each_measure_over_the_outputs():
    section = {"kind": "causal", "methods": ["rollout", "flow"],
               "faithfulness": {"aopc": [[1.0, 3.0], [2.0, None], [0.5, 0.5]],
                                "comprehensiveness": [[2.0, 2.0], [1.0, 0.0], [0.0, 1.0]],
                                "sufficiency": [[0.1, 0.3], [0.2, 0.2], [0.4, 0.6]]},
               "ig": {"gap": [0.1, None, 0.3]}}
    got = REGISTRY["explanations"].metrics(section)
    assert got["explanations_aopc_rollout"] == 2.0 and got["explanations_aopc_flow"] == 2.0
    assert got["explanations_aopc_random"] == 0.5
    assert got["explanations_comprehensiveness_flow"] == 0.5
    assert got["explanations_sufficiency_random"] == pytest.approx(0.5)
    assert got["explanations_ig_gap_max"] == 0.3 and got["explanations_ig_gap_infinite"] == 1.0
    assert got["explanations_ig_gap_median"] == pytest.approx(statistics.median([0.1, 0.3]))


def test_lens_metrics_read_the_ranks_of_the_next_token():
    # 4 rows (L = 3) x 5 positions; column by column: settles at 0, 2, never, 3, is top-1 at 1 but not after
    ranks = np.array([[1, 4, 2, 9, 1],
                      [1, 2, 1, 5, 1],
                      [1, 1, 3, 2, 7],
                      [1, 1, 2, 1, 3]], dtype=np.float64)
    got = REGISTRY["lens"].metrics({"next_ranks": encode_array(ranks, dtype="uint16", lo=0, hi=65535)})
    assert got["lens_next_top1"] == pytest.approx(3 / 5)
    assert got["lens_settled_layer_median"] == 2.0          # median of 0, 2, 3


def test_neuron_and_factor_metrics():
    neuron = {"layers": [0, 3], "heads": [0, 1, 2], "queries": [{"shape": [3, 7, 4]}] * 2,
              "keys": [{"shape": [1, 7, 4]}] * 2}
    assert REGISTRY["neuron"].metrics(neuron) == {"neuron_layers": 2.0, "neuron_heads": 3.0,
                                                  "neuron_stored_values": 2 * 84 + 2 * 28}
    factors = {"runs": [{"count": 2, "error": 0.5, "iterations": 7}]}
    assert REGISTRY["factors"].metrics(factors) == {"nmf_error_k2": 0.5, "nmf_iterations_k2": 7.0}


# -- PNGs of every view ---------------------------------------------------------------------------------------------

def test_png_export_finds_every_view_by_what_views_share(tmp_path):
    """The PNG renderer's selector is not a list of tags: a page holding one element of every registered view, each
    defined as a View, gives one PNG per view (the standalone page of a tiny model would too, at bake cost)."""
    from generator.tracking import png

    if not png.available():
        pytest.skip("Playwright or Chromium missing")
    tags = [REGISTRY.element(view) for view in REGISTRY.views()]
    payload = json.dumps({"n": 1})
    script = "\n".join(
        f"""customElements.define({json.dumps(tag)}, class extends HTMLElement {{
              connectedCallback() {{
                this.classList.add("xp-view"); this.dataset.state = "ready";
                const button = document.createElement("button"); button.textContent = "save PNG";
                button.onclick = () => {{ const a = document.createElement("a");
                  a.href = "data:image/png;base64,iVBORw0KGgo="; a.download = {json.dumps(tag + ".png")}; a.click(); }};
                this.append(button);
              }} }});""" for tag in tags)
    page = (f"<!doctype html><div class='explorable' data-payload='{payload}'>"
            + "".join(f"<{tag}></{tag}>" for tag in tags) + f"</div><script>{script}</script>")
    files = png.render(page)
    assert sorted(files) == sorted(f"{tag}.png" for tag in tags)
    assert re.fullmatch(r"\.explorable > \.xp-view", png.VIEWS)
