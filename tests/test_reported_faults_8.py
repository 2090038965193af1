"""Faults the seventh new-author trial left in author errors: each test failed before its fix, but for the guards
(said in their docstrings or comments), which pin what must not change. The attention edits' `factors` written at
the top level read as the factors view's options, a model without an architecture adapter placed at its model line,
a head outside the model reported only once a schema error of its block was fixed, and counterfactual contrasts
given to the patching view without a word about `interventions.contrast`."""

from __future__ import annotations

import re

import pytest
from test_reported_faults_5 import block, check, project, refused

TEXT = "text: The capital of France is"


# -- 1. the attention edits' factors at the top level -----------------------------------------------------------------

# (the block's lines after model and text, the line of 'factors')
@pytest.mark.parametrize("lines, line", [
    (["views: [editing]", "interventions:", "factors: [0, 0.5, 2]"], 15),
    (["views: [editing]", "interventions:", "  target: ' Paris'", "factors: [0, 2]"], 16),
    (["factors: [0.5, 4]", "interventions:", "  target: ' Paris'"], 13),      # no views: the options show editing
])
def test_intervention_factors_at_the_top_level_say_where_they_go(lines, line):
    errors = refused("\n".join(["model: smollm2", TEXT, *lines]) + "\n")
    assert [(error.line, error.field) for error in errors] == [(line, "factors")], errors   # one error, at its line
    [error] = errors
    assert error.message.startswith("at the top level, 'factors' holds the options of the factors view")
    assert "'counts' (how many factors to extract)" in error.message and "a list is not read as them" in error.message
    assert "an option of interventions: indent this line under 'interventions:' by two spaces" in error.hint
    # the indented line the hint gives, put under 'interventions:' in place of the top-level one, reads as the
    # factors the author wrote, and leaves the factors view's options at their default
    written = re.search(r"on the next line '(  factors: .*)'$", error.hint).group(1)
    kept = [one for one in lines if not one.startswith("factors:")]
    at = kept.index("interventions:") + 1
    body = "\n".join(["model: smollm2", TEXT, *kept[:at], written, *kept[at:]]) + "\n"
    from generator.spec import Catalogue, spec_from_block
    spec = spec_from_block(body, file="docs/a.md", line_offset=0, catalogue=Catalogue({}))
    given = next(one for one in lines if one.startswith("factors:")).split("[")[1].rstrip("]")
    assert spec.options("interventions").factors == sorted(float(value) for value in given.split(","))
    assert spec.options("factors").counts == [5]


def test_intervention_factors_at_the_top_level_of_a_one_line_interventions():
    [error] = refused(f"model: smollm2\n{TEXT}\nviews: [editing]\ninterventions: {{target: ' Paris'}}\n"
                      "factors: [0, 0.5, 2]\n")
    assert (error.line, error.field) == (15, "factors")
    assert error.hint.endswith("write them inside the braces of 'interventions: {...}', as in interventions: {..., "
                               "factors: [0, 0.5, 2]}")


def test_a_list_for_the_factors_view_says_to_write_counts():
    """Without interventions in the block, a list given to 'factors' is most likely the factor counts."""
    [error] = refused(f"model: smollm2\n{TEXT}\nviews: [factors]\nfactors: [3, 5]\n")
    assert (error.line, error.field) == (14, "factors")
    assert error.hint == "for the factors view, write factors: {counts: [3, 5]}"
    from generator.spec import spec_from_data
    assert spec_from_data({"model": "smollm2", "text": "Hi", "views": ["factors"], "factors": {"counts": [3, 5]}},
                          file="a.md").options("factors").counts == [3, 5]


def test_the_factors_view_s_options_as_a_mapping_stay_valid():
    """A guard: a mapping under 'factors' is the factors view's options, before and after."""
    from generator.spec import spec_from_data
    spec = spec_from_data({"model": "smollm2", "text": "Hi", "factors": {"counts": 3},
                           "interventions": {"factors": [0, 2]}}, file="a.md")
    assert spec.options("factors").counts == [3] and spec.options("interventions").factors == [0, 2]


def test_check_gives_the_top_level_factors_one_error(tmp_path, capsys):
    root = project(tmp_path, block(TEXT, "views: [editing]", "interventions:", "factors: [0, 0.5, 2]"))
    status, errors = check(root, capsys)
    assert status == 1
    assert len(errors) == 1 and errors[0].startswith("error: docs/index.md:8: field 'factors': at the top level"), \
        errors


# -- 2. a model without an architecture adapter, asked for intervention views ----------------------------------------

@pytest.fixture(scope="module")
def bloom(tmp_path_factory, byte_level_tokenizer):
    """A tiny random BLOOM (alibi position bias: no architecture adapter), saved as from the hub."""
    from transformers import BloomConfig, BloomForCausalLM
    folder = tmp_path_factory.mktemp("no-adapter") / "bloom"
    BloomForCausalLM(BloomConfig(hidden_size=16, n_layer=1, n_head=2, vocab_size=len(byte_level_tokenizer))
                     ).save_pretrained(folder)
    byte_level_tokenizer.save_pretrained(folder)
    return folder


def _working(hint: str) -> list[str]:
    return hint.split("views that work on bloom: ")[1].split(", ")


# (the block's lines after model and text, the line of the field asking for the views, that field)
@pytest.mark.parametrize("lines, line, field, named", [
    (["generate: 2", "views: [head, knockout]"], 7, "views", "the knockout view"),
    (["views: [knockout, editing]", "interventions: {target: ' Paris'}"], 6, "views", "the knockout and editing views"),
    (["generate: 2", "interventions: {ablation: zero}"], 7, "interventions",         # no views: the options show them
     "the knockout, editing and patching views"),
])
def test_intervention_views_on_a_model_without_adapter_are_placed_at_the_views(tmp_path, capsys, bloom, lines,
                                                                                 line, field, named):
    root = project(tmp_path, block(f"text: The capital of France is", *lines).replace("smollm2", str(bloom)))
    status, errors = check(root, capsys)
    assert status == 1 and len(errors) == 1, errors
    assert errors[0].startswith(f"error: docs/index.md:{line}: field '{field}': {named} cannot read bloom "
                                "(architecture 'bloom'): there is no architecture adapter for 'bloom'"), errors
    hint = errors[0].rsplit(" (", 1)[1]
    working = _working(hint.rstrip(")"))
    assert not {"knockout", "editing", "patching"} & set(working)
    # each view named as working passes check on this model, alone (an independent read: the rules themselves)
    for view in working:
        root = project(tmp_path / view, block("text: The capital of France is", "generate: 2",
                                              f"views: [{view}]").replace("smollm2", str(bloom)))
        assert check(root, capsys) == (0, []), view


def test_a_use_block_asking_for_a_view_the_model_lacks_stays_at_the_page_s_views(tmp_path, capsys, bloom):
    """A guard: a `use:` block's page that adds the view is the place to change (`SpecBase.asked_by_page`)."""
    (tmp_path / "explorables").mkdir(parents=True)
    (tmp_path / "explorables" / "a.yml").write_text(f"- id: bloom-heads\n  model: {bloom}\n  text: The cat sat\n"
                                                   "  generate: 2\n", encoding="utf-8")
    root = project(tmp_path, "# Page\n\n```explorable\nuse: bloom-heads\nviews: [head, knockout]\n```\n")
    status, errors = check(root, capsys)
    assert status == 1 and len(errors) == 1 and errors[0].startswith("error: docs/index.md:5: field 'views': "), errors
