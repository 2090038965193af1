"""Faults the sixth new-author trial left in author errors: each test failed before its fix, but for the guards
(said in their docstrings or comments), which pin what must not change. A yes/no value given to a field of fixed
values answered with the advice for numbers, advice to remove a view the author never listed, no did-you-mean for
common synonyms, a method's name written as a view, NUL and the line separators passing through a title unmarked, a
bidi control drawn one way in an error's field and another in its value, and (found on the way) `check` skipping a
block that computes what an earlier block does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_reported_faults_5 import block, check, project, refused
from test_reported_faults_6 import _read, _widget

_YES_NO = "this is a yes/no value (YAML reads true/false, yes/no and on/off as one), and this field "


# -- 1. true/false given to a field of fixed values ------------------------------------------------------------------

# (the block's line, field, the values docs/writing.md lists for it)
@pytest.mark.parametrize("line, field, allowed", [
    ("device: True", "device", "'auto', 'cpu' or 'cuda'"),
    ("dtype: yes", "dtype", "'float32' or 'bfloat16'"),
    ("interventions: {target: ' Paris', ablation: true}", "interventions.ablation", "'mean' or 'zero'"),
    ("saliency: {target: off}", "saliency.target", "'logit' or 'probability'"),
    ("counterfactuals: {contrasts: [The capital of Italy is], searches: [true]}", "counterfactuals.searches",
     "'minimal' or 'adversarial'"),
])
def test_true_or_false_for_a_field_of_fixed_values_lists_the_values(line, field, allowed):
    errors = refused(f"model: smollm2\ntext: The capital of France is\n{line}\n")
    assert [(error.line, error.field, error.message) for error in errors] == [
        (13, field, f"{_YES_NO}takes one of {allowed}: write one of them")]


def test_true_or_false_for_a_number_keeps_the_number_advice():
    """A guard: passes before and after."""
    [error] = refused("model: smollm2\ntext: The capital of France is\ngenerate: true\n")
    assert error.message == f"{_YES_NO}does not take one: write the number itself"


# -- 2. advice to remove a view the block never listed ---------------------------------------------------------------

@pytest.mark.parametrize("lines, line, field, hint", [
    (["interventions: {target: ' Paris'}"], 6, "interventions.contrast",
     "add 'interventions: {contrast: ...}' with as many tokens as the text, or list the views wanted in 'views', as "
     "in views: [knockout, editing]; no 'views' is given, so the interventions options show knockout, editing and "
     "patching by default"),
    (["interventions: {target: ' Paris'}", "lens: {top_k: 3}"], 6, "interventions.contrast",
     "add 'interventions: {contrast: ...}' with as many tokens as the text, or list the views wanted in 'views', as "
     "in views: [layers, ranks, probabilities, knockout, editing]; no 'views' is given, so the interventions options "
     "show knockout, editing and patching by default"),
    (["saliency: {target: logit}"], 6, "saliency",
     "add 'generate: N' (for example 'generate: 5'), or delete 'saliency:'; no 'views' is given, so the saliency "
     "options show saliency by default"),
    (["generate: 2", "counterfactuals: {contrasts: [The capital of Italy is], attention: false}"], 7,
     "counterfactuals.attention",
     "delete 'attention: false', or list the views wanted in 'views', as in views: [contrast]; no 'views' is given, "
     "so the counterfactuals options show contrast and attention_counterfactual by default"),
])
def test_advice_to_drop_a_default_view_says_it_was_shown_by_default(tmp_path, capsys, lines, line, field, hint):
    root = project(tmp_path, block("text: The capital of France is", *lines))
    status, errors = check(root, capsys)
    assert status == 1
    assert len(errors) == 1 and errors[0].startswith(f"error: docs/index.md:{line}: field '{field}': "), errors
    assert errors[0].endswith(f" ({hint})")


def test_advice_to_drop_a_listed_view_is_kept():
    """A guard of the new wording: where the author listed the view, removing it stays the advice."""
    from generator.errors import SpecError
    from generator.spec import spec_from_data
    from generator.methods import REGISTRY

    spec = spec_from_data({"model": "smollm2", "text": "Hi", "views": ["patching"], "interventions": {}}, file="a.md")
    error = SpecError("m", file="a.md", line=3, field="interventions.contrast", hint="add a contrast, or remove "
                                                                                        "'patching'")
    assert spec.shown_by_default(REGISTRY["interventions"], error) is error


# -- 3. an empty device or dtype is the site's ------------------------------------------------------------------------

@pytest.mark.parametrize("line", ["dtype: null", "device: ~", "dtype:", "device: null\ndtype: ~"])
def test_an_empty_device_or_dtype_means_the_site_s(line):
    """A guard (passes before and after): what docs/writing.md now says, against a block without the fields."""
    from generator.precision import resolve
    from generator.spec import Catalogue, spec_from_block

    def spec(extra: str):
        return spec_from_block(f"model: smollm2\ntext: Hi\n{extra}", file="a.md", line_offset=0,
                               catalogue=Catalogue({}))

    empty, absent = spec(line + "\n"), spec("")
    for site in [("cpu", "float32"), ("cuda", "bfloat16")]:
        assert resolve(empty, *site) == resolve(absent, *site)
        assert (resolve(empty, *site).device, resolve(empty, *site).dtype) == site
    assert empty.digest() == absent.digest()


def test_writing_md_says_an_empty_device_or_dtype_is_the_site_s():
    text = (Path(__file__).resolve().parent.parent / "docs" / "writing.md").read_text(encoding="utf-8")
    for field in ["device", "dtype"]:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{field}` |"))
        assert "`null`" in row and "`~`" in row and "the site's setting" in row.split("`null`")[1]


# -- 4. synonyms and capitals ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, field, meant", [
    ("device: gpu", "device", "'cuda'"),
    ("device: GPU", "device", "'cuda'"),
    ("device: CPU", "device", "'cpu'"),                # this and the other capitals: guards
    ("dtype: fp16", "dtype", "'bfloat16'? (float16 is not offered: bfloat16 is the 16-bit format)"),
    ("dtype: half", "dtype", "'bfloat16'? (float16 is not offered: bfloat16 is the 16-bit format)"),
    ("dtype: float16", "dtype", "'bfloat16'? (float16 is not offered: bfloat16 is the 16-bit format)"),
    ("dtype: bf16", "dtype", "'bfloat16'"),
    ("dtype: fp32", "dtype", "'float32'"),
    ("saliency: {target: prob}", "saliency.target", "'probability'"),
    ("saliency: {target: Logits}", "saliency.target", "'logit'"),
    ("saliency: {target: Probability}", "saliency.target", "'probability'"),
    ("explanations: {target: LOGIT}", "explanations.target", "'logit'"),
    ("interventions: {target: ' Paris', ablation: zeros}", "interventions.ablation", "'zero'"),    # a guard
])
def test_a_synonym_or_a_capital_gets_the_value_meant(line, field, meant):
    errors = refused(f"model: smollm2\ntext: The capital of France is\n{line}\n")
    assert [(error.field, error.hint) for error in errors] == [(field, f"did you mean {meant.rstrip('?')}?"
                                                                if "?" not in meant else f"did you mean {meant}")]


def test_a_synonym_of_a_value_the_field_lacks_is_no_guess():
    """'gpu' means cuda, which `target` does not take: no guess, the message lists the values (a guard)."""
    [error] = refused("model: smollm2\ntext: The capital of France is\nsaliency: {target: gpu}\n")
    assert error.hint is None


# -- 5. a method's name written as a view ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, hint", [
    ("lens", "'lens' is a method; its views are layers, ranks and probabilities: list those wanted in its place, as "
             "in views: [layers, ranks, probabilities]; for these views alone, write 'lens:' (its options) in the "
             "block and leave 'views' out"),
    ("interventions", "'interventions' is a method; its views are knockout, editing and patching: list those wanted "
                      "in its place, as in views: [knockout, editing, patching]; for these views alone, write "
                      "'interventions:' (its options) in the block and leave 'views' out"),
    ("attention", "'attention' is a method; its views are head and model: list those wanted in its place, as in "
                  "views: [head, model]"),
    ("Lens", "'Lens' is a method; its views are layers, ranks and probabilities: list those wanted in its place, as "
             "in views: [layers, ranks, probabilities]; for these views alone, write 'lens:' (its options) in the "
             "block and leave 'views' out"),
])
def test_a_method_written_as_a_view_is_pointed_to_its_views(name, hint):
    errors = refused(f"model: smollm2\ntext: The capital of France is\nviews: [head, {name}]\n")
    assert [(error.field, error.message, error.hint) for error in errors] == [
        ("views.1", f"unknown view '{name}'", hint)]


def test_the_views_named_are_the_method_s_own():
    """The hint's views for every method that is not itself a view are the registry's (an independent read)."""
    from generator.methods import REGISTRY

    for method in REGISTRY:
        if method.name in REGISTRY.views():
            continue
        [error] = refused(f"model: smollm2\ntext: Hi\nviews: [{method.name}]\n")
        assert f"views: [{', '.join(method.views)}]" in error.hint


# -- 6. NUL and the line and paragraph separators in a title or caption ------------------------------------------------

_NEW = ["\x00", "\u2028", "\u2029"]


@pytest.mark.parametrize("control", _NEW, ids=lambda char: f"U+{ord(char):04X}")
def test_nul_and_the_separators_in_a_title_or_caption_are_drawn(control):
    page = _widget(f"Heads{control} that agree", f"Layer 3{control} attends back")
    code = f"{ord(control):04X}"
    for wanted, shown in [("explorable-title", f"Heads⟨{code}⟩ that agree"),
                          ("explorable-caption", f"Layer 3⟨{code}⟩ attends back.")]:
        reader = _read(page, wanted)
        assert control not in reader.text
        assert reader.text.startswith(shown)
    assert control not in page
    assert f'title="U+{code} ' in page


@pytest.mark.parametrize("control", _NEW, ids=lambda char: f"U+{ord(char):04X}")
def test_the_standalone_file_draws_nul_and_the_separators(control):
    from generator.export.standalone import standalone_html
    from generator.spec import spec_from_data

    spec = spec_from_data({"model": "smollm2", "text": f"abc{control}def", "title": f"Two{control} heads"},
                          file="p.md")
    page = standalone_html(spec, json.dumps({"model": {"label": "SmolLM2-135M"}, "tokens": []}).encode())
    code = f"{ord(control):04X}"
    assert control not in page
    assert f"<title>Two⟨{code}⟩ heads</title>" in page
    assert page.count(f"⟨{code}⟩") == 4       # <title>, <h1>, the hidden title, the text
    assert f"abc⟨{code}⟩def" in _read(page, "xs-text").text


# -- 7. a bidi control in an error's field and in its value: one mark --------------------------------------------------

@pytest.mark.parametrize("body, field_text, value_text", [
    ('views: ["he\\u202ead"]\n"ti\\u202etle": x\n', "ti⟨202E⟩tle", "unknown view 'he⟨202E⟩ad'"),
    ('views: ["he\\0ad"]\n"ti\\0tle": x\n', "ti⟨0000⟩tle", "unknown view 'he⟨0000⟩ad'"),
    ('saliency: {target: "lo\\u2066git"}\n"ti\\u2028tle": x\n', "ti⟨2028⟩tle", "'lo⟨2066⟩git' is not one of"),
])
def test_an_error_box_marks_a_control_in_a_value_as_in_a_field(tmp_path, capsys, body, field_text, value_text):
    from generator.markdown_ext import render_error

    box = render_error(SpecErrorsOf(refused(f"model: smollm2\ntext: The capital of France is\n{body}")))
    text = _read(box, "explorable--error").text
    assert field_text in text and value_text in text, text
    assert "\\u" not in text and "\\x" not in text and "\\0" not in text
    assert len(re.findall('<span class="xp-mark"', box)) == 2      # one mark each, drawn alike (with its tooltip)
    root = project(tmp_path, block("text: The capital of France is", *body.splitlines()))
    status, errors = check(root, capsys)
    assert status == 1
    joined = "\n".join(errors)
    assert field_text in joined and value_text in joined, errors


def SpecErrorsOf(errors):
    from generator.errors import SpecError

    return SpecError.combine(errors)


def test_quoted_keeps_the_escapes_of_everything_else():
    """repr's escapes stay where the character is not one drawn as a mark, and a backslash written by the author
    before 'u202e' is not read as an escape."""
    from generator.errors import quoted

    assert quoted("a\u202eb") == "'a\u202eb'"
    assert quoted("a\\u202eb") == repr("a\\u202eb")
    assert quoted("a\\\u202eb") == "'a\\\\\u202eb'"
    assert quoted("new\nline\u200b'") == repr("new\nline\u200b'")
    assert quoted(5) == "5"


# -- found on the way: `check` skipped a block that computes what an earlier block does ------------------------------

def test_check_reports_a_block_that_differs_from_an_earlier_one_in_its_views_only(tmp_path, capsys):
    """Two blocks with the same model, text and options share a payload; the second one's views need a contrast it
    lacks. `check` kept one spec per payload and said 'all valid' (the build reported the error)."""
    root = project(tmp_path, block("text: The capital of France is", "views: [knockout]",
                                   "interventions: {target: ' Paris'}"))
    (root / "docs" / "more.md").write_text(block("text: The capital of France is", "views: [patching]",
                                                 "interventions: {target: ' Paris'}"), encoding="utf-8")
    status, errors = check(root, capsys)
    assert status == 1
    assert [error.split(": ")[1:3] for error in errors] == [["docs/more.md:7", "field 'interventions.contrast'"]]


def test_bake_ahead_keeps_a_twin_that_differs_in_dtype_and_leaves_one_that_differs_in_views(tmp_path):
    """`explorables bake` bakes one block per payload. The payload's cache key holds the block's dtype and device
    (generator.precision), the digest does not: a bfloat16 twin was dropped and then baked during the build."""
    from generator.cli import collect

    texts = ["text: The capital of France is", "interventions: {target: ' Paris'}"]
    root = project(tmp_path, block(*texts, "views: [knockout]"))
    (root / "docs" / "views.md").write_text(block(*texts, "views: [editing]"), encoding="utf-8")
    (root / "docs" / "wide.md").write_text(block(*texts, "views: [knockout]", "dtype: bfloat16"), encoding="utf-8")
    specs, errors = collect(root, "docs", "explorables")
    assert errors == []
    assert sorted((spec.file, spec.dtype) for spec in specs) == [("docs/index.md", None),
                                                                ("docs/wide.md", "bfloat16")]


@pytest.mark.parametrize("lines, field, value_text", [
    # the methods' own messages: a target of several tokens, a token watched twice
    (['views: [knockout]', 'interventions: {target: " Pa\\u202eris"}'], "interventions.target",
     "' Pa⟨202E⟩ris' is"),
    (['lens: {watch: [" Pa\\u202eris", " Pa\\u202eris"]}'], "lens.watch", "' Pa⟨202E⟩ris' is watched twice"),
])
def test_a_method_s_own_message_marks_a_control_in_a_value(tmp_path, capsys, lines, field, value_text):
    """The methods' messages quoted values with repr, which writes a bidi control as '\\u202e' where the field and the
    schema's messages show the mark ⟨202E⟩ (authors7's item 7 covered the schema's messages only)."""
    root = project(tmp_path, block("text: The capital of France is", *lines))
    status, errors = check(root, capsys)
    assert status == 1
    ours = [error for error in errors if f"field '{field}" in error]
    assert ours and value_text in ours[0], errors
    assert "\\u202e" not in "\n".join(errors)


# -- trial7's author findings ------------------------------------------------------------------------------------------

def test_check_refuses_live_on_a_block_whose_views_a_page_cannot_redraw(tmp_path, capsys):
    """`check` said 'all valid' for `live: true` on a pair with the knockout view; the build refused it."""
    root = project(tmp_path, "# Page\n\n```explorable\nmodel: minilm\npair: [A man plays guitar., Someone makes "
                             "music.]\nviews: [knockout]\nlive: true\n```\n")
    status, errors = check(root, capsys)
    assert status == 1
    assert [error.split(": ")[1:3] for error in errors] == [["docs/index.md:7", "field 'live'"]], errors
    assert "this block also shows knockout" in errors[0]


def test_a_contrast_that_is_the_text_itself_is_refused(tmp_path, capsys):
    """A patching contrast identical to the text passed check and build and drew an all-grey figure."""
    root = project(tmp_path, block("text: The Eiffel Tower is in", "views: [patching]",
                                   "interventions: {target: ' Paris', contrast: The Eiffel Tower is in}"))
    status, errors = check(root, capsys)
    assert status == 1
    assert [error.split(": ")[1:3] for error in errors] == [["docs/index.md:7", "field 'interventions.contrast'"]]
    assert "the contrast is the text itself" in errors[0]


def test_two_views_an_encoder_pair_cannot_show_are_named_in_the_plural(tmp_path, capsys):
    root = project(tmp_path, "# Page\n\n```explorable\nmodel: minilm\npair: [A man plays guitar., Someone makes "
                             "music.]\nviews: [editing, patching]\ninterventions: {contrast: x}\n```\n")
    status, errors = check(root, capsys)
    assert status == 1 and any("the editing and patching views need a causal model" in error for error in errors)
