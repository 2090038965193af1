"""Logging baked explorables to an experiment tracker (MLflow, Comet), so runs of models can be compared later.

record.py turns one bake into tracker-neutral params, metrics, tags and artifacts; mlflow.py and comet.py send
them; command.py is `explorables log` and the MkDocs plugin's `log:` option. The tracker libraries are the
optional extra `explorables[tracking]`; nothing here is imported by a plain build.
"""

from __future__ import annotations

from ..errors import ExplorableError


class TrackerError(ExplorableError):
    """A tracker could not be reached or used; the message names it and says what to do."""


def require(module: str, tracker: str):
    """Import a tracker library, or raise TrackerError naming the extra that installs it."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise TrackerError(f"--tracker {tracker} needs the '{module}' package, which is not installed; install "
                           "the tracking extra: pip install 'explorables[tracking]'") from None
