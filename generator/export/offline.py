"""The offline copy: a site built with Material's `offline` plugin, read from the file system.

From file:// Chromium blocks ES module scripts (an opaque origin may not load modules) and `fetch()` of the page's
own files, and refuses `new Worker()`. So when the offline plugin is on, the explorables plugin
- relies on the classic-script bundle of the widgets, which every build loads (a module graph would not run);
- writes every payload data file NAME.json a second time as NAME.js, a script that hands the same JSON text to the
  widgets (payload.js loads it with a <script> element when the page is a file://, only when a view comes near);
- lists its own Worker stand-in for file:// pages as Material's polyfill, in place of the CDN script the offline
  plugin would otherwise add (Material runs its search in a worker).
A site served over HTTP from the same build works too: the bundle fetches the .json files as usual.
"""

from __future__ import annotations

import json

from .assets import WORKER_SHIM

ASSET_PREFIX = "assets/explorables"
SHIM_URL = f"{ASSET_PREFIX}/offline/iframe-worker.js"
# Material's offline plugin adds a polyfill from a CDN unless one whose URL contains this is listed already.
SHIM_MARK = "iframe-worker"


def offline_enabled(config) -> bool:
    """True when Material's offline plugin is listed and enabled in this MkDocs config."""
    for name in ("material/offline", "offline"):
        plugin = config.plugins.get(name)
        if plugin is not None:
            return bool(getattr(plugin, "config", {}).get("enabled", True))
    return False


def use_local_worker_shim(config) -> None:
    """Replace (or pre-empt) the offline plugin's CDN polyfill by the shim shipped with the site."""
    polyfills = [entry for entry in config.extra.get("polyfills", []) if SHIM_MARK not in str(entry)]
    config.extra["polyfills"] = polyfills + [SHIM_URL]


def shipped_files() -> dict[str, str]:
    """Site path -> asset name of the extra files an offline build ships."""
    return {SHIM_URL: WORKER_SHIM}


def payload_script(name: str, payload: bytes) -> bytes:
    """NAME.js for the data file NAME.json: one statement storing the payload's JSON text, as a JS string, under
    self.explorablesData[NAME.json]. json.dumps escapes what a JS string literal needs (quotes, backslashes,
    control characters, and U+2028/U+2029 with ensure_ascii)."""
    literal = json.dumps(payload.decode("utf-8"))
    return (f"(self.explorablesData=self.explorablesData||{{}})[{json.dumps(name)}]={literal};\n").encode("utf-8")
