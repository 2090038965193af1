"""The site's "download HTML" links: one standalone file per figure, written next to the widgets' assets.

The Markdown extension asks for a link while it renders a block (markdown_ext.standalone_link_sink); the page is
made then (generator/export/standalone.py), named by its content, and written into the built site at the end of
the build. The same figure on two pages is one file.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.utils import get_relative_url

from ..spec import ExplorableSpec
from .standalone import content_name, standalone_html

FOLDER = "assets/explorables/standalone"


class Downloads:
    def __init__(self) -> None:
        self.pages: dict[str, str] = {}          # content name -> page text
        self.page_url = ""                        # URL of the page being rendered (MkDocs' page.url)
        self.rendered: dict[str, tuple[ExplorableSpec, bytes]] = {}   # name -> what it was made from

    def link(self, spec: ExplorableSpec, payload: bytes) -> str:
        """Page-relative URL of the figure's standalone file (made now, written by write())."""
        page = standalone_html(spec, payload)
        name = content_name(page)
        self.pages[name] = page
        self.rendered[name] = (spec, payload)
        return get_relative_url(f"{FOLDER}/{name}", self.page_url)

    def write(self, site_dir: str | Path) -> int:
        """Write every page linked during this build; returns how many."""
        folder = Path(site_dir) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        for name, page in sorted(self.pages.items()):
            (folder / name).write_text(page, encoding="utf-8")
        return len(self.pages)
