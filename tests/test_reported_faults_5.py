"""Faults the fourth new-author trial found in block errors and `explorables check`: each test failed before its
fix. Bad heads reported one at a time with the wrong entry number, `check` passing a multi-token target and a device
the machine lacks, a missing ']' on a block's last line, a misspelt fence name rendering a code block, and pasted
non-breaking spaces and full-width colons."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from generator.cli import main
from generator.errors import SpecError
from generator.spec import Catalogue, spec_from_block


def project(root: Path, page: str) -> Path:
    (root / "docs").mkdir(parents=True, exist_ok=True)
    (root / "explorables").mkdir(exist_ok=True)
    (root / "docs" / "index.md").write_text(textwrap.dedent(page), encoding="utf-8")
    return root


def check(root: Path, capsys, *options: str) -> tuple[int, list[str]]:
    """`explorables check`'s exit status and its error lines."""
    status = main(["--root", str(root), *options, "check"])
    lines = capsys.readouterr().err.splitlines()
    return status, [line for line in lines if line.startswith("error: ")]


def refused(body: str, offset: int = 10) -> list[SpecError]:
    """The errors of a Markdown block whose body starts on line offset + 1 of docs/a.md."""
    with pytest.raises(SpecError) as caught:
        spec_from_block(textwrap.dedent(body), file="docs/a.md", line_offset=offset, catalogue=Catalogue({}))
    return caught.value.errors


def block(*lines: str) -> str:
    """A page whose one explorable block (smollm2: 30 layers of 9 heads) has `lines` from line 5 on."""
    return "# Page\n\n```explorable\nmodel: smollm2\n" + "".join(line + "\n" for line in lines) + "```\n"


# -- 1. every bad head, numbered as written ---------------------------------------------------------------------------

@pytest.mark.parametrize("heads, entries", [
    ("[[4, 20], [0, 99]]", [(1, "[4, 20]"), (2, "[0, 99]")]),            # sorted, [0, 99] came first as entry 1
    ("[[0, 1], [40, 2], [3, 9]]", [(2, "[40, 2]"), (3, "[3, 9]")]),
    ("[[3, 9], [0, 1], [3, 9]]", [(1, "[3, 9]"), (3, "[3, 9]")]),        # a repeat is an entry as written too
])
def test_every_head_outside_the_model_is_reported_with_its_entry_as_written(tmp_path, capsys, heads, entries):
    root = project(tmp_path, block("text: The capital of France is", "views: [editing]",
                                   f"interventions: {{target: ' Paris', heads: {heads}}}"))
    status, errors = check(root, capsys)
    assert status == 1
    assert errors == [f"error: docs/index.md:7: field 'interventions.heads' (entry {entry}): {pair} is outside the "
                      "model, which has layers 0-29 and heads 0-8 (allowed: [layer, head] with layer 0-29, head 0-8)"
                      for entry, pair in entries]


def test_the_layer_range_and_the_heads_are_reported_in_one_run(tmp_path, capsys):
    root = project(tmp_path, block("text: The capital of France is", "views: [editing]",
                                   "interventions:", "  target: ' Paris'", "  layers: 25-40",
                                   "  heads: [[4, 20], [0, 99]]"))
    status, errors = check(root, capsys)
    assert status == 1
    assert [error.split(": ")[1:3] for error in errors] == [
        ["docs/index.md:9", "field 'interventions.layers'"],
        ["docs/index.md:10", "field 'interventions.heads' (entry 1)"],
        ["docs/index.md:10", "field 'interventions.heads' (entry 2)"]], errors
    assert "layer 40 is outside the model, which has layers 0-29" in errors[0]


def test_the_neurons_layers_and_heads_are_reported_in_one_run(tmp_path, capsys):
    root = project(tmp_path, block("text: The cat sat.", "views: [neuron]", "neuron: {layers: 40, heads: 12}"))
    status, errors = check(root, capsys)
    assert status == 1 and len(errors) == 2, errors
    assert errors[0].startswith("error: docs/index.md:7: field 'neuron.layers': layer 40 is outside the model, "
                                "which has layers 0-29")
    assert errors[1].startswith("error: docs/index.md:7: field 'neuron.heads': head 12 is outside the model, "
                                "which has heads 0-8")


def test_heads_written_in_another_order_are_one_bake():
    """The entries are counted as written, the options stay one sorted set: the same cache key either way."""
    one = spec_from_block("model: smollm2\ntext: The cat\ninterventions: {target: ' sat', heads: [[3, 1], [0, 2]]}\n",
                          file="a.md", line_offset=0, catalogue=Catalogue({}))
    other = spec_from_block("model: smollm2\ntext: The cat\ninterventions: {target: ' sat', heads: [[0, 2], [3, 1], "
                            "[0, 2]]}\n", file="a.md", line_offset=0, catalogue=Catalogue({}))
    assert one.digest() == other.digest() and one.interventions.heads == [[0, 2], [3, 1]]
    assert other.interventions.written_heads == [[0, 2], [3, 1], [0, 2]]


# -- 2. `check` says what the bake says: a target of several tokens, a device the machine lacks -----------------------

def test_check_refuses_a_target_of_several_tokens_at_its_line(tmp_path, capsys):
    root = project(tmp_path, block("text: The capital of France is", "views: [editing]",
                                   "interventions: {target: ' Paris, Texas'}"))
    status, errors = check(root, capsys)
    assert status == 1
    assert errors == ["error: docs/index.md:7: field 'interventions.target': ' Paris, Texas' is 3 tokens for "
                      "SmolLM2-135M-Instruct (Q4_1) ([' Paris', ',', ' Texas']), not one (name a single token, such "
                      "as its first piece ' Paris')"]


def test_check_and_the_bake_give_one_message_for_a_target_of_several_tokens(tmp_path, tiny_models, capsys,
                                                                               monkeypatch):
    """`check` reads the tokenizer file; the bake, with the file check out of the way, the loaded tokenizer."""
    (tmp_path / "llama").symlink_to(tiny_models["llama"])
    page = block("text: The cat sat on the", "views: [editing]", "interventions: {target: ' mat, then'}"
                 ).replace("smollm2", "llama")
    root = project(tmp_path, page)
    status, errors = check(root, capsys)
    assert status == 1 and len(errors) == 1 and "' mat, then' is " in errors[0] and "not one" in errors[0]
    assert _bake_error(page, tmp_path, monkeypatch) == errors[0]


def _bake_error(page: str, tmp_path: Path, monkeypatch) -> str:
    """The error the bake itself gives for the page's one block, its file-only pre-check switched off (so the
    message is the bake's own, not the pre-check's), as `check` prints it."""
    from generator import precheck
    from generator.bake import Baker

    monkeypatch.setattr(precheck, "check_against_files", lambda *args, **kwargs: None)
    body = "\n".join(page.splitlines()[3:-1]) + "\n"
    spec = spec_from_block(body, file="docs/index.md", line_offset=3, catalogue=Catalogue({}))
    with pytest.raises(SpecError) as caught:
        Baker(tmp_path / "cache", base_dir=tmp_path).payload(spec)
    return f"error: {caught.value}"


def test_check_refuses_cuda_on_a_machine_without_it_as_the_bake_does(tmp_path, tiny_models, capsys, monkeypatch):
    """`check` answers from files (torch not imported: `precision.cuda_present`, `precision.torch_build`); the bake
    from torch itself (`torch.cuda.is_available()`, torch.version.cuda)."""
    import sys

    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a usable GPU")
    (tmp_path / "gpt2").symlink_to(tiny_models["gpt2"])
    page = block("text: The cat sat on the", "device: cuda").replace("smollm2", "gpt2")
    root = project(tmp_path, page)
    with monkeypatch.context() as without_torch:
        without_torch.delitem(sys.modules, "torch")
        status, errors = check(root, capsys)
        assert "torch" not in sys.modules
    assert status == 1 and len(errors) == 1, errors
    assert errors[0].startswith("error: docs/index.md:6: field 'device': cuda was asked for, but this machine has no "
                                "usable CUDA GPU")
    if torch.version.cuda is None:
        assert f"(and torch {torch.__version__} was built without CUDA)" in errors[0]
    assert _bake_error(page, tmp_path, monkeypatch) == errors[0]


# -- 3. a missing ']' on the block's last line -----------------------------------------------------------------------

@pytest.mark.parametrize("last, field, closing, kind", [
    ("views: [head, model", "views", "]", "list"),
    ("views: [head, model  ", "views", "]", "list"),
    ("lens: {top_k: 3", "lens", "}", "mapping"),
])
def test_a_missing_bracket_on_the_last_line_of_a_block_is_the_missing_bracket(tmp_path, capsys, last, field, closing,
                                                                              kind):
    """Before: "a ',' is missing between two entries": a block's body ends without a line break, so PyYAML met the
    text's end on the opening line itself."""
    status, errors = check(project(tmp_path, block("text: The cat sat.", last)), capsys)
    assert status == 1
    assert errors == [f"error: docs/index.md:6: field '{field}': YAML syntax error: missing '{closing}': the {kind} "
                      f"opened with '{closing.replace(']', '[').replace('}', '{')}' on this line is not closed (YAML "
                      f"read on to the end of the text looking for it) (add '{closing}' at the end of this line)"]
    status, errors = check(project(tmp_path, block("text: The cat sat.", last.rstrip() + closing)), capsys)
    assert status == 0 and errors == []


def test_two_entries_without_a_comma_on_the_last_line_stay_a_missing_comma(tmp_path, capsys):
    status, errors = check(project(tmp_path, block("text: The cat sat.", "pair: ['The cat.' 'The dog.']")), capsys)
    assert status == 1 and len(errors) == 1
    assert errors[0].startswith("error: docs/index.md:6: YAML syntax error: a ',' is missing between two entries")


# -- 4. a misspelt fence name ----------------------------------------------------------------------------------------

MISNAMED = ["Explorable", "EXPLORABLE", "explorables", "explorabel", "exploreable", "{.Explorable}",
            "explorable title=A figure"]


@pytest.mark.parametrize("info", MISNAMED)
def test_a_near_miss_of_the_fence_name_is_a_placed_error_in_check(tmp_path, capsys, info):
    """Before: a code block, and `check` said 'all valid'."""
    page = f"# Page\n\n```{info}\nmodel: smollm2\ntext: The cat sat.\n```\n\nText.\n\n```yaml\na: 1\n```\n"
    status, errors = check(project(tmp_path, page), capsys)
    assert status == 1 and len(errors) == 1, errors
    assert errors[0].startswith("error: docs/index.md:3: ")
    if info.startswith("explorable "):
        assert "holds more than its name ('explorable title=A figure')" in errors[0]
        assert "write the opening line as ```explorable alone" in errors[0]
    else:
        assert f"this code block is named '{info}', not 'explorable'" in errors[0]
        assert "did you mean ```explorable?" in errors[0]


@pytest.mark.parametrize("info", ["yaml", "python", "text", "", "json", "explore", "markdown", "{.yaml}", "console",
                                  "exploration", "plaintext"])
def test_ordinary_code_blocks_stay_code(tmp_path, capsys, info):
    from generator.fences import _distance, near_miss

    assert _distance(info.lower(), "explorable") > 2 or not info     # the rule's threshold, checked on its own
    assert not near_miss(info)
    page = f"# Page\n\n```{info}\nmodel: smollm2\ntext: The cat sat.\n```\n"
    status, errors = check(project(tmp_path, page), capsys)
    assert (status, errors) == (0, [])


def test_edit_distance_against_hand_counted_cases():
    from generator.fences import _distance

    assert [_distance(a, b) for a, b in [("explorabel", "explorable"), ("explorables", "explorable"),
                                          ("exploreable", "explorable"), ("kitten", "sitting"), ("", "abc"),
                                          ("abc", "abc"), ("flaw", "lawn")]] == [2, 1, 1, 3, 3, 0, 2]


def test_a_misnamed_block_inside_another_code_block_stays_an_example(tmp_path, capsys):
    page = "# Page\n\n````markdown\n```Explorable\nmodel: smollm2\n```\n````\n"
    status, errors = check(project(tmp_path, page), capsys)
    assert (status, errors) == (0, [])


def test_a_strict_build_fails_on_a_misnamed_fence_and_the_page_shows_the_error(tmp_path):
    from conftest import build_in_process

    root = project(tmp_path, "# Page\n\nBefore.\n\n~~~explorables\nmodel: smollm2\ntext: The cat sat.\n~~~\n\n"
                             "```python\nprint('kept')\n```\n")
    config = root / "mkdocs.yml"
    config.write_text("site_name: T\nplugins:\n  - explorables\nmarkdown_extensions:\n  - pymdownx.superfences\n",
                      encoding="utf-8")
    result = build_in_process(config, strict=True)
    assert result.returncode == 1
    assert ("WARNING explorables: docs/index.md:5: this code block is named 'explorables', not 'explorable', so the "
            "page would show its YAML as code, not the figure: did you mean ~~~explorable?") in result.stderr
    lax = build_in_process(config, strict=False, site_dir=tmp_path / "lax")
    assert lax.returncode == 0
    html = (tmp_path / "lax" / "index.html").read_text(encoding="utf-8")
    assert "explorable--error" in html and "did you mean ~~~explorable?" in html
    assert "model: smollm2" not in html and "print" in html       # not shown as code; the python block is


# -- 5. pasted spaces and full-width colons ---------------------------------------------------------------------------

@pytest.mark.parametrize("space, named", [("\u00a0", "a non-breaking space (U+00A0)"),
                                          ("\u3000", "an ideographic space (U+3000)"),
                                          ("\u202f", "a narrow non-breaking space (U+202F)")])
def test_a_line_indented_with_a_pasted_space_says_which_space(space, named):
    """Before: "field '\u00a0\u00a0ig_steps': unknown field" (YAML reads the space as part of the key)."""
    errors = refused(f"model: smollm2\ntext: The cat sat.\nsaliency:\n{space * 2}ig_steps: 4\n"
                     f"{space * 2}methods: [gradient]\n")
    assert [(error.line, error.field) for error in errors] == [(14, "saliency.ig_steps"), (15, "saliency.methods")]
    assert errors[0].message == f"this line is indented with {named}, which YAML reads as part of the name after " \
                                "it, not as indentation"
    assert errors[0].hint.startswith("indent with ordinary spaces")
    spec_from_block(f"model: smollm2\ntext: The cat sat.\nsaliency:\n  ig_steps: 4\n", file="docs/a.md",
                    line_offset=10, catalogue=Catalogue({}))        # the same block with spaces reads


def test_a_non_breaking_space_inside_a_text_is_kept():
    spec = spec_from_block("model: smollm2\ntext: The\u00a0cat sat.\ntitle: |\n  A\n  \u00a0figure\n", file="a.md",
                           line_offset=0, catalogue=Catalogue({}))
    assert spec.text == "The\u00a0cat sat." and spec.title == "A\n\u00a0figure\n"


@pytest.mark.parametrize("body, line, field", [
    ("model： smollm2\ntext: The cat sat.\n", 11, "model"),           # before: at line 12, "mapping values ..."
    ("model: smollm2\ntext： The cat sat.\nviews: [head]\n", 12, "text"),
    ("model: smollm2\ntext: The cat sat.\nlens:\n  top_k： 3\nviews: [layers]\n", 14, "lens.top_k"),
    ("model: smollm2\ntext: The cat sat.\nviews： [head]", 13, "views"),  # the block's last line
])
def test_a_full_width_colon_is_named_on_its_own_line(body, line, field):
    [error] = refused(body)
    key = field.rsplit(".", 1)[-1]
    assert (error.line, error.field) == (line, field)
    assert error.message == f"'{key}' is followed by a full-width colon '：' (U+FF1A), which YAML does not read as ':'"
    assert error.hint == f"type an ordinary ':' and a space after '{key}'"
    spec_from_block(body.replace("：", ":"), file="docs/a.md", line_offset=10, catalogue=Catalogue({}))   # reads


def test_a_full_width_colon_inside_a_text_is_kept():
    spec = spec_from_block("model: smollm2\ntext: 注意：猫坐着。\n", file="a.md", line_offset=0, catalogue=Catalogue({}))
    assert spec.text == "注意：猫坐着。"


# -- 6. a colon in an unquoted value, a number or yes/no where text goes ----------------------------------------------

@pytest.mark.parametrize("body, line, field, quoted", [
    ("model: smollm2\ntext: Note: something\n", 12, "text", 'text: "Note: something"'),
    ("model: smollm2\ntext: The cat.\ntitle: Ratio 3:1, and a: b\n", 13, "title", 'title: "Ratio 3:1, and a: b"'),
    ('model: smollm2\ntext: a "b": c\n', 12, "text", 'text: "a \\"b\\": c"'),
])
def test_an_unquoted_colon_in_a_value_names_the_field_and_says_to_quote_it(body, line, field, quoted):
    """Before: "YAML syntax error: mapping values are not allowed here", no field."""
    [error] = refused(body)
    assert (error.line, error.field) == (line, field)
    assert error.message == "this value holds ': ', which YAML reads as the start of another field, not as text"
    assert error.hint == f"quote the value: {quoted}"
    fixed = body.splitlines()
    fixed[line - 11] = quoted
    spec_from_block("\n".join(fixed) + "\n", file="docs/a.md", line_offset=10, catalogue=Catalogue({}))   # reads


@pytest.mark.parametrize("value, message", [
    ("42", 'this should be text, not 42, which YAML reads as a number: quote it, as in "42"'),
    ("4.50", "this should be text, not 4.5, which YAML reads as a number: quote it, as written"),
    ("yes", "this should be text, and YAML reads an unquoted true/false, yes/no or on/off as a yes/no value: "
            "quote it"),
])
def test_a_number_or_yes_where_text_goes_says_to_quote_it(value, message):
    [error] = refused(f"model: smollm2\ntext: {value}\n")
    assert (error.line, error.field, error.message) == (12, "text", message)
    [error] = refused(f"model: minilm\npair: [A cat., {value}]\n")
    entry = "pair" if value == "yes" else "pair.1"           # a yes/no is refused before the list is read
    assert (error.line, error.field, error.message) == (12, entry, message)
    spec = spec_from_block(f'model: smollm2\ntext: "{value}"\n', file="a.md", line_offset=0, catalogue=Catalogue({}))
    assert spec.text == value


def test_yes_for_a_number_still_says_to_write_the_number():
    [error] = refused("model: smollm2\ntext: The cat.\nmax_tokens: yes\n")
    assert error.field == "max_tokens" and error.message.endswith("write the number itself")
