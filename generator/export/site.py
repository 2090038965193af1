"""The site's "download HTML" links: one standalone file per figure, written next to the widgets' assets.

The Markdown extension asks for a link while it renders a block (markdown_ext.standalone_link_sink); the page is
made then (generator/export/standalone.py), named by its content, and written into the built site at the end of
the build. The same figure on two pages is one file.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.utils import get_relative_url

from ..spec import SpecBase
from .standalone import content_name, standalone_html

FOLDER = "assets/explorables/standalone"


class Downloads:
    """The figures rendered during one build; with links=True, their standalone files and link URLs."""

    def __init__(self, links: bool = True) -> None:
        self.links = links
        self.pages: dict[str, str] = {}          # content name -> page text
        self.page_url = ""                        # URL of the page being rendered (MkDocs' page.url)
        self.page_path = ""                       # and its source file, as the author knows it (docs/...)
        self.rendered: dict[tuple[str, str], tuple[SpecBase, bytes, str]] = {}  # (digest, page) -> figure

    def on_page(self, url: str, path: str) -> None:
        self.page_url, self.page_path = url, path

    def link(self, spec: SpecBase, payload: bytes) -> str | None:
        """Page-relative URL of the figure's standalone file (made now, written by write()), or None."""
        self.rendered.setdefault((spec.digest(), self.page_path), (spec, payload, self.page_path))
        if not self.links:
            return None
        page = standalone_html(spec, payload)
        name = content_name(page)
        self.pages[name] = page
        return get_relative_url(f"{FOLDER}/{name}", self.page_url)

    def figures(self) -> list[tuple[SpecBase, bytes, str]]:
        """(spec, payload, page) of every figure rendered in this build, once per spec and page, in order."""
        return list(self.rendered.values())

    def write(self, site_dir: str | Path) -> int:
        """Write every page linked during this build; returns how many."""
        folder = Path(site_dir) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        for name, page in sorted(self.pages.items()):
            (folder / name).write_text(page, encoding="utf-8")
        return len(self.pages)
