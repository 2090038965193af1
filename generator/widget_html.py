"""The HTML of an explorable's container on a page: the one place that writes it, for the Markdown extension (site
pages), the standalone files (`generator/export/`) and the trackers' records (`generator/tracking/`).

It needs no site around it: a payload, its spec, and optionally where large payloads go and where the figure's
standalone file lies.
"""

from __future__ import annotations

import html
import json
import unicodedata
from typing import Callable

from .errors import MARKED, marked
from .methods import REGISTRY
from .spec import SpecBase

DEFAULT_EMBED_LIMIT = 64_000   # bytes; a data file costs a request that waits behind the page's own loading (RESULTS: lens)


def render_widget(spec: SpecBase, payload: bytes, *, payload_sink: Callable[[bytes], str | None] | None = None,
                  embed_limit: int = DEFAULT_EMBED_LIMIT,
                  download_link: Callable[[SpecBase, bytes], str | None] | None = None, live: str | None = None) -> str:
    """The container of one explorable: `<div class="explorable">` with its payload (embedded as `data-payload`, or
    as `data-src` naming the file `payload_sink` returns for a payload over `embed_limit` bytes), one element per
    shown view (the registry's tag), the title, the caption with the model's label, and a "download HTML" link when
    `download_link` gives a URL; `live`: the folder of the block's live model, for a `<explorable-live-view>` above
    the views ("try your own text", generator/live/). Text from the spec reaches the page escaped."""
    attrs = {"class": "explorable", "data-search-exclude": ""}
    if spec.id:
        attrs["data-explorable-id"] = spec.id
    name = payload_sink(payload) if payload_sink and len(payload) > embed_limit else None
    if name:
        attrs["data-src"] = name
    else:
        attrs["data-payload"] = payload.decode("utf-8")
    attr_text = " ".join(f'{key}="{html.escape(value, quote=True)}"' if value else key for key, value in attrs.items())
    document = json.loads(payload)
    label = document["model"]["label"]
    parts = [f"<div {attr_text}>"]
    if spec.title:
        parts.append(f'<p class="explorable-title">{author_text(spec.title)}</p>')
    if live:
        first, second = (spec.pair[0], spec.pair[1]) if spec.pair else (spec.text or "", None)
        pair = f' text-b="{html.escape(second, quote=True)}"' if second is not None else ""
        parts.append(f'<explorable-live-view model="{html.escape(live, quote=True)}" '
                     f'text="{html.escape(first, quote=True)}"{pair}></explorable-live-view>')
    for view in spec.shown_views:
        element = REGISTRY.element(view)
        parts.append(f"<{element}></{element}>")
    caption = author_text(_sentence(spec.caption)) if spec.caption else ""
    generated = generated_key(document["tokens"]) if any(map(REGISTRY.draws_generated, spec.shown_views)) else ""
    parts.append(f'<p class="explorable-caption">{caption} <span class="explorable-model">Model: '
                 f'{html.escape(label)}.</span>{generated}{partial_key(document)}{unknown_key(document)}'
                 f'{stopped_note(document.get("generation"))}</p>')
    download = download_link(spec, payload) if download_link else None
    if download:
        parts.append(f'<p class="explorable-download"><a href="{html.escape(download, quote=True)}" download="'
                     f'{html.escape(download_name(spec), quote=True)}" title="This figure as one HTML file that '
                     'opens anywhere, without network">download HTML</a></p>')
    parts.append('<noscript><p class="explorable-caption">This interactive figure needs JavaScript.</p></noscript>')
    parts.append("</div>")
    return "".join(parts)


def author_text(text: str, isolate: bool = True) -> str:
    """An author's title, caption or error text as HTML: escaped, every character of `errors.MARKED` (the explicit
    bidi controls, the line and paragraph separators U+2028 / U+2029, NUL and the other controls) drawn as the token
    views draw characters without a glyph (`<span class="xp-mark">⟨202E⟩</span>`, its name in the tooltip), and
    the whole in `<bdi>` (unless `isolate` is False: an error line, alone in its `<code>`), so that nothing in it
    reorders the page around it (the "Model: ..." label after a caption) and a right-to-left caption still reads
    right to left.

    Why marks and not isolation alone: an override inside the text (U+202E) would still reverse the rest of the
    text itself, showing the reader words the author did not write in that order (Unicode's bidi algorithm, UAX #9,
    sections 2.2 and 2.4); drawn as a mark it reorders nothing, and the author sees the pasted character."""
    out, start = [], 0
    for found in MARKED.finditer(text):
        char = found.group()
        out.append(html.escape(text[start:found.start()]))
        code = f"{ord(char):04X}"
        name = unicodedata.name(char, _CONTROL_NAMES.get(char, "control character"))
        out.append(f'<span class="xp-mark" title="U+{code} {name}">⟨{code}⟩</span>')
        start = found.end()
    out.append(html.escape(text[start:]))
    return f"<bdi>{''.join(out)}</bdi>" if isolate else "".join(out)


# The C0 / C1 controls have no name in the Unicode Character Database (only aliases): those met most often
_CONTROL_NAMES = {"\x00": "NULL", "\x0b": "LINE TABULATION", "\x0c": "FORM FEED", "\x1b": "ESCAPE",
                  "\x7f": "DELETE", "\x85": "NEXT LINE"}


def author_plain_text(text: str) -> str:
    """`author_text` where no markup may go (an HTML `<title>`): escaped, each marked character as ⟨202E⟩."""
    return html.escape(marked(text))


def _sentence(caption: str) -> str:
    """The author's caption, ended with a full stop when it ends without punctuation, so that the "Model: ..." after
    it reads as a sentence of its own."""
    caption = caption.rstrip()
    return caption if not caption or unicodedata.category(caption[-1])[0] == "P" else caption + "."


def generated_key(tokens: list[dict]) -> str:
    """The key to the mark of generated tokens (the widgets' `xp-gen` underline), when the block has any, else ''."""
    if not any(token.get("generated") for token in tokens):
        return ""
    return ' <span class="explorable-gen"><span class="xp-gen">Underlined</span> tokens were generated by the model.</span>'


def partial_key(document: dict) -> str:
    """The key to the dashed underline of partial tokens (the widgets' `xp-partial`: a token holding only some of a
    character's bytes, shown with the whole character, so an emoji split into three tokens shows three times), when
    any token of the block, or of a section's own sentences, is partial; else ''."""
    if not _any_token(document, "partial"):
        return ""
    return (' <span class="explorable-part"><span class="xp-partial">Dashed</span> tokens hold only some of the bytes of '
            'a character (an emoji is often split into several tokens): each piece shows the whole character.</span>')


def unknown_key(document: dict) -> str:
    """The key to the wavy underline of unknown tokens (the widgets' `xp-unk`: text the tokenizer's vocabulary lacks,
    such as an emoji for MiniLM, read by the model as its unknown token), when any token of the block, or of a
    section's own sentences, is unknown; else ''."""
    if not _any_token(document, "unknown"):
        return ""
    return (' <span class="explorable-unk"><span class="xp-unk">Wavy-underlined</span> text is not in the '
            "tokenizer's vocabulary: the model reads its unknown token there.</span>")


def _any_token(document: dict, flag: str) -> bool:
    """Whether a token of the block, or of a section's own sentences (`tokens_a`, `tokens_b`), has `flag` set."""
    lists = [document.get("tokens") or []]
    for section in document.values():
        if isinstance(section, dict):
            lists += [section.get(key) or [] for key in ("tokens_a", "tokens_b")]
    return any(isinstance(token, dict) and token.get(flag) for tokens in lists for token in tokens)


def download_name(spec: SpecBase) -> str:
    """File name a reader saves a figure's standalone HTML under: its id, else a short digest of its spec."""
    return f"{spec.id or 'explorable-' + spec.digest()[:10]}.html"


def stopped_note(generation: dict | None) -> str:
    """A caption sentence when generation ended before the requested number of tokens, else ''."""
    if not generation or generation.get("stop_token") is None:
        return ""
    done, asked = generation["generated"], generation["requested"]
    return (f' <span class="explorable-stopped">The model stopped after {done} of the {asked} tokens it was asked to '
            f"generate: it wrote \u201c{html.escape(generation['stop_token'])}\u201d, its end token.</span>")
