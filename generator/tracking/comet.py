"""Log records (record.py) to Comet: one experiment per explorable.

Without COMET_API_KEY, comet_ml's OfflineExperiment writes one archive (<experiment key>.zip) per explorable into
the offline folder; `comet upload FILE.zip` sends it later. Logging the same bake again finds its archive (by the
cache key it holds, `archived`) and writes no other. With COMET_API_KEY set, it logs online, one experiment per
call: finding an online experiment again would need Comet's REST API and a server, which nothing here can test. The standalone
page goes in as an HTML asset (log_html, and as a file asset), the payload JSON and any PNGs as assets. comet_ml's
automatic logging (code, git, environment, console output) is switched off: a record carries all there is.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import TrackerError, require
from .record import TAG_KEY, Record

QUIET = dict(log_code=False, log_graph=False, auto_param_logging=False, auto_metric_logging=False,
             parse_args=False, auto_output_logging=None, log_env_details=False, log_git_metadata=False,
             log_git_patch=False, log_env_gpu=False, log_env_host=False, log_env_cpu=False, log_env_network=False,
             log_env_disk=False, display_summary_level=0)


def log(records: list[Record], *, project: str, offline_directory: str | Path,
        api_key: str | None = None) -> list[tuple[Record, str]]:
    """Log each record; returns (record, archive path or experiment URL). Raises TrackerError on failure."""
    # Read by comet_ml when it is imported: no error reports to the vendor's Sentry (half of all imports turn it
    # on, and it would send data to the network even for an offline experiment), and no import hooks patching
    # other libraries (torch, mlflow, ...) for automatic logging.
    os.environ.setdefault("COMET_ERROR_TRACKING_ENABLE", "false")
    os.environ.setdefault("COMET_DISABLE_AUTO_LOGGING", "1")
    comet_ml = require("comet_ml", "comet")
    api_key = api_key or os.environ.get("COMET_API_KEY")
    results = []
    for record in records:
        found = None if api_key else archived(Path(offline_directory), project, record.cache_key)
        if found is not None:
            results.append((record, f"already logged, archive {found}"))
            continue
        try:
            if api_key:
                experiment = comet_ml.Experiment(api_key=api_key, project_name=project, **QUIET)
            else:
                Path(offline_directory).mkdir(parents=True, exist_ok=True)
                experiment = comet_ml.OfflineExperiment(project_name=project,
                                                        offline_directory=str(offline_directory), **QUIET)
            experiment.set_name(record.name)
            experiment.log_parameters(record.params)
            experiment.log_metrics(record.metrics)
            experiment.log_others(record.tags)
            experiment.add_tags([record.tags["explorables.id"]])
            for name, data in record.all_artifacts().items():
                if name.endswith(".html"):
                    experiment.log_html(data.decode("utf-8"))
                if name.endswith(".png"):
                    import io
                    experiment.log_image(io.BytesIO(data), name=name)
                else:
                    experiment.log_asset_data(data, name=name)
            key = experiment.get_key()
            experiment.end()
        except Exception as error:
            raise TrackerError(f"logging '{record.name}' to Comet failed: {error}") from None
        where = experiment.url if api_key else str(Path(offline_directory) / f"{key}.zip")
        results.append((record, where))
    return results


def archived(folder: Path, project: str, cache_key: str) -> Path | None:
    """The offline archive in `folder` of an experiment of `project` that logged this cache key, if any: what MLflow
    finds with a tag search (mlflow.py), read from the archives themselves (the project in `experiment.json`, the
    `explorables.cache_key` "other" in `messages.json`, comet_ml's offline format). An archive that cannot be read
    is passed over."""
    import json
    import zipfile

    for archive in sorted(folder.glob("*.zip")):
        try:
            with zipfile.ZipFile(archive) as zipped:
                if json.loads(zipped.read("experiment.json")).get("project_name") != project:
                    continue
                for line in zipped.read("messages.json").splitlines():
                    message = json.loads(line)
                    payload = message.get("payload") or {}
                    if (message.get("type") == "log_other" and payload.get("key") == TAG_KEY
                            and payload.get("value") == cache_key):
                        return archive
        except (OSError, KeyError, ValueError, AttributeError, zipfile.BadZipFile):
            continue
    return None
