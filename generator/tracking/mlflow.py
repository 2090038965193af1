"""Log records (record.py) to MLflow: one run per explorable, found again by its bake cache key tag.

Uses MLflow's client API (MlflowClient: create_run, log_batch, log_artifacts, set_terminated), so no global
"active run" state is touched. Without a tracking URI, MLflow's own default store is used (MLflow 3: the SQLite
file mlflow.db in the working folder), as MLflow users expect.

A server that cannot be reached fails before any run is created (a /health probe, naming the URI); a run that
fails half-way is ended as FAILED and deleted, so no half-written run is left behind.
"""

from __future__ import annotations

import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import TrackerError, require
from .record import TAG_KEY, Record


def default_uri() -> str:
    """The tracking URI MLflow uses when none is given (MLFLOW_TRACKING_URI, else its default local store)."""
    return require("mlflow", "mlflow").get_tracking_uri()


def probe(uri: str, timeout: float = 5.0) -> None:
    """For an http(s) URI, check that an MLflow server answers at {uri}/health. Raises TrackerError otherwise."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            response.read(64)
    except urllib.error.HTTPError as error:
        raise TrackerError(f"the MLflow tracking URI {uri} answered HTTP {error.code} at /health: it does not look "
                           "like an MLflow tracking server; check --tracking-uri") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise TrackerError(f"cannot reach the MLflow tracking server at {uri} ({reason}); start it (mlflow server "
                           "--host 127.0.0.1 --port N ...) or pass another --tracking-uri. Nothing was logged.") from None


def _experiment(client, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name)
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def existing_run(client, experiment_id: str, key: str) -> str | None:
    """Id of a finished run of this experiment tagged with this bake cache key, or None."""
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{TAG_KEY}` = '{key}' and "
                                                             "attributes.status = 'FINISHED'", max_results=1)
    return runs[0].info.run_id if runs else None


def log(records: list[Record], *, tracking_uri: str | None, experiment: str) -> list[tuple[Record, str, bool]]:
    """Log each record as one run. Returns (record, run id, created) per record; created is False when a run of
    the same bake (cache key) was already there. Raises TrackerError naming the URI on any failure."""
    require("mlflow", "mlflow")
    # Fail fast instead of MLflow's default of retrying for minutes against a dead server.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    uri = tracking_uri or default_uri()
    probe(uri)
    client = MlflowClient(tracking_uri=uri)
    try:
        experiment_id = _experiment(client, experiment)
    except Exception as error:   # MlflowException, requests' errors, OSError: all mean "cannot use this store"
        raise TrackerError(f"cannot open experiment '{experiment}' at the MLflow tracking URI {uri}: {error}") from None
    results = []
    for record in records:
        found = existing_run(client, experiment_id, record.cache_key)
        if found:
            results.append((record, found, False))
            continue
        run = client.create_run(experiment_id, run_name=record.name, tags=record.tags)
        run_id = run.info.run_id
        try:
            now = int(time.time() * 1000)
            client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in sorted(record.metrics.items())],
                             params=[Param(k, v) for k, v in sorted(record.params.items())])
            with tempfile.TemporaryDirectory(prefix="explorables-mlflow-") as temp:
                for name, data in record.all_artifacts().items():
                    (Path(temp) / name).write_bytes(data)
                client.log_artifacts(run_id, temp)
            client.set_terminated(run_id, "FINISHED")
        except BaseException as error:
            _discard(client, run_id)
            if isinstance(error, Exception):
                raise TrackerError(f"logging '{record.name}' to the MLflow tracking URI {uri} failed ({error}); "
                                   "the half-written run was ended as FAILED and deleted") from None
            raise
        results.append((record, run_id, True))
    return results


def _discard(client, run_id: str) -> None:
    for step in (lambda: client.set_terminated(run_id, "FAILED"), lambda: client.delete_run(run_id)):
        try:
            step()
        except Exception:
            pass
