"""One explorable as a self-contained HTML file: it opens from file:// with no network, and every view works.

Everything is inlined: the widgets' classic scripts (the core, the groups of the views shown and the save buttons'
drawing code) and stylesheet
(the same files the site's offline copy ships), a small stylesheet that gives the page Material's palette variables in light and dark, a script that
follows the reader's `prefers-color-scheme`, and the payload in the container's `data-payload` attribute (the
same markup the Markdown extension writes). The page also states what was measured: title, caption, model, and
the text the model read (with what it generated).

The file is a pure function of the spec's presentation fields and the payload bytes: the site's "download HTML"
link and `explorables export` give byte-identical files, and nothing in them depends on the time or the machine.
"""

from __future__ import annotations

import hashlib
import html
import json
from importlib import resources

from ..spec import SpecBase
from ..widget_html import author_plain_text, author_text, render_widget
from ..widgets import ENTRY, FIGURE, group_scripts
from .assets import STYLES, asset_text

GENERATOR = "explorables"


def _own(name: str) -> str:
    return (resources.files("generator") / "export" / name).read_text(encoding="utf-8")


def _inline_script(code: str) -> str:
    """A <script> element holding `code`; HTML ends a script at '</script', so such text must not occur."""
    if "</script" in code.lower() or "<!--" in code:
        raise ValueError("script text contains '</script' or '<!--' and cannot be inlined as is")
    return f"<script>{code}</script>"


def _inline_style(css: str) -> str:
    if "</style" in css.lower():
        raise ValueError("stylesheet contains '</style' and cannot be inlined")
    return f"<style>{css}</style>"


def _generated_text(payload: dict) -> str:
    return "".join(token["text"] for token in payload.get("tokens", []) if token.get("generated"))


def _about(spec: SpecBase, payload: dict) -> str:
    """What the model read: a definition list of model, text or sentence pair, and generated continuation."""
    model = payload.get("model", {})
    rows = [("Model", f"{model.get('label', spec.model)} ({model.get('architecture', '?')}, "
                      f"{model.get('n_layers', '?')} layers, {model.get('n_heads', '?')} heads)")]
    if spec.pair:
        rows += [("Sentence A", None, spec.pair[0]), ("Sentence B", None, spec.pair[1])]
    elif spec.text is not None:
        rows.append(("Text", None, spec.text))
    generated = _generated_text(payload)
    if spec.generate:
        rows.append((f"Generated ({spec.generate} tokens, greedy)", None, generated))
    parts = ['<dl class="xs-about">']
    for row in rows:
        label, plain = row[0], row[1]
        parts.append(f"<dt>{html.escape(label)}</dt>")
        if plain is not None:
            parts.append(f"<dd>{html.escape(plain)}</dd>")
        else:
            parts.append(f'<dd><div class="xs-text">{author_text(row[2])}</div></dd>')
    parts.append("</dl>")
    return "".join(parts)


def standalone_html(spec: SpecBase, payload: bytes) -> str:
    """The standalone page of one explorable.

    spec: the explorable (its title, caption, views and text are shown); payload: its baked JSON bytes.
    Returns the page as text (UTF-8 when written). Raises ValueError if an inlined asset cannot be inlined safely.
    """
    document = json.loads(payload)
    title = spec.title or spec.id or "Explorable"
    # the container as on the site, payload embedded; the title is the page's heading instead, and stays in the
    # container hidden, where the save buttons read it for the saved figure's title
    widget = render_widget(spec.model_copy(update={"title": title}), payload, embed_limit=len(payload) + 1).replace(
        '<p class="explorable-title">', '<p class="explorable-title" hidden>', 1)
    footer = (f"Baked by {GENERATOR} (payload schema_version {document.get('schema_version')}"
              + (f", explorable '{html.escape(spec.id)}'" if spec.id else "")
              + "). This file needs no network: the widgets and the data are inside it.")
    return "".join([
        "<!doctype html>\n",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f'<meta name="generator" content="{GENERATOR}">',
        f"<title>{author_plain_text(title)}</title>",
        _inline_style(asset_text(STYLES)),
        _inline_style(_own("standalone.css")),
        "</head><body>",
        _inline_script(_own("theme.js")),
        f"<main><h1>{author_text(title, isolate=False)}</h1>",
        _about(spec, document),
        widget,
        f"<footer>{footer}</footer></main>",
        *(_inline_script(asset_text(f"bundle/{script.rsplit('/', 1)[1]}")) for script in [ENTRY, *group_scripts(widget), FIGURE]),
        "</body></html>\n",
    ])


def content_name(page: str) -> str:
    """Content-addressed name of a page on the site (assets/explorables/standalone/NAME)."""
    return hashlib.sha256(page.encode("utf-8")).hexdigest()[:20] + ".html"
