"""Faults a fresh author met writing bad blocks (the new-user trial, left from its list): each test failed before its
fix. Options no shown view uses, every error of a block at once, and a tab in a block's YAML."""

from __future__ import annotations

import html
import re
import textwrap
from pathlib import Path

import pytest

from generator.cli import check_against_files, main
from generator.errors import SpecError, SpecErrors
from generator.methods import REGISTRY
from generator.methods.registry import ContractError, Method, Needs, Registry
from generator.models.registry import resolve
from generator.spec import Catalogue, spec_from_block, spec_from_data


def block(body: str, *, offset: int = 10, catalogue: Catalogue | None = None):
    """The spec of a Markdown block whose body starts on line offset + 1 of docs/a.md."""
    return spec_from_block(textwrap.dedent(body), file="docs/a.md", line_offset=offset,
                           catalogue=catalogue or Catalogue({}))


def refused(body: str, **options) -> list[SpecError]:
    with pytest.raises(SpecError) as caught:
        block(body, **options)
    return caught.value.errors


# -- 1. options for views that are not shown ------------------------------------------------------------------------

def test_a_methods_options_without_any_of_its_views_are_refused_at_the_options():
    [error] = refused("""\
        model: smollm2
        text: The cat sat on the mat.
        views: [head, model]
        explanations:
          methods: [rollout, flow]
        """)
    assert (error.file, error.line, error.field) == ("docs/a.md", 14, "explanations")
    assert "'views' does not show the explanations view" in error.message
    assert error.hint == "add explanations to 'views', or delete 'explanations:'"


def test_a_method_of_several_views_names_them_all():
    [error] = refused("""\
        model: smollm2
        text: The cat sat on the mat.
        generate: 1
        views: [head]
        interventions: {ablation: zero}
        """)
    assert error.field == "interventions" and error.line == 15
    assert "any of the knockout, editing and patching views" in error.message
    assert error.hint == "add knockout, editing or patching to 'views', or delete 'interventions:'"


@pytest.mark.parametrize("method, option, value, views, users", [
    ("interventions", "contrast", "The dog sat on the mat.", "[knockout, editing]", "patching"),
    ("lens", "watch", "[' is']", "[layers, probabilities]", "ranks"),
    ("lens", "top_k", "3", "[ranks]", "layers and probabilities"),
    ("counterfactuals", "permutations", "3", "[contrast]", "attention_counterfactual"),
    ("counterfactuals", "contrasts", "[The dog sat on the mat.]", "[attention_counterfactual]", "contrast"),
])
def test_an_option_only_other_views_use_is_refused_at_the_option(method, option, value, views, users):
    [error] = refused(f"""\
        model: smollm2
        text: The cat sat on the mat.
        generate: 1
        views: {views}
        {method}:
          {option}: {value}
        """)
    assert (error.line, error.field) == (16, f"{method}.{option}")
    assert f"'{option}' is an option of the {users} view" in error.message
    first = users.split(" and ")[0]
    assert error.hint.startswith(f"add {first}") and error.hint.endswith(f"or delete '{option}'")


def test_the_attention_view_with_its_attention_turned_off_is_refused_by_check(tiny_models):
    """The view drew an error box in the reader's browser only (not a strict build's failure)."""
    spec = block(f"""\
        model: {tiny_models["llama"]}
        text: The cat sat on the mat.
        generate: 1
        views: [contrast, attention_counterfactual]
        counterfactuals: {{attention: false}}
        """)
    with pytest.raises(SpecError) as caught:
        check_against_files(spec, resolve(str(tiny_models["llama"])))
    [error] = caught.value.errors
    assert (error.line, error.field) == (15, "counterfactuals.attention")
    assert error.hint == "delete 'attention: false', or the attention_counterfactual view"


def test_the_option_to_view_map_is_the_registry_record_and_every_entry_names_real_options_and_views():
    for method in REGISTRY:
        for option, users in method.option_views.items():
            assert option in method.options.model_fields, (method.name, option)
            assert users and set(users) <= set(method.views), (method.name, option)
    assert REGISTRY["interventions"].option_views["contrast"] == ("patching",)
    assert REGISTRY["lens"].option_views["watch"] == ("ranks",)


def test_the_authors_table_says_which_options_only_some_views_use():
    from generator.methods.table import views_table

    page = (Path(__file__).resolve().parent.parent / "docs" / "writing.md").read_text(encoding="utf-8")
    row = next(line for line in views_table().splitlines() if line.startswith("| `knockout`"))
    assert "Activation patching: a contrast text" in row and "used by the `patching` view only" in row
    assert "`target`: " in row and row.count("used by the `editing` view only") == 4
    assert row in page


def test_a_method_record_with_a_wrong_option_to_view_map_is_refused_when_registered():
    from generator.methods.options import Options

    class Knobs(Options):
        depth: int = 1

    def section(spec, capture):
        return {}

    registry = Registry()
    record = dict(name="knobs", views={"dial": "explorable-dial-view"}, section=section, needs=Needs(), options=Knobs)
    with pytest.raises(ContractError, match="'width', which is not one of its options"):
        registry.register(Method(**record, option_views={"width": ("dial",)}))
    with pytest.raises(ContractError, match="must be a non-empty tuple of its views"):
        registry.register(Method(**record, option_views={"depth": ("knob",)}))
    registry.register(Method(**record, option_views={"depth": ("dial",)}))


def test_options_are_used_when_their_views_are_shown_or_views_is_left_out():
    shown = block("""\
        model: smollm2
        text: The cat sat on the mat.
        generate: 1
        views: [ranks, knockout, patching]
        lens: {watch: [' is']}
        interventions: {contrast: The dog sat on the mat., ablation: zero}
        """)
    assert shown.options("interventions").contrast == "The dog sat on the mat."
    implied = block("model: smollm2\ntext: The cat sat on the mat.\ngenerate: 1\nlens: {watch: [' is']}\n")
    assert implied.shown_views == list(REGISTRY["lens"].views)
    # an off switch of what the bake computes is no view's option: it spares the block the edit searches
    block("model: smollm2\ntext: a b c\ngenerate: 1\nviews: [attention_counterfactual]\n"
          "counterfactuals: {searches: [], attention: true}\n")


def test_a_page_may_show_fewer_views_of_a_curated_example_than_its_options_serve():
    catalogue = Catalogue({"ex": spec_from_data({"id": "ex", "model": "smollm2", "text": "The cat sat.",
                                                 "generate": 1, "views": ["ranks", "layers"],
                                                 "lens": {"watch": [" is"]}}, file="explorables/x.yml")})
    spec = block("use: ex\nviews: [layers]\n", catalogue=catalogue)
    assert spec.shown_views == ["layers"]


# -- 2. every error of a block at once ------------------------------------------------------------------------------

MANY = """\
    model: smollm2
    txt: The cat sat on the mat.
    generate: 999
    views: [head]
    max_tokens: 1
    factors: {counts: [3]}
    dtype: float16
    """


def test_every_schema_error_of_a_block_is_raised_at_once_in_line_order():
    errors = refused(MANY)
    assert [(error.line, error.field) for error in errors] == [
        (12, "txt"), (13, "generate"), (15, "max_tokens"), (16, "factors"), (17, "dtype")]
    assert errors[0].hint == "did you mean 'text'?"
    assert "the most allowed is 64" in errors[1].message and "the least allowed is 2" in errors[2].message
    assert "the factors options are not used" in errors[3].message and "'float16'" in errors[4].message


def test_a_misspelt_view_suggests_the_view_and_does_not_also_call_the_options_unused():
    [error] = refused("model: smollm2\ntext: The cat sat.\nviews: [head, salency]\nsaliency: {ig_steps: 8}\n")
    assert (error.line, error.field, error.hint) == (13, "views.1", "did you mean 'saliency'?")


def test_a_missing_text_is_reported_with_the_other_errors():
    errors = refused("model: smollm2\ngenerate: -1\n")
    assert [(error.line, error.field, error.message) for error in errors] == [
        (11, None, "give exactly one of 'text' or 'pair'"), (12, "generate", "-1 is too small: the least allowed is 0")]


def test_spec_errors_read_as_their_first_and_keep_each_one_once():
    one = SpecError("a", file="f.md", line=3, field="x")
    two = SpecError("b", file="f.md", line=1, field="y")
    both = SpecError.combine([one, two, SpecError("a", file="f.md", line=3, field="x")])
    assert isinstance(both, SpecErrors) and both.errors == [two, one]
    assert (both.line, both.field, both.message) == (1, "y", "b")
    assert both.describe() == "f.md:1: field 'y': b\nf.md:3: field 'x': a"
    assert SpecError.combine([one]) is one
    assert both.located("docs/p.md", 10).errors[1].describe() == "docs/p.md:13: field 'x': a"


def test_check_reports_every_rule_a_block_breaks(tiny_models):
    """The rules that need the model's files (an encoder asked to generate, a lens view on an encoder) are all
    reported, not only the first."""
    spec = block(f"""\
        model: {tiny_models["bert"]}
        text: A cat sleeps on the mat.
        generate: 2
        views: [head, ranks]
        """)
    with pytest.raises(SpecErrors) as caught:
        check_against_files(spec, resolve(str(tiny_models["bert"])))
    got = [(error.line, error.field) for error in caught.value.errors]
    assert got == [(13, "generate"), (14, "views")], caught.value.describe()
    assert "cannot generate" in caught.value.errors[0].message
    assert "without a language-model head" in caught.value.errors[1].message


def test_check_prints_each_error_on_a_line_of_its_own(tmp_path, capsys):
    root = tmp_path / "site"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "index.md").write_text("# P\n\n```explorable\n" + textwrap.dedent(MANY) + "```\n",
                                             encoding="utf-8")
    assert main(["--root", str(root), "check"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert [re.match(r"error: docs/index\.md:(\d+): field '([^']+)'", line).groups() for line in lines] == [
        ("5", "txt"), ("6", "generate"), ("8", "max_tokens"), ("9", "factors"), ("10", "dtype")]


# -- 3. a tab in a block's YAML: check and the build read the same text -------------------------------------------

TABBED = "model: smollm2\ntext: The cat sat.\nsaliency:\n\tig_steps: 10\n"


def test_a_tab_indent_is_an_error_at_its_line_and_field():
    [error] = refused(TABBED)
    assert (error.line, error.field) == (14, "saliency.ig_steps")
    assert error.message == "YAML does not allow tabs for indentation; use spaces"
    [error] = refused("model: smollm2\ntext:\tThe cat sat.\n")
    assert (error.line, error.field, error.message) == (12, "text", "YAML does not allow a tab here; use a space")


class _Recorder:
    """A baker that records the spec it is asked to bake and stops there (no model)."""

    def __init__(self):
        self.specs = []

    def payload(self, spec):
        from generator.errors import ExplorableError
        self.specs.append(spec)
        raise ExplorableError("recorded")


def _render(page: str):
    import markdown

    from generator.markdown_ext import ExplorablesExtension, SiteContext
    recorder = _Recorder()
    context = SiteContext(baker=recorder, catalogue=lambda: Catalogue({}))
    return markdown.markdown(page, extensions=[ExplorablesExtension(context)]), recorder.specs


def test_the_markdown_extension_reads_a_block_as_written_not_with_its_tabs_expanded():
    """Python-Markdown expands tabs to spaces before any preprocessor: the build read a tab indent as four spaces
    (and a tab inside a text as spaces) where `check` read the file itself."""
    out, specs = _render("# P\n\n```explorable\n" + TABBED + "```\n")
    assert not specs
    assert "&lt;markdown&gt;:7: field &#x27;saliency.ig_steps&#x27;: YAML does not allow tabs for indentation" in out
    out, [spec] = _render('# P\n\n```explorable\nmodel: smollm2\ntext: "one\ttwo"\n```\n')
    assert spec.text == "one\ttwo"


def test_check_and_a_strict_build_report_the_same_errors_and_the_build_fails(tmp_path, capsys):
    """One page with a tab-indented option, a block of several errors and an option no shown view uses: `check` and
    the build (its log and its error boxes) give the same placed errors, and a strict build fails on them."""
    from test_site_build import build, make_site

    page = ("# Authors\n\n```explorable\n" + TABBED + "```\n\n```explorable\n" + textwrap.dedent(MANY) + "```\n\n"
            "```explorable\nmodel: smollm2\ntext: The cat sat.\nviews: [head]\nsaliency: {ig_steps: 8}\n```\n")
    config = make_site(tmp_path, {})
    (tmp_path / "docs" / "index.md").write_text(page, encoding="utf-8")
    assert main(["--root", str(tmp_path), "check"]) == 1
    checked = [line.removeprefix("error: ") for line in capsys.readouterr().err.splitlines()
               if line.startswith("error: ")]
    lax = build(config, strict=False)
    assert lax.returncode == 0 and "Traceback" not in lax.stderr, lax.stderr[-3000:]
    logged = re.findall(r"WARNING\s+explorables: (docs/index\.md:.*)", lax.stdout + lax.stderr)
    site = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    boxes = re.findall(r'<div class="explorable explorable--error" role="alert">(.*?)</div>', site, re.S)
    shown = [html.unescape(text) for box in boxes for text in re.findall(r"<code>(.*?)</code>", box, re.S)]
    assert len(boxes) == 3 and "Explorable errors (5):" in boxes[1]
    assert checked == logged == shown and len(shown) == 7, (checked, logged, shown)
    assert shown[0].startswith("docs/index.md:7: field 'saliency.ig_steps': YAML does not allow tabs")
    assert shown[-1].startswith("docs/index.md:24: field 'saliency': the saliency options are not used")
    assert build(config).returncode != 0


# -- 4. a block that breaks a rule the model's files settle fails before its model loads -----------------------------

def test_a_text_over_max_tokens_fails_the_bake_without_loading_the_model(tmp_path, tiny_models, monkeypatch):
    """The trial's warm builds each loaded MiniLM for a block whose text was longer than its max_tokens, though
    `check` finds that from the tokenizer alone. The bake now applies the same file-only rules first."""
    from generator.bake import Baker
    from generator.models import loading

    def no_load(*_args, **_kwargs):
        raise AssertionError("the bake loaded the model for a block that breaks a rule")
    monkeypatch.setattr(loading.POOL, "get", no_load)
    body = f"model: {tiny_models['bert']}\ntext: one two three four five six seven eight nine ten\nmax_tokens: 5\n"
    spec = block(body)
    with pytest.raises(SpecError) as by_bake:
        Baker(tmp_path / "cache").payload(spec)
    with pytest.raises(SpecError) as by_check:
        check_against_files(spec, resolve(str(tiny_models["bert"])))
    assert [(e.line, e.field, e.message) for e in by_bake.value.errors] == \
        [(e.line, e.field, e.message) for e in by_check.value.errors]
    assert by_bake.value.errors[0].field == "max_tokens" or "max_tokens" in by_bake.value.errors[0].message


def test_a_view_listed_twice_is_refused_at_views():
    """The trial's `views: [head, head]` silently became one head view, while every other slip is said."""
    [error] = refused("""\
        model: minilm
        text: The cat sat on the mat.
        views: [head, model, head]
        """)
    assert (error.line, error.field) == (13, "views") and "'head' listed more than once" in error.message
    assert block("model: minilm\ntext: The cat sat.\nviews: [model, head]\n").views == ["model", "head"]


def test_the_hub_failure_advice_names_hf_hub_offline_only_when_it_is_set(monkeypatch):
    """The trial's unknown hub id, HF_HUB_OFFLINE unset, was told to "unset HF_HUB_OFFLINE"."""
    from generator.models.loading import _explain_failure
    from generator.models.registry import ModelSource

    source = ModelSource("gpt-17-ultra", "hub", "gpt-17-ultra", "gpt-17-ultra")
    failure = OSError("We couldn't connect to 'https://huggingface.co'.\nmore")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    unset = _explain_failure(source, failure)
    assert "HF_HUB_OFFLINE" not in unset and "spelling" in unset and "hf download gpt-17-ultra" in unset
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "(unset HF_HUB_OFFLINE)" in _explain_failure(source, failure)
