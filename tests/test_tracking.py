"""`explorables log` against real trackers: an MLflow tracking server started here on 127.0.0.1 (SQLite backend,
temporary artifact root), read back through MLflow's client API; MLflow's default local store; Comet's offline
archive, read back as a zip, with no network touched. Bad input: an unreachable URI, a run failing half-way, a
tracker library that is not installed."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tiny_project import cli, tiny_project  # noqa: F401 (a fixture)

pytest.importorskip("mlflow", reason="the tracking extra is installed by scripts/setup --test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """`mlflow server` on 127.0.0.1 (SQLite backend store, temporary artifact root), started at once; `uri` waits
    until it answers, so the server boots while a test's other fixtures (the tiny project's bake) run."""

    def __init__(self, root: Path):
        self.root = root
        port = free_port()
        self.address = f"http://127.0.0.1:{port}"
        self.log = (root / "server.log").open("w")
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no background job workers
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--default-artifact-root",
             str(root / "artifacts")],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=root, env=env, start_new_session=True)
        self.up = False

    @property
    def uri(self) -> str:
        deadline = time.monotonic() + 300
        while not self.up:
            try:
                with urllib.request.urlopen(self.address + "/health", timeout=2) as response:
                    self.up = response.status == 200
            except OSError:
                assert self.process.poll() is None, (self.root / "server.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the MLflow server did not answer within 300 s"
                time.sleep(0.5)
        return self.address

    def stop(self) -> None:
        """Stop the server's whole process group (it and its uvicorn worker): TERM, then KILL after 15 s."""
        for signal_number, wait in ((15, 15), (9, 15)):
            try:
                os.killpg(self.process.pid, signal_number)
                self.process.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        self.log.close()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """One real MLflow tracking server per test session."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    try:
        yield server
    finally:
        server.stop()


def client(uri: str):
    from mlflow.tracking import MlflowClient
    return MlflowClient(tracking_uri=uri)


def runs_of(uri: str, experiment: str, deleted: bool = False) -> list:
    from mlflow.entities import ViewType
    found = client(uri).get_experiment_by_name(experiment)
    if found is None:
        return []
    return client(uri).search_runs([found.experiment_id],
                                   run_view_type=ViewType.ALL if deleted else ViewType.ACTIVE_ONLY)


def baked(root: Path, spec_id: str):
    """(spec, payload bytes, cache key, cache) of a curated spec, read through the project's warm cache."""
    from generator.bake import Baker
    from generator.spec import Catalogue
    spec = Catalogue.load(root / "explorables").specs[spec_id]
    baker = Baker(root / ".cache/explorables", base_dir=root)
    return spec, baker.payload(spec), baker.key(spec), baker


def cache_state(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / ".cache").rglob("*")) if p.is_file()}


def test_mlflow_run_holds_params_metrics_tags_and_the_baked_bytes(mlflow_server, tiny_project, tmp_path):
    uri = mlflow_server.uri
    result = cli(tiny_project, "log", "--tracker", "mlflow", "--tracking-uri", uri,
                 "--experiment", "explorables-test", "tiny-all", "tiny-pair", "--png", "yes", isolated=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "TORCH_IMPORTED=False" in result.stdout
    runs = {run.data.tags["explorables.id"]: run for run in runs_of(uri, "explorables-test")}
    assert sorted(runs) == ["tiny-all", "tiny-pair"]

    spec, payload, key, baker = baked(tiny_project, "tiny-all")
    document = json.loads(payload)
    run = runs["tiny-all"]
    assert run.info.status == "FINISHED" and run.info.run_name == "tiny-all"
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["model"] == spec.model and params["generate"] == "2"
    assert params["text_sha256"] == hashlib.sha256(b"One two three four five six seven eight.").hexdigest()
    assert params["model_fingerprint"] == baker.source(spec).fingerprint()
    assert params["factors_counts"] == "2,3" and params["saliency_target"] == "logit"
    assert params["views"] == "head,model,saliency,factors"
    assert tags["explorables.cache_key"] == key and tags["explorables.source"].endswith("tiny.yml")
    assert metrics["payload_bytes"] == len(payload)
    assert metrics["payload_gzip_bytes"] == len(gzip.compress(payload, 9, mtime=0))
    assert metrics["tokens"] == len(document["tokens"])
    for nmf in document["factors"]["runs"]:
        assert metrics[f"nmf_error_k{nmf['count']}"] == pytest.approx(nmf["error"])
        assert metrics[f"nmf_iterations_k{nmf['count']}"] == nmf["iterations"]
    gaps = [gap for gap in document["saliency"]["ig_gap"] if gap is not None]
    assert metrics["saliency_ig_gap_max"] == pytest.approx(max(gaps))
    assert metrics["bake_seconds"] > 0, "the fixture's bake recorded its time in the cache"
    pair = runs["tiny-pair"].data.metrics
    assert pair["saliency_similarity"] == pytest.approx(json.loads(baked(tiny_project, "tiny-pair")[1])
                                                        ["saliency"]["similarity"])

    folder = Path(client(uri).download_artifacts(run.info.run_id, "", str(tmp_path)))
    assert (folder / "tiny-all.json").read_bytes() == payload
    exported = cli(tiny_project, "export", "tiny-all", "--out", str(tmp_path / "export"))
    assert exported.returncode == 0
    assert (folder / "tiny-all.html").read_bytes() == (tmp_path / "export" / "tiny-all.html").read_bytes()
    pngs = sorted(path.name for path in folder.glob("*.png"))
    assert len(pngs) == 4 and all(name.startswith("tiny-all-") for name in pngs), pngs
    assert all((folder / name).read_bytes()[:4] == b"\x89PNG" for name in pngs)


def test_logging_the_same_bake_twice_keeps_one_run(mlflow_server, tiny_project):
    uri = mlflow_server.uri
    for attempt in range(2):
        result = cli(tiny_project, "log", "--tracker", "mlflow", "--tracking-uri", uri,
                     "--experiment", "twice", "tiny-pair", "--png", "no")
        assert result.returncode == 0, result.stderr[-2000:]
    assert "already logged" in result.stdout
    assert len(runs_of(uri, "twice", deleted=True)) == 1


def test_default_local_store(tiny_project, tmp_path):
    """Without --tracking-uri: MLflow's own default store in the working folder, as MLflow users expect."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    code = ("import sys\nfrom generator.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    result = subprocess.run([sys.executable, "-c", code, "--root", str(tiny_project), "log", "--tracker", "mlflow",
                             "--png", "no", "tiny-pair"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            env={**env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert result.returncode == 0, result.stderr[-2000:]
    store = tmp_path / "mlflow.db"
    assert store.exists(), sorted(p.name for p in tmp_path.iterdir())
    [run] = runs_of(f"sqlite:///{store}", "explorables")
    assert run.data.tags["explorables.id"] == "tiny-pair"
    assert run.data.metrics["payload_bytes"] == len(baked(tiny_project, "tiny-pair")[1])


def test_unreachable_tracking_uri_is_named_and_nothing_changes(tiny_project):
    before = cache_state(tiny_project)
    dead = f"http://127.0.0.1:{free_port()}"
    result = cli(tiny_project, "log", "--tracker", "mlflow", "--tracking-uri", dead, "--png", "no", "tiny-all")
    assert result.returncode == 1
    assert f"cannot reach the MLflow tracking server at {dead}" in result.stderr
    assert cache_state(tiny_project) == before


def test_a_run_failing_half_way_is_ended_and_deleted(mlflow_server, tiny_project, monkeypatch):
    uri = mlflow_server.uri
    from mlflow.tracking import MlflowClient

    from generator.tracking import TrackerError
    from generator.tracking.command import log_specs

    def broken(self, run_id, local_dir, artifact_path=None):
        raise OSError("disk full (injected)")
    monkeypatch.setattr(MlflowClient, "log_artifacts", broken)
    spec, payload, key, baker = baked(tiny_project, "tiny-pair")
    with pytest.raises(TrackerError, match=f"{uri} failed .*disk full.*ended as FAILED and deleted"):
        log_specs([(spec, payload)], baker, tracker="mlflow", tracking_uri=uri, experiment="half-way",
                  png="no")
    [run] = runs_of(uri, "half-way", deleted=True)
    assert run.info.status == "FAILED" and run.info.lifecycle_stage == "deleted"
    assert runs_of(uri, "half-way") == []
    # a later good attempt is not mistaken for "already logged"
    monkeypatch.undo()
    [line] = log_specs([(spec, payload)], baker, tracker="mlflow", tracking_uri=uri,
                       experiment="half-way", png="no")
    assert "logged as" in line and len(runs_of(uri, "half-way")) == 1


def test_a_missing_tracker_library_names_the_extra(monkeypatch, tiny_project):
    from generator.tracking import TrackerError
    from generator.tracking.command import send
    monkeypatch.setitem(sys.modules, "comet_ml", None)   # import comet_ml now raises ImportError
    with pytest.raises(TrackerError, match=r"pip install 'explorables\[tracking\]'"):
        send([], tracker="comet")


def test_comet_offline_archive_holds_the_page_and_the_payload_without_network(tiny_project, tmp_path, monkeypatch):
    import random

    from generator.tracking.command import log_specs

    assert "comet_ml" not in sys.modules, "imported here first, so the settings comet.py makes apply"
    # comet_ml turns on its vendor's error reporting (network) in half of all imports, by a coin toss at import
    # time: make the coin land on "on", so the test sees the request if comet.py did not switch it off.
    monkeypatch.setattr(random, "random", lambda: 0.99)
    for name in ("COMET_API_KEY", "COMET_ERROR_TRACKING_ENABLE", "COMET_DISABLE_AUTO_LOGGING"):
        monkeypatch.delenv(name, raising=False)
    contacts: list = []

    def audit(event, args):
        if event in ("socket.connect", "socket.sendto"):
            address = args[1]
            contacts.append(address[0] if isinstance(address, tuple) else "unix socket")
        elif event == "socket.getaddrinfo":
            contacts.append(args[0])
    sys.addaudithook(audit)   # (audit hooks cannot be removed; it only appends to this test's list)
    spec, payload, key, baker = baked(tiny_project, "tiny-pair")
    [line] = log_specs([(spec, payload)], baker, tracker="comet", experiment="tiny", offline_dir=str(tmp_path),
                       png="no")
    recorded, contacts[:] = list(contacts), []
    archive = Path(line.split(": ", 1)[1])
    assert archive.parent == tmp_path and archive.suffix == ".zip" and archive.exists()
    with zipfile.ZipFile(archive) as zipped:
        contents = {name: zipped.read(name) for name in zipped.namelist()}
    exported = cli(tiny_project, "export", "tiny-pair", "--out", str(tmp_path / "export"))
    assert exported.returncode == 0
    page = (tmp_path / "export" / "tiny-pair.html").read_bytes()
    assert payload in contents.values(), sorted(contents)
    assert page in contents.values(), sorted(contents)
    messages = b"".join(data for name, data in contents.items() if name.endswith(".json"))
    assert b"tiny-pair" in messages and b"text_sha256" in messages
    remote = [host for host in recorded if host not in ("unix socket", "localhost", "::1")
              and not str(host).startswith("127.")]
    assert remote == [], remote


def test_comet_finds_its_offline_archive_again_instead_of_writing_another(tiny_project, tmp_path, monkeypatch):
    """As MLflow finds a run by its cache key tag (issue 21.8): the archive of the same bake is found again by the
    cache key it holds; another project, or another bake, gets its own archive."""
    from generator.tracking.command import log_specs

    monkeypatch.delenv("COMET_API_KEY", raising=False)
    spec, payload, key, baker = baked(tiny_project, "tiny-pair")
    [first] = log_specs([(spec, payload)], baker, tracker="comet", experiment="tiny", offline_dir=str(tmp_path),
                        png="no")
    [again] = log_specs([(spec, payload)], baker, tracker="comet", experiment="tiny", offline_dir=str(tmp_path),
                        png="no")
    archive = first.split(": ", 1)[1]
    assert again == f"tiny-pair: already logged, archive {archive}", again
    assert [path.name for path in tmp_path.glob("*.zip")] == [Path(archive).name]
    other_spec, other_payload, _, _ = baked(tiny_project, "tiny-all")
    log_specs([(spec, payload), (other_spec, other_payload)], baker, tracker="comet", experiment="elsewhere",
              offline_dir=str(tmp_path), png="no")
    assert len(list(tmp_path.glob("*.zip"))) == 3


def test_the_plugin_logs_every_figure_of_a_build(mlflow_server, tiny_project, tmp_path):
    """plugins: - explorables: {log: {tracker: mlflow, ...}}: one run per figure, tagged with the page showing it."""
    from conftest import build_site

    uri = mlflow_server.uri
    config = tmp_path / "mkdocs.yml"
    config.write_text((tiny_project / "mkdocs.yml").read_text().replace(
        "  - explorables\n", "  - explorables:\n"
        f"      cache_dir: {tiny_project / '.cache/explorables'}\n"
        f"      explorables_dir: {tiny_project / 'explorables'}\n"
        f"      log: {{tracker: mlflow, tracking_uri: '{uri}', experiment: site-build, png: no}}\n")
        + f"docs_dir: {tiny_project / 'docs'}\n")
    build_site(config, tmp_path / "site")
    runs = runs_of(uri, "site-build")
    ids = sorted(run.data.tags["explorables.id"] for run in runs)
    assert len(ids) == 3 and ids[0].startswith("explorable-") and ids[1:] == ["tiny-all", "tiny-pair"]
    # the page showing each figure (as a path from mkdocs.yml's folder), not the curated file defining two of them
    page = Path(os.path.relpath(tiny_project / "docs" / "index.md", tmp_path)).as_posix()
    assert {run.data.tags["explorables.source"] for run in runs} == {page}
    assert sum(run.data.tags["explorables.defined_in"].endswith("tiny.yml") for run in runs) == 2
    build_site(config, tmp_path / "site")
    assert len(runs_of(uri, "site-build")) == 3, "a rebuild of the same bakes adds no run"


def test_the_plugin_refuses_an_unknown_log_option(tiny_project, tmp_path):
    import subprocess as sp
    config = tmp_path / "mkdocs.yml"
    config.write_text((tiny_project / "mkdocs.yml").read_text().replace(
        "  - explorables\n", "  - explorables:\n      log: {tracker: wandb}\n") + f"docs_dir: {tiny_project / 'docs'}\n")
    result = sp.run([sys.executable, "-m", "mkdocs", "build", "-f", str(config), "-d", str(tmp_path / "site")],
                    capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode != 0 and "'tracker' must be one of mlflow, comet, not 'wandb'" in result.stderr
