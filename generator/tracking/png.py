"""PNGs of an explorable's views, rendered headless: the standalone page opened in Chromium, each view's own
"save PNG" button pressed (assets/js/figure.js draws the file), the download kept. Every view is found by what
every view shares, the class `xp-view` that the `View` base class (assets/js/view.js) sets on itself, so a view
added to the registry gets its PNG with no list to update here. Runs in a subprocess, so it
never meets another Playwright instance of the calling process.

    python -m generator.tracking.png PAGE.html OUT_DIR     # writes OUT_DIR/<name the save PNG button gives>
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

VIEWS = ".explorable > .xp-view"     # every view: View.connectedCallback sets the class
UNDEFINED = ".explorable > :not(:defined)"   # an element whose class is not defined yet (its script not run)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def available() -> bool:
    """True when Playwright and a Chromium executable are installed (PNGs are skipped otherwise)."""
    return importlib.util.find_spec("playwright") is not None and chromium() is not None


def render(html: str, timeout: float = 120) -> dict[str, bytes]:
    """File name -> PNG bytes for every view of a standalone page. Raises RuntimeError if rendering fails."""
    with tempfile.TemporaryDirectory(prefix="explorables-png-") as temp:
        page = Path(temp) / "page.html"
        page.write_text(html, encoding="utf-8")
        out = Path(temp) / "png"
        result = subprocess.run([sys.executable, "-m", "generator.tracking.png", str(page), str(out)],
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"rendering the views headless failed: {result.stderr.strip()[-500:]}")
        return {path.name: path.read_bytes() for path in sorted(out.glob("*.png"))}


# Chromium lets one tab download only so many files in quick succession (the 11th of 14 views' PNGs timed out in a
# test run): a fresh tab of the same page every DOWNLOADS_PER_TAB files.
DOWNLOADS_PER_TAB = 8


def _open(browser, page: Path):
    tab = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    tab.goto(page.resolve().as_uri())
    tab.wait_for_function(f"() => !document.querySelector({UNDEFINED!r})", timeout=30000)
    return tab


def _main(page: Path, out: Path) -> int:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=ARGS)
        tab, downloads = _open(browser, page), 0
        for index in range(tab.locator(VIEWS).count()):
            if downloads == DOWNLOADS_PER_TAB:
                tab.close()
                tab, downloads = _open(browser, page), 0
            view = tab.locator(VIEWS).nth(index)
            view.scroll_into_view_if_needed()
            tab.wait_for_function("el => ['ready', 'error'].includes(el.dataset.state)", arg=view.element_handle(),
                                  timeout=30000)
            if view.get_attribute("data-state") != "ready":
                raise SystemExit(f"view {index} ({view.evaluate('el => el.localName')}) could not be drawn")
            button = view.get_by_role("button", name="save PNG")
            if button.count() == 0:     # a control rather than a figure (the live view's "try your own text")
                continue
            with tab.expect_download() as download:
                button.first.click()
            downloads += 1
            target = out / download.value.suggested_filename      # named by export.js: <id>-<part>.png
            if target.exists():
                target = target.with_name(f"{target.stem}-{index}.png")
            download.value.save_as(target)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(_main(Path(sys.argv[1]), Path(sys.argv[2])))
