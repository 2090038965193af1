"""`explorables log --tracker mlflow|comet [ID ...]`, and the MkDocs plugin's `log:` option (log_specs)."""

from __future__ import annotations

import sys
from typing import Callable, Iterable

from ..errors import ExplorableError, each
from ..spec import SpecBase
from . import TrackerError
from .record import Record, record_for

TRACKERS = ("mlflow", "comet")
OPTIONS = {"tracker", "tracking_uri", "experiment", "offline_dir", "png"}


def check_options(options: dict) -> None:
    """Validate the MkDocs plugin's `log:` mapping. Raises mkdocs' PluginError naming the bad key or value."""
    from mkdocs.exceptions import PluginError

    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise PluginError(f"explorables: log: unknown option '{unknown[0]}' (valid: {', '.join(sorted(OPTIONS))})")
    if options.get("tracker") not in TRACKERS:
        raise PluginError(f"explorables: log: 'tracker' must be one of {', '.join(TRACKERS)}, "
                          f"not {options.get('tracker')!r}")
    if _png(options.get("png", "auto")) not in ("auto", "yes", "no"):
        raise PluginError("explorables: log: 'png' is auto, yes or no")


def _png(value) -> str:
    """YAML reads yes/no as booleans: take both spellings."""
    return {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value


def add_parser(commands) -> None:
    parser = commands.add_parser("log", help="log explorables to an experiment tracker (MLflow or Comet)")
    parser.add_argument("ids", nargs="*", metavar="ID", help="explorable ids (default: every curated spec and block)")
    parser.add_argument("--tracker", choices=TRACKERS, required=True)
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: MLflow's own, MLFLOW_TRACKING_URI or ./mlflow.db)")
    parser.add_argument("--experiment", default="explorables", help="MLflow experiment or Comet project name")
    parser.add_argument("--offline-dir", default=".comet",
                        help="Comet without COMET_API_KEY: folder of the offline archives (default: .comet)")
    parser.add_argument("--png", choices=("auto", "yes", "no"), default="auto",
                        help="attach a PNG of each view, rendered in headless Chromium (auto: if installed)")


def records(items: Iterable[tuple], baker, *, png: str = "auto") -> list[Record]:
    """One record per (spec, payload) or (spec, payload, page showing it) baked by `baker` (its cache gives the key
    and the bake's seconds)."""
    from ..export.standalone import standalone_html
    from . import png as pngs

    if png == "yes" and not pngs.available():
        raise TrackerError("--png yes needs Playwright and Chromium (scripts/setup --test installs them)")
    render = png == "yes" or (png == "auto" and pngs.available())
    out = []
    for spec, payload, *page in items:
        key = baker.key(spec)
        html = standalone_html(spec, payload)
        record = record_for(spec, payload, key=key, fingerprint=baker.source(spec).fingerprint(),
                            bake_seconds=baker.cache.bake_seconds(key), html=html, page=page[0] if page else None)
        if render:
            record.more = lambda html=html: pngs.render(html)
        out.append(record)
    return out


def send(records_: list[Record], *, tracker: str, tracking_uri: str | None = None,
         experiment: str = "explorables", offline_dir: str = ".comet") -> list[str]:
    """Log the records to the tracker; returns one line per record saying where it went."""
    if tracker == "mlflow":
        from . import mlflow
        return [f"{record.name}: {'logged as' if created else 'already logged, run'} {run_id}"
                for record, run_id, created in mlflow.log(records_, tracking_uri=tracking_uri, experiment=experiment)]
    if tracker == "comet":
        from . import comet
        return [f"{record.name}: {where}"
                for record, where in comet.log(records_, project=experiment, offline_directory=offline_dir)]
    raise TrackerError(f"unknown tracker '{tracker}'; choose one of: {', '.join(TRACKERS)}")


def log_specs(items: Iterable[tuple], baker, *, tracker: str, tracking_uri: str | None = None,
              experiment: str = "explorables", offline_dir: str = ".comet", png: str = "auto") -> list[str]:
    """records() then send(): what the plugin calls after a build."""
    return send(records(items, baker, png=_png(png)), tracker=tracker, tracking_uri=tracking_uri,
                experiment=experiment, offline_dir=offline_dir)


def main(specs: list[SpecBase], baker, args, progress: Callable[[list[SpecBase]], Iterable[SpecBase]] = iter) -> int:
    """The command: bake (through `progress`, the CLI's bar) and log the chosen specs."""
    from ..export.command import UnknownIds, select

    try:
        chosen = select(specs, args.ids)
    except UnknownIds as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    items, failed = [], 0
    for spec in progress(chosen):
        try:
            items.append((spec, baker.payload(spec)))
        except ExplorableError as error:
            for one in each(error):
                print(f"error: {one}", file=sys.stderr)
            failed += 1
    try:
        lines = log_specs(items, baker, tracker=args.tracker, tracking_uri=args.tracking_uri,
                          experiment=args.experiment, offline_dir=args.offline_dir, png=args.png)
    except TrackerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 1 if failed else 0
