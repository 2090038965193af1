"""Faults the seventh new-author trial left in author errors: each test failed before its fix, but for the guards
(said in their docstrings or comments), which pin what must not change. The attention edits' `factors` written at
the top level read as the factors view's options, a model without an architecture adapter placed at its model line,
a head outside the model reported only once a schema error of its block was fixed, and counterfactual contrasts
given to the patching view without a word about `interventions.contrast`."""

from __future__ import annotations

import re

import pytest
from test_reported_faults_5 import block, check, project, refused


def curated(tmp_path, entries: str) -> None:
    """explorables/a.yml of the project at tmp_path, holding `entries` (YAML)."""
    (tmp_path / "explorables").mkdir(parents=True)
    (tmp_path / "explorables" / "a.yml").write_text(entries, encoding="utf-8")


def places(errors: list[str]) -> list[list[str]]:
    """[FILE:LINE, field '...'] of each `error: ...` line."""
    return [error.split(": ")[1:3] for error in errors]

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
    curated(tmp_path, f"- id: bloom-heads\n  model: {bloom}\n  text: The cat sat\n  generate: 2\n")
    root = project(tmp_path, "# Page\n\n```explorable\nuse: bloom-heads\nviews: [head, knockout]\n```\n")
    status, errors = check(root, capsys)
    assert status == 1 and len(errors) == 1 and errors[0].startswith("error: docs/index.md:5: field 'views': "), errors


# -- 3. a head outside the model next to a schema error of its block --------------------------------------------------

_HEAD = ("field 'interventions.heads' (entry 1): [0, 99] is outside the model, which has layers 0-29 and heads 0-8")


@pytest.mark.parametrize("lines, schema", [
    (["views: [editing]", "interventions: {target: ' Paris', heads: [[0, 99]]}", "titel: Heads"],
     [("docs/index.md:8", "field 'titel'")]),
    (["views: [editing, knockot]", "interventions: {target: ' Paris', heads: [[0, 99]]}"],
     [("docs/index.md:6", "field 'views' (entry 2)")]),
    (["views: [editing]", "interventions: {target: ' Paris', heads: [[0, 99]], top_k: 40}"],
     [("docs/index.md:7", "field 'interventions.top_k'")]),
    (["views: [editing]", "caption: 3", "interventions:", "  target: ' Paris'", "  heads: [[0, 99]]", "  top_k: 0"],
     [("docs/index.md:7", "field 'caption'"), ("docs/index.md:11", "field 'interventions.top_k'")]),
])
def test_check_reports_a_head_outside_the_model_with_the_block_s_schema_errors(tmp_path, capsys, lines, schema):
    root = project(tmp_path, block(TEXT, *lines))
    status, errors = check(root, capsys)
    assert status == 1
    found = [tuple(place) for place in places(errors)]
    head_line = next(index for index, one in enumerate(lines, 6) if "heads:" in one)
    assert sorted(found, key=lambda place: int(place[0].split(":")[1])) == found     # reading order
    assert set(found) == set(schema) | {(f"docs/index.md:{head_line}", "field 'interventions.heads' (entry 1)")}
    assert sum(_HEAD in error for error in errors) == 1, errors
    # the same head, alone, is the error check gives once the schema's errors are fixed (the message is the same)
    fixed = project(tmp_path / "fixed", block(TEXT, "views: [editing]",
                                              "interventions: {target: ' Paris', heads: [[0, 99]]}"))
    [alone] = check(fixed, capsys)[1]
    assert [error.split(": ", 2)[2] for error in errors if _HEAD in error] == [alone.split(": ", 2)[2]]


@pytest.mark.parametrize("lines, reason", [
    (["views: [editing]", "interventions: {target: ' Paris', heads: [[0, 99], [-1, 2]]}"], "heads refused whole"),
    (["views: [editing]", "interventions: {target: ' Paris', heads: [[0, 99]]}", "pair: [a, b]"], "text and pair"),
    (["views: [edting]", "interventions: {target: ' Paris', heads: [[0, 99]]}"], "no view left"),
])
def test_no_rule_of_the_model_is_guessed_where_the_rest_cannot_be_read(tmp_path, capsys, lines, reason):
    """A guard: where the refused values cannot be left out (the heads' own list, a block with both text and pair,
    a views list with none left), the schema's errors are all that check reports, as before."""
    root = project(tmp_path, block(TEXT, *lines))
    status, errors = check(root, capsys)
    assert status == 1 and errors and not any("is outside the model" in error for error in errors), (reason, errors)


def test_a_rule_that_weighs_several_fields_waits_for_the_fixed_block(tmp_path, capsys):
    """'genrate' is refused as unknown; the rule that a causal model's interventions need a generated token or a
    target would fire on the block without it, but the author meant to generate: not reported in the same run (only
    the options' own values are checked against the model there)."""
    root = project(tmp_path, block(TEXT, "genrate: 1", "views: [editing]", "interventions: {top_k: 3}"))
    status, errors = check(root, capsys)
    assert status == 1
    assert places(errors) == [["docs/index.md:6", "field 'genrate'"]], errors


def test_a_curated_entry_s_head_is_reported_with_its_schema_error(tmp_path, capsys):
    curated(tmp_path, "- id: heads\n  model: smollm2\n  text: The capital of France is\n  views: [editing]\n"
                      "  titel: x\n  interventions: {target: ' Paris', heads: [[0, 99]]}\n")
    root = project(tmp_path, "# Page\n")
    status, errors = check(root, capsys)
    assert status == 1
    assert places(errors) == [
        ["explorables/a.yml:5", "field 'titel'"], ["explorables/a.yml:6", "field 'interventions.heads' (entry 1)"]]


def test_a_missing_option_s_error_waits_when_its_key_may_be_misspelt(tmp_path, capsys):
    """'contrst' is refused as unknown; patching's 'none is given' about the contrast would be its effect: only the
    head, a value written, is checked against the model in the same run."""
    root = project(tmp_path, block(TEXT, "generate: 1", "views: [editing, patching]",
                                   "interventions: {contrst: The capital of Italy is, heads: [[0, 99]]}"))
    status, errors = check(root, capsys)
    assert status == 1
    assert places(errors) == [
        ["docs/index.md:8", "field 'interventions.contrst'"],
        ["docs/index.md:8", "field 'interventions.heads' (entry 1)"]], errors


def test_a_use_block_s_schema_error_leaves_the_example_s_head_to_the_example(tmp_path, capsys):
    """The page's refused title; the curated example's head is reported once, at the example's own line."""
    curated(tmp_path, "- id: heads\n  model: smollm2\n  text: The capital of France is\n  views: [editing]\n"
                      "  interventions: {target: ' Paris', heads: [[0, 99]]}\n")
    root = project(tmp_path, "# Page\n\n```explorable\nuse: heads\ntitle: [1, 2]\n```\n")
    status, errors = check(root, capsys)
    assert status == 1
    assert places(errors) == [
        ["docs/index.md:5", "field 'title'"], ["explorables/a.yml:5", "field 'interventions.heads' (entry 1)"]]
    from generator.spec import Catalogue, spec_from_block
    with pytest.raises(Exception) as caught:
        spec_from_block("use: heads\ntitle: [1, 2]\n", file="docs/index.md", line_offset=3,
                        catalogue=Catalogue.load(tmp_path / "explorables", tmp_path))
    assert caught.value.partial is None


# -- 4. counterfactual contrasts given to the patching view ----------------------------------------------------------

def test_contrasts_for_the_patching_view_point_to_interventions_contrast(tmp_path, capsys):
    root = project(tmp_path, block(TEXT, "generate: 1", "views: [patching]",
                                   "counterfactuals: {contrasts: [The capital of Italy is]}"))
    status, errors = check(root, capsys)
    assert status == 1 and len(errors) == 1, errors
    assert errors[0].startswith("error: docs/index.md:8: field 'counterfactuals': the counterfactuals options are "
                                "not used")
    assert ("the patching view reads its contrast from 'interventions.contrast', one text with as many tokens as "
            "the text, not from 'counterfactuals.contrasts'") in errors[0]
    # the block the hint writes passes check: the contrast read where patching reads it (an independent read)
    written = re.search(r"write (interventions: \{contrast: [^}]*\}) and delete 'counterfactuals:'", errors[0]).group(1)
    fixed = project(tmp_path / "fixed", block(TEXT, "generate: 1", "views: [patching]", written))
    assert check(fixed, capsys) == (0, [])
    from generator.spec import spec_from_data
    import yaml
    assert spec_from_data({"model": "smollm2", "text": "Hi", "generate": 1, **yaml.safe_load(written)},
                          file="a.md").options("interventions").contrast == "The capital of Italy is"


def test_a_contrast_that_yaml_must_quote_is_quoted_in_the_hint():
    [error] = refused(f"model: smollm2\n{TEXT}\ngenerate: 1\nviews: [patching]\n"
                      "counterfactuals: {contrasts: ['Rome: the capital of Italy, is']}\n")
    import yaml
    written = re.search(r"write (interventions: \{.*\}) and delete", error.hint).group(1)
    assert yaml.safe_load(written) == {"interventions": {"contrast": "Rome: the capital of Italy, is"}}


def test_patching_without_a_contrast_next_to_the_contrast_view_says_which_texts_it_reads(tmp_path, capsys):
    root = project(tmp_path, block(TEXT, "generate: 1", "views: [patching, contrast]",
                                   "counterfactuals: {contrasts: [The capital of Italy is]}"))
    status, errors = check(root, capsys)
    assert status == 1 and len(errors) == 1, errors
    assert errors[0].startswith("error: docs/index.md:7: field 'views': activation patching compares the text with "
                                "a contrast text, and none is given")
    assert errors[0].endswith("; 'counterfactuals.contrasts' are the contrast views' texts, which patching does not "
                              "read)")


@pytest.mark.parametrize("lines", [
    ["views: [knockout]", "counterfactuals: {contrasts: [The capital of Italy is]}"],
    ["views: [patching]", "counterfactuals: {contrasts: [The capital of Italy is]}",
     "interventions: {contrast: The capital of Spain is}"],
])
def test_unused_contrasts_elsewhere_keep_the_plain_advice(lines):
    """A guard: without patching, or with its contrast given, the counterfactuals options are simply unused."""
    [error] = refused("\n".join(["model: smollm2", TEXT, "generate: 1", *lines]) + "\n")
    assert error.hint == "add contrast or attention_counterfactual to 'views', or delete 'counterfactuals:'"
