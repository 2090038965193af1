"""Faults the fifth new-author trial left: each test failed before its fix. A misspelt option value with no
did-you-mean, an option written under the wrong method (or at the block's top level) called only "unknown field",
and bidi controls in a title or caption reordering the page around them."""

from __future__ import annotations

import pytest
from test_reported_faults_5 import block, check, project, refused


# -- 1. a misspelt value of a field with a fixed set of values -------------------------------------------------------

# (the block's line, field, value written, allowed values as docs/writing.md lists them, the value meant)
_MISSPELT_VALUES = [
    ("saliency: {target: probabilty}", "saliency.target", "probabilty", "'logit' or 'probability'", "probability"),
    ("explanations: {target: logt}", "explanations.target", "logt", "'logit' or 'probability'", "logit"),
    ("saliency: {target: Probability}", "saliency.target", "Probability", "'logit' or 'probability'",
     "probability"),
    ("interventions: {target: ' Paris', ablation: zeroo}", "interventions.ablation", "zeroo", "'mean' or 'zero'",
     "zero"),
    ("device: cpuu", "device", "cpuu", "'auto', 'cpu' or 'cuda'", "cpu"),
    ("dtype: bfloat61", "dtype", "bfloat61", "'float32' or 'bfloat16'", "bfloat16"),
    ("counterfactuals: {searches: [minimall]}", "counterfactuals.searches", "minimall", "'minimal' or 'adversarial'",
     "minimal"),
]


@pytest.mark.parametrize("line, field, value, allowed, meant", _MISSPELT_VALUES)
def test_a_misspelt_option_value_says_which_value_was_meant(line, field, value, allowed, meant):
    errors = refused(f"model: smollm2\ntext: The capital of France is\n{line}\n")
    assert len(errors) == 1
    error = errors[0]
    assert (error.file, error.line) == ("docs/a.md", 13)
    assert error.field in (field, f"{field}.0")
    assert error.message == f"{value!r} is not one of {allowed}"
    assert error.hint == f"did you mean '{meant}'?"


def test_a_value_close_to_none_lists_the_values_without_a_guess(tmp_path, capsys):
    root = project(tmp_path, block("text: The capital of France is", "saliency: {target: entropy}"))
    status, errors = check(root, capsys)
    assert status == 1
    assert errors == ["error: docs/index.md:6: field 'saliency.target': 'entropy' is not one of 'logit' or "
                      "'probability'"]


def test_check_prints_the_guess_on_the_value_s_line(tmp_path, capsys):
    root = project(tmp_path, block("text: The capital of France is", "explanations:", "  target: probabilty"))
    status, errors = check(root, capsys)
    assert status == 1
    assert errors == ["error: docs/index.md:7: field 'explanations.target': 'probabilty' is not one of 'logit' or "
                      "'probability' (did you mean 'probability'?)"]


def test_a_misspelt_entry_of_a_list_of_fixed_values_is_guessed_too():
    errors = refused("model: smollm2\ntext: The capital of France is\nexplanations: {methods: [rollout, flwo]}\n")
    assert [(error.line, error.field, error.hint) for error in errors] == [
        (13, "explanations.methods.1", "did you mean 'flow'?")]


def test_a_misspelt_view_still_lists_the_views_when_nothing_is_close():
    errors = refused("model: smollm2\ntext: The capital of France is\nviews: [xyzzy]\n")
    assert errors[0].message == "unknown view 'xyzzy'"
    assert errors[0].hint.startswith("valid views: head, model, saliency")


# -- 2. an option written in the wrong place -------------------------------------------------------------------------

@pytest.mark.parametrize("lines, line, field, hint", [
    (["counterfactuals:", "  contrast: The capital of Italy is"], 7, "counterfactuals.contrast",
     "'contrast' is an option of interventions (activation patching): write it under 'interventions:'; or did you "
     "mean 'contrasts'?"),
    (["contrast: The capital of Italy is"], 6, "contrast",
     "'contrast' is an option of interventions (activation patching): write it under 'interventions:'"),
    (["saliency: {contrast: The capital of Italy is}"], 6, "saliency.contrast",
     "'contrast' is an option of interventions (activation patching): write it under 'interventions:'"),
    (["target: probability"], 6, "target",
     "'target' is an option of saliency, explanations and interventions: write it under one of them"),
    (["saliency:", "  ablation: zero"], 7, "saliency.ablation",
     "'ablation' is an option of interventions: write it under 'interventions:'"),
    (["lens:", "  views: [layers]"], 7, "lens.views",
     "'views' is a field of the block itself, not an option of lens: write it at the top level, not under 'lens:'"),
])
def test_an_option_of_another_method_says_where_it_belongs(tmp_path, capsys, lines, line, field, hint):
    root = project(tmp_path, block("text: The capital of France is", *lines))
    status, errors = check(root, capsys)
    assert status == 1
    assert errors == [f"error: docs/index.md:{line}: field '{field}': unknown field ({hint})"]


def test_a_field_known_nowhere_keeps_its_did_you_mean():
    errors = refused("model: smollm2\ntext: The capital of France is\ninterventions: {contrst: The capital of Italy}\n")
    assert [(error.line, error.message, error.hint) for error in errors] == [
        (13, "unknown field", "did you mean 'contrast'?")]
