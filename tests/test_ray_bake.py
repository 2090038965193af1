"""`explorables bake --executor ray`: a Ray cluster started here on 127.0.0.1 (one node declaring 4 CPUs: worker
processes, each asking for the CPUs of its torch's BAKE_THREADS) bakes a small MiniLM site into an
S3-compatible store (moto) on 127.0.0.1; every payload is byte-identical to a serial local bake, and killing a
worker in the middle of the bake changes nothing. The planning (grouping by model, sharing workers) is tested without Ray.

The cluster test takes several minutes on this shared 2-core machine, so it is opt-in: marked `ray`, it runs when
EXPLORABLES_RAY_TESTS=1 (and Ray, moto and s3fs are installed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from s3_server import s3, s3_endpoint  # noqa: F401 (fixtures)

from generator.bake import BAKE_THREADS, Baker
from generator.distributed.plan import plan, rebuild, record
from generator.spec import spec_from_data

REPO = Path(__file__).resolve().parent.parent

SITE = """\
- id: m-head
  model: minilm
  text: The animal didn't cross the street because it was too tired.
  views: [head, model]
- id: m-pair
  model: minilm
  pair: ["Where did the cat sleep?", "The cat slept on the warm windowsill."]
  views: [head]
- id: m-saliency
  model: minilm
  pair: [A man is playing a guitar., Someone is performing music.]
  views: [saliency]
  saliency: {ig_steps: 16}
- id: m-neuron
  model: minilm
  pair: [The cat sat on the mat., A dog slept on the rug.]
  views: [neuron]
  neuron: {layers: 4, heads: 5, query: cat}
- id: m-factors
  model: minilm
  text: "Members of the European Union: Austria, Belgium, Bulgaria, Croatia, Cyprus"
  views: [factors]
  factors: {counts: [3]}
- id: m-short
  model: minilm
  text: A short sentence to read.
  views: [model]
"""

ray_tests = pytest.mark.skipif(os.environ.get("EXPLORABLES_RAY_TESTS") != "1",
                               reason="opt-in (several minutes here): set EXPLORABLES_RAY_TESTS=1")


def test_a_plan_groups_by_model_and_precision_and_shares_the_workers(tmp_path, tiny_models):
    specs = [spec_from_data({"model": str(tiny_models[name]), "text": f"text {i}", **extra}, file="t")
             for name, i, extra in [("gpt2", 1, {}), ("gpt2", 2, {}), ("gpt2", 3, {}), ("gpt2", 4, {}),
                                    ("llama", 5, {}), ("gpt2", 6, {"dtype": "bfloat16"}), ("gpt2", 1, {})]]
    baker = Baker(tmp_path)
    baker.payload(specs[1])                      # one already in the cache
    todo = plan(specs, baker, workers=4)
    assert todo.cached == [specs[1].where()]
    sizes = sorted((len(group.jobs), group.workers, group.dtype) for group in todo.groups)
    assert sizes == [(1, 1, "bfloat16"), (1, 1, "float32"), (3, 2, "float32")]
    assert todo.total == 6, "the repeated spec is baked once"
    again = rebuild(record(specs[0]))
    assert again.digest() == specs[0].digest() and baker.key(again) == baker.key(specs[0])


class _FakeRay:
    """The part of Ray's API `ray_bake._run` uses, run in order: a task finishes when `wait` is asked, first
    submitted first; each actor records the jobs it baked and whether it was killed."""

    def __init__(self):
        self.actors, self.tasks, self.needs = [], [], []

    def remote(self, **_options):
        ray = self

        class Actor:
            def __init__(self, *_args, **_kwargs):
                self.baked, self.killed = [], False
                ray.actors.append(self)
                actor = self

                class Bake:
                    @staticmethod
                    def remote(key, _record):
                        assert not actor.killed, "a task for a killed actor"
                        ref = (actor, key)
                        ray.tasks.append(ref)
                        return ref
                self.bake = Bake

        class Handle:
            @staticmethod
            def options(**needs):
                ray.needs.append(needs)
                return Handle

            @staticmethod
            def remote(*args, **kwargs):
                return Actor(*args, **kwargs)
        return lambda _cls: Handle

    def wait(self, refs, num_returns=1):
        first = next(ref for ref in self.tasks if ref in refs)
        self.tasks.remove(first)
        return [first], [ref for ref in refs if ref != first]

    def get(self, ref):
        actor, key = ref
        actor.baked.append(key)
        return {"key": key}

    def kill(self, actor):
        actor.killed = True


def test_a_core_freed_by_a_finished_group_goes_to_the_group_with_the_most_jobs_left(tmp_path, tiny_models):
    """Two workers, two models: the small group's actor ends after its one spec and an actor for the large group
    takes its core, so the large group's five specs are shared by two actors (each baked once)."""
    from generator.distributed.ray_bake import _run

    specs = [spec_from_data({"model": str(tiny_models["gpt2"]), "text": f"text {i}"}, file="t") for i in range(5)]
    specs.append(spec_from_data({"model": str(tiny_models["llama"]), "text": "text"}, file="t"))
    baker = Baker(tmp_path)
    todo = plan(specs, baker, workers=2)
    assert sorted((len(group.jobs), group.workers) for group in todo.groups) == [(1, 1), (5, 1)]
    ray = _FakeRay()
    baked, cached, errors = _run(ray, todo, baker, cpus=2, gpus=0, progress=False)
    assert not errors and cached == 0 and sorted(baked) == sorted(spec.where() for spec in specs)
    large = {job.key for group in todo.groups if len(group.jobs) == 5 for job in group.jobs}
    helpers = [actor for actor in ray.actors if actor.baked and set(actor.baked) <= large]
    assert len(ray.actors) == 3 and len(helpers) == 2, "the freed core started a second actor for the large group"
    assert sorted(key for actor in helpers for key in actor.baked) == sorted(large), "each spec baked once"
    assert all(actor.killed for actor in ray.actors)
    assert ray.needs == [{"num_cpus": BAKE_THREADS}] * 3, "each actor asks for the CPUs its torch's threads use"


def test_an_unreachable_ray_address_names_the_setting(tmp_path, tiny_models):
    pytest.importorskip("ray")
    from s3_server import free_port
    (tmp_path / "explorables").mkdir()
    (tmp_path / "explorables" / "a.yml").write_text(f"- id: a\n  model: {tiny_models['gpt2']}\n  text: hi there\n")
    address = f"127.0.0.1:{free_port()}"
    result = subprocess.run([sys.executable, "-m", "generator.cli", "--root", str(tmp_path), "bake", "--executor",
                             "ray", "--address", address], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 1
    assert f"--address {address}" in result.stderr and "ray start --head" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".cache").exists() or not list((tmp_path / ".cache").rglob("*.json"))


CLUSTER = """\
import signal, sys, time
import ray
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
ray.init(num_cpus=4, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="ERROR")
print(ray.get_runtime_context().gcs_address, flush=True)
while True:
    time.sleep(1)
"""


@pytest.fixture
def cluster(tmp_path):
    """A Ray cluster on 127.0.0.1 declaring 4 CPUs (one per 1-thread worker), in a process of its own (and its
    children); yields (address, the process). Ended by its own id: SIGTERM (ray.shutdown stops what it started), then its process group."""
    pytest.importorskip("ray")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "disabled"}     # a cluster of this test only, on loopback: no token to share
    process = subprocess.Popen([sys.executable, "-c", CLUSTER], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env=env, cwd=tmp_path, start_new_session=True)
    address = process.stdout.readline().strip()
    assert address, "the Ray cluster did not start"
    address = "127.0.0.1:" + address.rsplit(":", 1)[1]
    yield address, process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)      # the group this test started, by its id
    except ProcessLookupError:
        pass


def entries(folder: Path) -> dict[str, bytes]:
    """key -> payload bytes (header line dropped) of a local cache folder."""
    return {path.stem: path.read_bytes().split(b"\n", 1)[1] for path in folder.glob("??/*.json")}


@pytest.mark.ray
@pytest.mark.slow
@ray_tests
def test_a_ray_cluster_bakes_into_s3_what_a_serial_bake_makes_even_when_a_worker_dies(tmp_path, s3, cluster):
    import boto3
    import psutil

    url, s3_env = s3
    address, process = cluster
    (tmp_path / "explorables").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "explorables" / "site.yml").write_text(SITE, encoding="utf-8")
    (tmp_path / "docs" / "index.md").write_text("# Site\n\n```explorable\nuse: m-head\n```\n", encoding="utf-8")
    env = {**os.environ, **s3_env, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled"}
    cli = [sys.executable, "-m", "generator.cli", "--root", str(tmp_path)]
    serial = subprocess.run([*cli, "--cache", "serial", "bake"], capture_output=True, text=True, timeout=900,
                            env=env)
    assert serial.returncode == 0, serial.stderr[-2000:]
    expected = entries(tmp_path / "serial")
    assert len(expected) == 6

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"], region_name="us-east-1")

    def stored() -> dict[str, bytes]:
        listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", [])
        return {Path(item["Key"]).stem: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                for item in listing if "/owners/" not in item["Key"]}

    baking = subprocess.Popen([*cli, "--cache", url, "bake", "--executor", "ray", "--address", address],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    killed = None
    deadline = time.monotonic() + 900
    while baking.poll() is None and time.monotonic() < deadline:
        if killed is None and stored():
            workers = [child for child in psutil.Process(process.pid).children(recursive=True)
                       if "ray::BakeWorker" in " ".join(child.cmdline())]
            busy = [child for child in workers if "BakeWorker.bake" in " ".join(child.cmdline())]
            if busy or workers:
                killed = (busy or workers)[0]
                killed.send_signal(signal.SIGKILL)     # a worker this test's cluster started, by its id
        time.sleep(0.2)
    out, err = baking.communicate(timeout=60)
    assert baking.returncode == 0, err[-3000:]
    assert killed is not None and len(stored()) < 7, "a worker was killed while the bake ran"
    assert "6 explorables: " in out
    baked = {key: blob.split(b"\n", 1)[1] for key, blob in stored().items()}
    assert baked.keys() == expected.keys()
    for key, payload in expected.items():
        assert baked[key] == payload, f"payload {key} differs from the serial bake"
    assert "baking" in err and "6/6" in err, "the bake bar"
