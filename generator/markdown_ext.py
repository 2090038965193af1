"""Python-Markdown extension: ```explorable fenced blocks -> widget HTML.

It works on its own (plain Python-Markdown, or Zensical, which runs Markdown extensions but not MkDocs plugins),
with a default `SiteContext` made from its config. The MkDocs plugin hands it a context of its own instead (as
mkdocstrings' plugin does for its extension): the baker, the catalogue, the page being rendered (for error
locations) and a payload sink (large payloads become files instead of page attributes).

    ```explorable
    model: smollm2
    text: The animal didn't cross the street because it was too tired.
    views: [head, model]
    ```
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor

from .bake import Baker
from .cache import is_url, locate
from .errors import ExplorableError, SpecError, each, marked
from .fences import Block, find_blocks
from .methods import REGISTRY
from .spec import Catalogue, SpecBase, spec_from_block
from .widget_html import DEFAULT_EMBED_LIMIT, author_text, render_widget

log = logging.getLogger("mkdocs.plugins.explorables")

@dataclass
class PageContext:
    file: str = "<markdown>"
    line_offset: int = 0     # lines removed above the Markdown (front matter), to report real file lines


@dataclass
class SiteContext:
    """What rendering a block needs from the site around it."""

    baker: Baker
    catalogue: Callable[[], Catalogue]                  # the curated specs, current as of the call
    page: PageContext = field(default_factory=PageContext)
    # Given payload bytes, a file name the page may reference instead of embedding them, or None to embed.
    payload_sink: Callable[[bytes], str | None] | None = None
    embed_limit: int = DEFAULT_EMBED_LIMIT
    # Given spec and payload, the page-relative URL of the figure's standalone HTML file (generator/export/) for a
    # "download HTML" link, or None for no link.
    download_link: Callable[[SpecBase, bytes], str | None] | None = None
    # Given spec and payload, the folder name of the block's live model under assets/explorables/live/ (a "try your
    # own text" control, generator/live/), or None; raises SpecError when the block asks for it and cannot be live.
    live: Callable[[SpecBase, bytes], str | None] | None = None
    # id -> FILE:LINE of the block that declared it first in this build (the plugin clears it per build), so a
    # second block with that id is refused; None: ids are only checked against the curated ones.
    ids: dict[str, str] | None = None


# -- the default context of standalone use (one baker and catalogue per folder, shared by every page) -------------

_state_lock = threading.Lock()
_bakers: dict[tuple[str, str], Baker] = {}
_catalogues: dict[str, tuple[tuple, Catalogue]] = {}


def baker_for(cache_dir: str, base_dir: str, **settings) -> Baker:
    """The process's baker for a cache and project folder (and the Baker settings: cache_options, device, dtype,
    read_only). Raises CacheError for a remote cache that cannot be reached, ValueError for a bad device/dtype."""
    location = cache_dir if is_url(cache_dir) else str(Path(cache_dir).resolve())
    key = (location, str(Path(base_dir).resolve()), json.dumps(settings, sort_keys=True, default=str))
    with _state_lock:
        if key not in _bakers:
            _bakers[key] = Baker(cache_dir=key[0], base_dir=key[1], **settings)
        return _bakers[key]


def catalogue_for(folder: str, base_dir: str | None = None) -> Catalogue:
    """The curated specs of `folder`, re-read only when one of its files changed; errors name the files relative
    to `base_dir` (the folder of mkdocs.yml) when given."""
    path = Path(folder)
    files = sorted(path.glob("*.y*ml")) if path.is_dir() else []
    stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    with _state_lock:
        cached = _catalogues.get(str(path.resolve()))
        if cached and cached[0] == stamp:
            return cached[1]
    catalogue = Catalogue.load(path, base_dir)
    for error in catalogue.errors:      # once per read of the folder; a strict build fails on them
        for one in each(error):
            log.warning("explorables: %s", one)
    with _state_lock:
        _catalogues[str(path.resolve())] = (stamp, catalogue)
    return catalogue


# -- rendering ---------------------------------------------------------------------------------------------------

def render_error(error: ExplorableError) -> str:
    """The error box placed where a block would be: one line per error of the block (`SpecErrors`), as text."""
    lines = [one.describe() if isinstance(one, SpecError) else str(one) for one in each(error)]
    if len(lines) == 1:
        return ('<div class="explorable explorable--error" role="alert"><strong>Explorable error:</strong> '
                f"<code>{author_text(lines[0], isolate=False)}</code></div>")
    items = "".join(f"<li><code>{author_text(line, isolate=False)}</code></li>" for line in lines)
    return ('<div class="explorable explorable--error" role="alert">'
            f"<strong>Explorable errors ({len(lines)}):</strong><ul>{items}</ul></div>")


def log_error(error: ExplorableError) -> None:
    """Log each error of a block (`SpecErrors`) as a warning of its own, so a strict build fails on it."""
    for one in each(error):
        log.warning("explorables: %s", marked(str(one)))


def spec_for(block: Block, context: SiteContext) -> SpecBase:
    """The spec of one block of the context's current page (errors placed at the page's lines); an id taken by a
    curated explorable or an earlier block is refused (`Catalogue.claim_id`)."""
    page = context.page
    catalogue = context.catalogue()
    spec = spec_from_block(block.body, file=page.file, line_offset=block.body_line - 1 + page.line_offset,
                           catalogue=catalogue)
    catalogue.claim_id(spec, context.ids)
    return spec


def render(block: Block, context: SiteContext) -> str:
    """Widget HTML for one block, or an error box (the error is also logged, so a strict build fails)."""
    page = context.page
    try:
        problem = block.problem(page.file, page.line_offset)     # a misnamed fence, or a block never closed
        if problem is not None:
            raise problem
        spec = spec_for(block, context)
        payload = context.baker.payload(spec)
        live = context.live(spec, payload) if context.live else None
    except ExplorableError as error:
        log_error(error)
        return render_error(error)
    try:
        return render_widget(spec, payload, payload_sink=context.payload_sink, embed_limit=context.embed_limit,
                             download_link=context.download_link, live=live)
    except Exception as exc:  # noqa: BLE001: a bad block gives its error box, the rest of the page builds
        error = spec.error("views", f"the figure could not be written: {type(exc).__name__}: {exc}")
        log_error(error)
        return render_error(error)


class RawLines(Preprocessor):
    """Keeps the page's lines as written, before Python-Markdown's whitespace normalisation (which runs next and
    expands tabs to spaces), so that a block's YAML is read as `explorables check` and the plugin read it from the
    file: a tab is then the same YAML error everywhere, never silently a four-space indent in the build only.
    Line breaks are normalised as Markdown does, so that line k here is line k after normalisation."""

    def __init__(self, md: Markdown):
        super().__init__(md)
        self.lines: list[str] = []

    def run(self, lines: list[str]) -> list[str]:
        self.lines = "\n".join(lines).replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return lines


class ExplorablePreprocessor(Preprocessor):
    def __init__(self, md: Markdown, extension: "ExplorablesExtension", raw: RawLines | None = None):
        super().__init__(md)
        self.extension = extension
        self.raw = raw

    def run(self, lines: list[str]) -> list[str]:
        blocks = find_blocks(lines)
        if not blocks:
            return lines
        context = self.extension.context
        output: list[str] = []
        cursor = 0
        for block in blocks:
            output.extend(lines[cursor:block.start])
            placeholder = self.md.htmlStash.store(render(self.as_written(block, lines), context))
            output.extend([block.indent + placeholder, ""])
            cursor = block.end + 1
        output.extend(lines[cursor:])
        return output

    def as_written(self, block: Block, lines: list[str]) -> Block:
        """`block` with its body as the page wrote it (tabs kept: `RawLines`), when the lines kept there are those
        of this block once normalised; else `block` itself (another extension changed the lines in between)."""
        raw = self.raw.lines if self.raw is not None else []
        span = raw[block.start:block.end + 1]
        normalised = [re.sub(r"^ +$", "", line.expandtabs(self.md.tab_length)) for line in span]
        if len(span) != block.end - block.start + 1 or normalised != lines[block.start:block.end + 1]:
            return block
        found = find_blocks(span)
        if len(found) != 1 or found[0].closed != block.closed or found[0].misnamed != block.misnamed:
            return block
        written = found[0]
        return dataclasses.replace(block, body=written.body, indent=block.indent)


class ExplorablesExtension(Extension):
    """The extension. `context`: given by the MkDocs plugin; made from the config options when None."""

    def __init__(self, context: SiteContext | None = None, **kwargs):
        self.config = {
            "cache_dir": [".cache/explorables", "Folder of the bake cache."],
            "explorables_dir": ["explorables", "Folder of curated specs (*.yml), referenced with 'use: <id>'."],
            "base_dir": [".", "Folder that relative model paths and the folders above are resolved against."],
            "embed_limit": [DEFAULT_EMBED_LIMIT, "Payloads up to this many bytes are embedded in the page; larger "
                                                 "ones are written as files when the MkDocs plugin is active."],
        }
        super().__init__(**kwargs)
        self._context = context

    def path(self, key: str) -> str:
        """A folder option resolved against `base_dir` (a cache URL such as s3://... stays as written)."""
        return locate(self.getConfig("base_dir"), self.getConfig(key))

    @property
    def context(self) -> SiteContext:
        if self._context is None:
            folder = self.path("explorables_dir")
            self._context = SiteContext(baker=baker_for(self.path("cache_dir"), self.getConfig("base_dir")),
                                        catalogue=lambda: catalogue_for(folder, self.getConfig("base_dir")),
                                        embed_limit=int(self.getConfig("embed_limit")))
        return self._context

    def extendMarkdown(self, md: Markdown) -> None:
        # Above fenced code (priority 25) so superfences never sees these blocks as code; the lines as written are
        # kept just before the whitespace normalisation (priority 30), after any extension that adds lines.
        raw = RawLines(md)
        md.preprocessors.register(raw, "explorables_raw_lines", 30.5)
        md.preprocessors.register(ExplorablePreprocessor(md, self, raw), "explorables", 29)


def makeExtension(**kwargs) -> ExplorablesExtension:  # noqa: N802 (Python-Markdown's naming)
    return ExplorablesExtension(**kwargs)
