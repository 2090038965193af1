"""Python-Markdown extension: ```explorable fenced blocks -> widget HTML.

It works on its own (plain Python-Markdown, or Zensical, which runs Markdown extensions but not MkDocs plugins);
the MkDocs plugin only adds conveniences: assets, payload files, the page's file name for error messages.

    ```explorable
    model: smollm2
    text: The animal didn't cross the street because it was too tired.
    views: [head, model]
    ```
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor

from .bake import Baker
from .errors import ExplorableError, SpecError
from .spec import Catalogue, ExplorableSpec, spec_from_block

log = logging.getLogger("mkdocs.plugins.explorables")

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*\{?\.?explorable\}?[ \t]*$")
_ANY_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})")
VIEW_ELEMENTS = {"head": "explorable-head-view", "model": "explorable-model-view",
                 "saliency": "explorable-saliency-view", "factors": "explorable-factor-view"}


@dataclass
class Block:
    start: int          # 0-based index of the opening fence line
    end: int            # 0-based index of the closing fence line (or last line if unclosed)
    indent: str
    body: str
    closed: bool

    @property
    def body_line(self) -> int:
        """1-based line number of the first body line, relative to the text searched."""
        return self.start + 2


def find_blocks(lines: list[str]) -> list[Block]:
    blocks = []
    index = 0
    while index < len(lines):
        match = _OPEN.match(lines[index])
        if not match:
            index = _skip_code_fence(lines, index)
            continue
        indent, fence = match.group("indent"), match.group("fence")
        closing = re.compile(rf"^{re.escape(indent)}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = "\n".join(line[len(indent):] if line.startswith(indent) else line.lstrip()
                         for line in lines[index + 1:end])
        blocks.append(Block(index, min(end, len(lines) - 1), indent, body, closed=end < len(lines)))
        index = end + 1
    return blocks


def _skip_code_fence(lines: list[str], index: int) -> int:
    """Index after a code fence opened at `index` (so examples of blocks inside code stay code), else index + 1."""
    other = _ANY_FENCE.match(lines[index])
    if not other:
        return index + 1
    fence = other.group("fence")
    closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
    end = index + 1
    while end < len(lines) and not closing.match(lines[end]):
        end += 1
    return end + 1


# -- state shared by every Markdown instance of a process (MkDocs makes one per page) --------------------------

@dataclass
class PageContext:
    file: str = "<markdown>"
    line_offset: int = 0     # lines removed above the Markdown (front matter), to report real file lines


_state_lock = threading.Lock()
_bakers: dict[tuple[str, str], Baker] = {}
_catalogues: dict[str, tuple[tuple, Catalogue]] = {}
current_page = PageContext()
# Set by the MkDocs plugin: given payload bytes, returns a file name the page may reference, or None to embed.
payload_file_sink: Callable[[bytes], str | None] | None = None
# Set by the MkDocs plugin: given spec and payload, returns the page-relative URL of the figure's standalone HTML
# file (generator/export/standalone.py) for a "download HTML" link, or None for no link.
standalone_link_sink: Callable[[ExplorableSpec, bytes], str | None] | None = None


def baker_for(cache_dir: str, base_dir: str) -> Baker:
    key = (str(Path(cache_dir).resolve()), str(Path(base_dir).resolve()))
    with _state_lock:
        if key not in _bakers:
            _bakers[key] = Baker(cache_dir=key[0], base_dir=key[1])
        return _bakers[key]


def catalogue_for(folder: str) -> Catalogue:
    path = Path(folder)
    files = sorted(path.glob("*.y*ml")) if path.is_dir() else []
    stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    with _state_lock:
        cached = _catalogues.get(str(path.resolve()))
        if cached and cached[0] == stamp:
            return cached[1]
    catalogue = Catalogue.load(path)
    with _state_lock:
        _catalogues[str(path.resolve())] = (stamp, catalogue)
    return catalogue


def payload_name(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()[:20] + ".json"


# -- rendering ---------------------------------------------------------------------------------------------------

def render_widget(spec: ExplorableSpec, payload: bytes, *, embed_limit: int, download: str | None = None) -> str:
    attrs = {"class": "explorable", "data-search-exclude": ""}
    if spec.id:
        attrs["data-explorable-id"] = spec.id
    name = payload_file_sink(payload) if payload_file_sink and len(payload) > embed_limit else None
    if name:
        attrs["data-src"] = name
    else:
        attrs["data-payload"] = payload.decode("utf-8")
    attr_text = " ".join(f'{key}="{html.escape(value, quote=True)}"' if value else key for key, value in attrs.items())
    label = json.loads(payload)["model"]["label"] if not name else None
    parts = [f"<div {attr_text}>"]
    if spec.title:
        parts.append(f'<p class="explorable-title">{html.escape(spec.title)}</p>')
    for view in spec.shown_views:
        element = VIEW_ELEMENTS[view]
        parts.append(f"<{element}></{element}>")
    caption = html.escape(spec.caption) if spec.caption else ""
    model_note = f"Model: {html.escape(label)}." if label else ""
    if caption or model_note:
        parts.append(f'<p class="explorable-caption">{caption} <span class="explorable-model">{model_note}</span></p>')
    if download:
        parts.append(f'<p class="explorable-download"><a href="{html.escape(download, quote=True)}" download="'
                     f'{html.escape(download_name(spec), quote=True)}" title="This figure as one HTML file that '
                     'opens anywhere, without network">download HTML</a></p>')
    parts.append('<noscript><p class="explorable-caption">This interactive figure needs JavaScript.</p></noscript>')
    parts.append("</div>")
    return "".join(parts)


def download_name(spec: ExplorableSpec) -> str:
    """File name a reader saves a figure's standalone HTML under: its id, else a short digest of its spec."""
    return f"{spec.id or 'explorable-' + spec.digest()[:10]}.html"


def render_error(error: ExplorableError) -> str:
    text = error.describe() if isinstance(error, SpecError) else str(error)
    return ('<div class="explorable explorable--error" role="alert"><strong>Explorable error:</strong> '
            f"<code>{html.escape(text)}</code></div>")


class ExplorablePreprocessor(Preprocessor):
    def __init__(self, md: Markdown, extension: "ExplorablesExtension"):
        super().__init__(md)
        self.extension = extension

    def run(self, lines: list[str]) -> list[str]:
        blocks = find_blocks(lines)
        if not blocks:
            return lines
        output: list[str] = []
        cursor = 0
        for block in blocks:
            output.extend(lines[cursor:block.start])
            placeholder = self.md.htmlStash.store(self.extension.render(block))
            output.extend([block.indent + placeholder, ""])
            cursor = block.end + 1
        output.extend(lines[cursor:])
        return output


class ExplorablesExtension(Extension):
    def __init__(self, **kwargs):
        self.config = {
            "cache_dir": [".cache/explorables", "Folder of the bake cache."],
            "explorables_dir": ["explorables", "Folder of curated specs (*.yml), referenced with 'use: <id>'."],
            "base_dir": [".", "Folder that relative model paths and the folders above are resolved against."],
            "embed_limit": [48_000, "Payloads up to this many bytes are embedded in the page; larger ones are "
                                    "written as files when the MkDocs plugin is active."],
        }
        super().__init__(**kwargs)

    def _path(self, key: str) -> str:
        return str(Path(self.getConfig("base_dir")) / self.getConfig(key))

    def extendMarkdown(self, md: Markdown) -> None:
        # Above fenced code (priority 25) so superfences never sees these blocks as code.
        md.preprocessors.register(ExplorablePreprocessor(md, self), "explorables", 29)

    def render(self, block: Block) -> str:
        page = current_page
        try:
            if not block.closed:
                raise SpecError("the explorable block is never closed", file=page.file,
                                line=block.start + 1 + page.line_offset, hint="end it with a line of ```")
            spec = self.spec_for(block, page)
            payload = baker_for(self._path("cache_dir"), self.getConfig("base_dir")).payload(spec)
        except ExplorableError as error:
            log.warning("explorables: %s", error)
            return render_error(error)
        download = standalone_link_sink(spec, payload) if standalone_link_sink else None
        return render_widget(spec, payload, embed_limit=int(self.getConfig("embed_limit")), download=download)

    def spec_for(self, block: Block, page: PageContext) -> ExplorableSpec:
        return spec_from_block(block.body, file=page.file, line_offset=block.body_line - 1 + page.line_offset,
                               catalogue=catalogue_for(self._path("explorables_dir")))


def makeExtension(**kwargs) -> ExplorablesExtension:  # noqa: N802 (Python-Markdown's naming)
    return ExplorablesExtension(**kwargs)
