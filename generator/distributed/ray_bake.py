"""`explorables bake --executor ray [--address ADDR]`: bake on a Ray cluster (https://docs.ray.io), into the
shared bake cache.

- The driver (this process, no torch) keys every spec, leaves out what the cache holds, and groups the rest by
  (model fingerprint, device, dtype) (`plan.py`).
- Each group gets one or more `BakeWorker` actors (a Ray actor: a process that keeps its state). An actor loads its
  group's model once and bakes that group's specs one after another, one task each; it writes each finished payload
  to the cache itself and returns only its key, size and seconds (the reduction happens on the worker: no tensor
  travels back). A worker recomputes every key from the spec it rebuilt and refuses a mismatch (a worker running
  other code or models than the driver). When a group's queue is empty its actor ends, and its CPUs (or GPU) start
  an actor for the group with the most jobs left (two or more), so a small group does not keep a core idle while a
  large one bakes on alone.
- An actor asks Ray for BAKE_THREADS CPUs (generator/bake.py, 1), the threads its torch runs: the count is fixed
  so that a payload's bytes do not depend on the machine, and an actor given fewer CPUs than it runs threads slows
  every actor beside it (two 2-thread actors on 2 cores: 391-408 s against 238 s for one, benchmarks/RESULTS.md).
  So the default number of workers is the cluster's CPUs / BAKE_THREADS, and an actor's bakes run their batches
  in one thread (`sharing_cores`).
- A worker that dies mid-bake (killed, out of memory) is restarted by Ray and its task retried
  (`max_restarts`, `max_task_retries`). An entry is published whole or not at all (cache.py), so a death leaves
  nothing partial in the cache; a spec baked twice that way is written twice with the same bytes, which is
  harmless.
- Progress is the same bar as the serial bake (tqdm, "baking", one step per explorable).

The cache must be one every worker reaches: an fsspec URL (s3://...) on a cluster of several machines, or a local
folder when all workers run on this machine. Workers import this package: install the same version on every node.
Credentials and settings the workers need travel as environment variables of the job (`FORWARDED`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ..bake import BAKE_THREADS, Baker
from ..errors import ExplorableError, SpecError
from ..spec import SpecBase
from .plan import Plan, plan
from .worker import BakeWorker

# Environment variables a worker needs as the driver has them: the hub cache and its offline switch, the object
# store's endpoint and credentials, the site's device/dtype.
FORWARDED = ("HF_HOME", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "TRANSFORMERS_OFFLINE", "AWS_ACCESS_KEY_ID",
             "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
             "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_EC2_METADATA_DISABLED",
             "GOOGLE_APPLICATION_CREDENTIALS", "EXPLORABLES_DEVICE", "EXPLORABLES_DTYPE")
RETRIES = 3


class ExecutorError(ExplorableError):
    """The Ray executor cannot run (no Ray, no cluster at the address); the message says what to do."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise ExecutorError("--executor ray needs Ray: install explorables[ray] (pip install 'explorables[ray]'), "
                            "or bake without --executor ray") from None
    return ray


def connect(ray, address: str | None) -> None:
    """Join the cluster at `address` (host:port of its head), or start a local one on this machine."""
    env = {name: os.environ[name] for name in FORWARDED if name in os.environ}
    if address and address != "auto":
        problem = unreachable(address)
        if problem:   # Ray itself would wait for the head for minutes
            raise ExecutorError(f"could not join the Ray cluster at --address {address}: {problem}. Check the "
                                "address (host:port of the head node, as `ray start --head` prints it) and that the "
                                "head is running and reachable, or leave --address out to start a local cluster")
    try:
        ray.init(address=address or None, runtime_env={"env_vars": env}, logging_level="ERROR",
                 log_to_driver=False, **({} if address else {"include_dashboard": False}))
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as error:
        where = f"the Ray cluster at --address {address}" if address else "a local Ray cluster"
        if "auth" in str(error).lower():
            raise ExecutorError(f"could not join {where}: it asks for an authentication token. Give this machine "
                                "the cluster's token (RAY_AUTH_TOKEN, or the file ~/.ray/auth_token), see Ray's "
                                "token authentication docs") from None
        raise ExecutorError(f"could not join {where}: {str(error).splitlines()[0] if str(error) else error}. "
                            + ("Check the address (host:port of the head node, as `ray start --head` prints it) "
                               "and that the head is running and reachable"
                               if address else "Start one with `ray start --head` and pass --address")) from None


def unreachable(address: str, timeout: float = 5.0) -> str | None:
    """Why host:port (optionally ray://host:port) does not answer a TCP connection within `timeout` seconds, or
    None when it does."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return "it is not host:port"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return None
    except OSError as error:
        return f"nothing answers there ({error.strerror or error})"


def bake(specs: list[SpecBase], baker: Baker, *, address: str | None = None, workers: int | None = None,
         progress: bool = True) -> tuple[list[str], int, list[ExplorableError]]:
    """Bake `specs` on Ray into `baker`'s cache. Returns (where() of each spec baked, how many were in the cache,
    the errors: placed SpecErrors of specs, each also left out of the cache). Raises ExecutorError when Ray is
    missing or the cluster cannot be joined."""
    ray = import_ray()
    connect(ray, address)
    try:
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
        todo = plan(specs, baker, workers or max(1, cpus // BAKE_THREADS))
        return _run(ray, todo, baker, cpus, gpus, progress)
    finally:
        ray.shutdown()


def _run(ray, todo: Plan, baker: Baker, cpus: int, gpus: int, progress: bool
         ) -> tuple[list[str], int, list[ExplorableError]]:
    from tqdm import tqdm

    errors: list[ExplorableError] = list(todo.errors)
    baked: list[str] = []
    cache = baker.cache.location if baker.cache.remote else str(Path(baker.cache.location).resolve())
    actor_class = ray.remote(max_restarts=RETRIES, max_task_retries=RETRIES)(BakeWorker)
    bar = tqdm(total=todo.total, initial=len(todo.cached), desc="baking", unit="explorable", file=sys.stderr,
               disable=not progress)
    queues = {id(group): list(group.jobs) for group in todo.groups}
    running: dict[Any, tuple[Any, Any, str]] = {}     # task ref -> (actor, group, where)
    actors: list[Any] = []

    def submit(actor, group) -> None:
        queue = queues[id(group)]
        if queue:
            job = queue.pop(0)
            running[actor.bake.remote(job.key, job.record)] = (actor, group, job.where)
            return
        ray.kill(actor)            # its group is done: its CPU or GPU goes to the group with the most jobs left
        waiting = [other for other in todo.groups if other.device == group.device and len(queues[id(other)]) > 1]
        if waiting:                # (two or more: one more model load pays off only when the queue is not ending)
            start(max(waiting, key=lambda other: len(queues[id(other)])))

    def start(group) -> bool:
        """One more actor for `group`, given its first job; False (and the group's jobs dropped, with an error) for
        a cuda group on a cluster without GPUs."""
        if group.device == "cuda" and gpus == 0:
            errors.append(ExecutorError(f"{group.label}: device cuda was asked for, but the Ray cluster has "
                                        "no GPU: add GPU nodes, or bake with device: cpu"))
            queues[id(group)].clear()
            return False
        needs = {"num_cpus": min(BAKE_THREADS, cpus), **({"num_gpus": 1} if group.device == "cuda" else {})}
        actor = actor_class.options(**needs).remote(cache, baker.cache_options, str(baker.base_dir.resolve()),
                                                    baker.device, baker.dtype)
        actors.append(actor)
        submit(actor, group)
        return True

    for group in todo.groups:
        for _ in range(group.workers):
            if not start(group):
                break
    try:
        while running:
            done, _ = ray.wait(list(running), num_returns=1)
            actor, group, where = running.pop(done[0])
            try:
                result = ray.get(done[0])
            except Exception as error:   # noqa: BLE001: a task that failed after Ray's retries
                errors.append(ExecutorError(f"{where}: the bake failed on the cluster after {RETRIES} retries: "
                                            f"{type(error).__name__}: {str(error).splitlines()[0]}"))
                result = None
            if result and "errors" in result:
                errors.append(SpecError.combine([SpecError(**error) for error in result["errors"]]))
            elif result and not result.get("reused"):
                baked.append(where)
            bar.update(1)
            submit(actor, group)
    finally:
        bar.close()
        for actor in actors:
            try:
                ray.kill(actor)
            except Exception:   # noqa: BLE001: already gone
                pass
    return baked, len(todo.cached), errors
