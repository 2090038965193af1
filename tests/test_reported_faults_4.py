"""Faults the third new-user trial left (`explorables check` and block errors): each test failed before its fix. An
unknown hub id that took ~25 s of network retries, a missing ']' reported lines below, a misspelt required field
reported twice, and errors printed out of line order."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import time
from pathlib import Path

import pytest
from test_reported_faults_5 import check, project, refused

from generator.cli import main
from generator.spec import Catalogue, spec_from_block




# -- 1. an unknown hub id, the hub out of reach ------------------------------------------------------------------------

class _Hub(http.server.BaseHTTPRequestHandler):
    """A stand-in for the Hugging Face hub's file endpoint (`/{owner}/{name}/resolve/{revision}/{file}`): serves the
    files of `repos` ({repo id: folder}) with the headers huggingface_hub reads (X-Repo-Commit, ETag,
    Content-Length); any other repository is a 404 with the hub's X-Error-Code RepoNotFound."""

    repos: dict[str, Path] = {}
    asked: list[str] = []

    def _answer(self, body: bool) -> None:
        self.asked.append(f"{self.command} {self.path}")
        parts = self.path.split("?")[0].strip("/").split("/")
        repo, filename = "/".join(parts[:2]), "/".join(parts[4:])
        folder = self.repos.get(repo)
        if folder is None or parts[2:3] != ["resolve"]:
            self.send_response(404)
            self.send_header("X-Error-Code", "RepoNotFound")
            self.send_header("X-Error-Message", "Repository not found")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not (folder / filename).is_file():
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = (folder / filename).read_bytes()
        self.send_response(200)
        self.send_header("X-Repo-Commit", "0" * 40)
        self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's names)
        self._answer(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(body=True)

    def log_message(self, *args) -> None:
        pass


def _use_endpoint(monkeypatch, tmp_path: Path, endpoint: str) -> None:
    """Point huggingface_hub at `endpoint` with an empty cache and offline mode off (the test session sets
    HF_HUB_OFFLINE=1; huggingface_hub reads these settings once, on import)."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("HF_HUB_ETAG_TIMEOUT", raising=False)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hub.repos, _Hub.asked = {}, []
    _use_endpoint(monkeypatch, tmp_path, f"http://127.0.0.1:{server.server_address[1]}")
    yield _Hub
    server.shutdown()
    server.server_close()


def _unreachable_hub_page(tmp_path: Path, monkeypatch) -> Path:
    """A project whose one block names an unknown hub id, with the hub on a loopback port nobody listens on
    (connections refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]           # closed again: connections are refused
    _use_endpoint(monkeypatch, tmp_path, f"http://127.0.0.1:{port}")
    return project(tmp_path / "site", """\
        # Page

        ```explorable
        model: someone/no-such-model
        text: The cat sat on the mat.
        ```
        """)


def _no_waiting(monkeypatch) -> list[float]:
    """Every wait of a second or more asked of time.sleep from now on (huggingface_hub's retries back off with it),
    recorded and not slept: a fail-at-once path asks for none (no timed assertion)."""
    waits: list[float] = []
    real = time.sleep

    def sleep(seconds: float) -> None:
        if seconds >= 1:
            waits.append(seconds)
        else:
            real(seconds)
    monkeypatch.setattr(time, "sleep", sleep)
    return waits


def test_an_unknown_hub_id_fails_at_once_when_the_hub_cannot_be_reached(tmp_path, monkeypatch, capsys):
    """The trial: ~25 s of retries (huggingface_hub waits 1, 2, 4, 8 and 8 s) before the error. A port nobody
    listens on refuses at once, as the trial's unresolvable host did."""
    root = _unreachable_hub_page(tmp_path, monkeypatch)
    waits = _no_waiting(monkeypatch)
    status, errors = check(root, capsys)
    assert status == 1 and waits == [], waits          # the retries wait 1, 2, 4, 8 and 8 s
    [error] = errors
    assert error.startswith("error: docs/index.md:4: field 'model': model 'someone/no-such-model' is not in the "
                            "local Hugging Face cache, and the hub cannot be reached")
    assert "`hf download someone/no-such-model`" in error and "set HF_HUB_OFFLINE=1" in error


def test_the_bake_stops_at_once_too(tmp_path, monkeypatch, capsys):
    """The bake's rule check let an unreadable model through to its load (which may download it), and the load
    retried the hub for ~25 s before the same error: a hub model that is not cached and not given now stops there."""
    root = _unreachable_hub_page(tmp_path, monkeypatch)
    waits = _no_waiting(monkeypatch)
    status = main(["--root", str(root), "bake"])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert status == 1 and waits == [], waits          # the load's retries wait 1, 2, 4, 8 and 8 s
    [error] = errors
    assert error.startswith("error: docs/index.md:4: field 'model': model 'someone/no-such-model' is not in the "
                            "local Hugging Face cache, and the hub cannot be reached")


def test_the_hub_saying_no_such_model_is_said_once_asked(tmp_path, hub, capsys):
    root = project(tmp_path / "site", """\
        # Page

        ```explorable
        model: someone/no-such-model
        text: The cat sat on the mat.
        ```
        """)
    status, [error] = check(root, capsys)
    assert status == 1
    assert error.startswith("error: docs/index.md:4: field 'model': model 'someone/no-such-model': the Hugging Face "
                            "hub has no model 'someone/no-such-model'")
    assert "check the id's spelling" in error
    assert hub.asked == ["HEAD /someone/no-such-model/resolve/main/config.json"]      # once: no retries


def test_a_hub_model_the_hub_has_is_still_fetched_and_checked(tmp_path, hub, tiny_models, capsys):
    """The existence question comes before the download, which goes on as before: config.json and tokenizer.json
    fetched into the cache, and the block checked against them (the tiny GPT-2 reads 128 positions: from its
    config.json, as served)."""
    hub.repos["someone/tiny-gpt2"] = tiny_models["gpt2"]
    root = project(tmp_path / "site", """\
        # Page

        ```explorable
        model: someone/tiny-gpt2
        text: The cat sat on the mat.
        ```

        ```explorable
        model: someone/tiny-gpt2
        text: The cat sat on the mat.
        max_tokens: 3
        ```
        """)
    status, errors = check(root, capsys)
    assert status == 1 and len(errors) == 1
    assert errors[0].startswith("error: docs/index.md:10: field 'text': ") and "up to 128 for " in errors[0]
    assert (tmp_path / "hf-cache" / "models--someone--tiny-gpt2").is_dir()
    assert any(ask.startswith("GET /someone/tiny-gpt2/resolve/main/tokenizer.json") for ask in hub.asked)


# -- 2. a flow list without its ']' ----------------------------------------------------------------------------------

@pytest.mark.parametrize("body, line, field, closing", [
    ("model: smollm2\nviews: [head, model\ntext: The cat sat.\n", 12, "views", "]"),
    ("model: smollm2\ntext: The cat sat.\nviews: [head, model\n", 13, "views", "]"),      # the block's last line
    ("model: smollm2\ntext: The cat sat.\nlens: {top_k: 3\nviews: [layers]\n", 13, "lens", "}"),
    ("model: smollm2\ntext: The cat sat.\nlens:\n  watch: [' is', ' a'\nviews: [ranks]\n", 14, "lens.watch", "]"),
])
def test_a_missing_closing_bracket_is_placed_on_the_line_that_opens_the_list(body, line, field, closing):
    """Before: 'expected ',' or ']', but got ':'' on the next field's line (or the block's end)."""
    [error] = refused(body)
    assert (error.file, error.line, error.field) == ("docs/a.md", line, field)
    assert error.message.startswith(f"YAML syntax error: missing '{closing}'")
    assert error.hint == f"add '{closing}' at the end of this line"
    fixed = body.splitlines()
    fixed[line - 11] += closing
    spec_from_block("\n".join(fixed) + "\n", file="docs/a.md", line_offset=10, catalogue=Catalogue({}))  # reads


def test_a_list_over_several_lines_without_its_bracket_and_two_entries_without_a_comma():
    [error] = refused("model: smollm2\nviews: [head,\n  model\ntext: The cat sat.\n")
    assert error.line == 12 and "missing ']'" in error.message and "2 lines below" in error.message
    assert error.hint == "add ']' after the list's last entry"
    [error] = refused("model: smollm2\npair: ['The cat.' 'The dog.']\n")
    assert error.line == 12 and "a ',' is missing between two entries of this list" in error.message


def test_another_unclosed_part_is_placed_relative_to_the_block_not_its_first_line():
    """The context of an unclosed quote said 'starts on line 2': line 2 of the block, not of the page."""
    [error] = refused('model: smollm2\ntext: "The cat\n\nviews: [head]\n')
    assert error.line == 15 and "starts 3 lines above" in error.message


# -- 3. a misspelt required field ------------------------------------------------------------------------------------

def test_a_misspelt_required_field_is_one_error_at_the_misspelling():
    [error] = refused("text: The cat sat.\nmodle: smollm2\n")
    assert (error.line, error.field) == (12, "modle")
    assert error.message == "unknown field: did you mean 'model'?"
    assert error.hint == "'model' is required and not given: rename 'modle' to 'model'"


def test_a_missing_required_field_and_an_unrelated_unknown_one_stay_two_errors():
    errors = refused("text: The cat sat.\ncolour: red\n")
    assert [(error.line, error.field, error.message) for error in errors] == [
        (11, "model", "this field is required"), (12, "colour", "unknown field")]
    [error] = refused("text: The cat sat.\nmodel: smollm2\nmodle: smollm2\n")    # both: the typo is only unknown
    assert (error.field, error.message, error.hint) == ("modle", "unknown field", "did you mean 'model'?")


# -- 4. errors in line order -----------------------------------------------------------------------------------------

def test_check_prints_the_errors_of_a_page_in_line_order(tmp_path, capsys):
    """The model's rules are checked after every block is read: their errors came after the schema's."""
    root = project(tmp_path / "site", """\
        # Page

        ```explorable
        model: smollm2
        text: The cat sat on the mat and looked at the dog.
        max_tokens: 3
        ```

        ```explorable
        model: smollm2
        text: The cat sat.
        views: [hed]
        ```

        ```explorable
        modle: smollm2
        text: The cat sat.
        ```
        """)
    (root / "explorables" / "a.yml").write_text(
        "- id: long\n  model: smollm2\n  text: The cat sat on the mat and looked.\n  max_tokens: 2\n"
        "- id: views\n  model: smollm2\n  text: The cat.\n  views: [modle]\n", encoding="utf-8")
    status, errors = check(root, capsys)
    places = [error.split(": ")[1] for error in errors]
    assert status == 1 and places == ["docs/index.md:5", "docs/index.md:12", "docs/index.md:16",
                                      "explorables/a.yml:3", "explorables/a.yml:8"], errors


# -- 5. a model's facts from its weights cache entry -----------------------------------------------------------------

def test_smollm2s_facts_come_from_its_weights_cache_entry_and_a_damaged_one_is_not_trusted(loaded_bundled, tmp_path,
                                                                                          monkeypatch):
    """Reading SmolLM2's GGUF metadata took 2-4 s of CPU before a process's first bake or check; its de-quantised
    entry holds the config and the tokenizer transformers made from the same file. Facts from the entry and from the
    GGUF file agree with the loaded model on every curated text. The entry is a copy in this test's own cache (the
    weights linked, not copied), so damaging it leaves the user's cache alone."""
    import shutil

    import yaml

    from generator.models import facts, weights_cache
    from generator.models.registry import resolve

    loaded = loaded_bundled("smollm2")          # its load leaves a whole entry in the cache
    source = resolve("smollm2")
    real = weights_cache.find(source, checksums=False)
    assert real is not None
    copy = tmp_path / "models" / real.name
    copy.mkdir(parents=True)
    for path in real.iterdir():
        if path.name == weights_cache.WEIGHTS:
            (copy / path.name).symlink_to(path)
        else:
            shutil.copy(path, copy / path.name)
    monkeypatch.setenv(weights_cache.ENV, str(tmp_path / "models"))
    assert weights_cache.entry_folder(source) == copy
    gguf_reads, read_gguf = [], facts._gguf
    monkeypatch.setattr(facts, "_gguf", lambda path: gguf_reads.append(path) or read_gguf(path))
    facts._facts.cache_clear()
    try:
        from_entry = facts.model_facts(source)
        assert gguf_reads == []
        tokenizer = copy / "tokenizer.json"
        tokenizer.write_text(tokenizer.read_text(encoding="utf-8").replace('"Ġthe"', '"Ġtha"', 1), encoding="utf-8")
        facts._facts.cache_clear()
        from_gguf = facts.model_facts(source)
        assert len(gguf_reads) == 1 and not copy.exists() and (real / weights_cache.WEIGHTS).is_file()
    finally:
        facts._facts.cache_clear()
    texts = [item["text"] for path in sorted((Path(__file__).parent.parent / "explorables").glob("*.yml"))
             for item in yaml.safe_load(path.read_text(encoding="utf-8")) if item.get("text")]
    texts += ["<|im_start|>user\nhi<|im_end|>", "我爱北京天安门 🙂", "  two  spaces\n\ttab"]
    assert len(texts) > 20
    for text in texts:
        ids = loaded.tokenizer(text)["input_ids"]
        assert from_entry.tokenizer.encode(text).ids == ids == from_gguf.tokenizer.encode(text).ids, text
    for entry in (" pizza🍕", " naïve", " is", "<|im_end|>"):
        assert from_entry.info.pieces(entry) == from_gguf.info.pieces(entry) == loaded.info.pieces(entry), entry
    assert from_entry.info == from_gguf.info == loaded.info
    assert (from_entry.max_positions, from_entry.can_read_pairs) == (from_gguf.max_positions, from_gguf.can_read_pairs)
