"""`explorables export [ID ...] --out DIR`: one standalone HTML file per explorable (see standalone.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterable

from ..errors import ExplorableError, each
from ..spec import SpecBase


class UnknownIds(ExplorableError):
    """IDs asked for that no curated spec or docs block has."""


def names(spec: SpecBase) -> list[str]:
    """What `explorables export NAME` accepts for a spec: its id; the name its standalone file gets (`ID` or
    `explorable-DIGEST`, without `.html`); and for a docs block, `FILE:LINE` with any line of the block."""
    from ..widget_html import download_name

    known = [spec.id] if spec.id else []
    known.append(download_name(spec).removesuffix(".html"))
    lines = spec._lines.values()
    if spec._file != "<spec>" and lines:
        known += [f"{spec._file}:{line}" for line in range(min(lines) - 1, max(lines) + 2)]
    return list(dict.fromkeys(known))


def select(specs: list[SpecBase], ids: list[str]) -> list[SpecBase]:
    """The specs named by `ids` (see `names`; in that order), or every spec when `ids` is empty.

    Raises UnknownIds naming the unknown ones and listing the known ids and file names."""
    if not ids:
        return specs
    by_name: dict[str, SpecBase] = {}
    for spec in specs:
        for name in names(spec):
            by_name.setdefault(name, spec)
    unknown = [name for name in ids if name not in by_name]
    if unknown:
        listed = sorted({names(spec)[0] for spec in specs})
        raise UnknownIds(f"unknown explorable{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; known: "
                         f"{', '.join(listed) or 'none'} (a docs block also answers to FILE:LINE, e.g. "
                         f"docs/attention.md:12; a 'use:' block answers to its curated id)")
    return list({id(spec): spec for spec in (by_name[name] for name in ids)}.values())


def export(specs: list[SpecBase], baker, out: Path,
           progress: Callable[[list[SpecBase]], Iterable[SpecBase]] = iter) -> tuple[list[Path], list[ExplorableError]]:
    """Write each spec's standalone page into `out` (created if needed), baking through `baker` (its cache; a
    spec not baked yet is baked here, minutes for a SmolLM2 block); `progress` wraps the specs (the CLI's bar).

    Returns the files written and the errors met (a spec that fails does not stop the others)."""
    from ..widget_html import download_name
    from .standalone import standalone_html

    out.mkdir(parents=True, exist_ok=True)
    written, errors = [], []
    for spec in progress(specs):
        try:
            page = standalone_html(spec, baker.payload(spec))
        except ExplorableError as error:
            errors.append(error)
            continue
        path = out / download_name(spec)
        path.write_text(page, encoding="utf-8")
        written.append(path)
    return written, errors


def main(specs: list[SpecBase], baker, ids: list[str], out: Path, invalid: list[ExplorableError] = (),
         root: Path = Path("."), progress: Callable[[list[SpecBase]], Iterable[SpecBase]] = iter) -> int:
    """The command: `invalid` are the errors met while reading the specs (already shown to the author), with files
    named relative to `root`; `progress` wraps the specs while they are baked and written (the CLI's bar)."""
    try:
        chosen = select(specs, ids)
    except UnknownIds as error:
        broken = [name for name in ids if _in_broken_block(name, invalid, root)]
        if broken:
            print(f"error: {', '.join(broken)}: no explorable can be read there; fix the error above to export it",
                  file=sys.stderr)
        else:
            print(f"error: {error}", file=sys.stderr)
        return 2
    written, errors = export(chosen, baker, out, progress)
    for error in errors:
        for one in each(error):
            print(f"error: {one}", file=sys.stderr)
    print(f"{len(written)} standalone HTML files in {out} ({baker.baked} baked, the rest from the cache)")
    return 1 if errors else 0


def _in_broken_block(name: str, invalid, root: Path) -> bool:
    """Whether `name` is FILE:LINE inside a docs block of FILE that failed to read (its error was shown)."""
    from ..fences import page_blocks

    file, _, line = name.rpartition(":")
    errors = [error.line for error in invalid if getattr(error, "file", None) == file and error.line]
    if not (file and line.isdigit() and errors):
        return False
    try:
        offset, blocks = page_blocks((root / file).read_text(encoding="utf-8-sig"))
    except OSError:
        return False
    for block in blocks:      # 1-based lines of the file, fences included
        first, last = block.start + 1 + offset, block.end + 1 + offset
        if first <= int(line) <= last:
            return any(first <= at <= last for at in errors)
    return False
