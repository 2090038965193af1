"""`explorables export [ID ...] --out DIR`: one standalone HTML file per explorable (see standalone.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ExplorableError
from ..spec import SpecBase


class UnknownIds(ExplorableError):
    """IDs asked for that no curated spec or docs block has."""


def select(specs: list[SpecBase], ids: list[str]) -> list[SpecBase]:
    """The specs named by `ids` (in that order), or every spec when `ids` is empty.

    Raises UnknownIds naming the unknown ids and listing the known ones."""
    if not ids:
        return specs
    by_id = {spec.id: spec for spec in specs if spec.id}
    unknown = [name for name in ids if name not in by_id]
    if unknown:
        raise UnknownIds(f"unknown explorable id{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                         f"known ids: {', '.join(sorted(by_id)) or 'none'}")
    return [by_id[name] for name in dict.fromkeys(ids)]


def export(specs: list[SpecBase], baker, out: Path) -> tuple[list[Path], list[ExplorableError]]:
    """Write each spec's standalone page into `out` (created if needed), baking through `baker` (its cache).

    Returns the files written and the errors met (a spec that fails does not stop the others)."""
    from ..markdown_ext import download_name
    from .standalone import standalone_html

    out.mkdir(parents=True, exist_ok=True)
    written, errors = [], []
    for spec in specs:
        try:
            page = standalone_html(spec, baker.payload(spec))
        except ExplorableError as error:
            errors.append(error)
            continue
        path = out / download_name(spec)
        path.write_text(page, encoding="utf-8")
        written.append(path)
    return written, errors


def main(specs: list[SpecBase], baker, ids: list[str], out: Path) -> int:
    try:
        chosen = select(specs, ids)
    except UnknownIds as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    written, errors = export(chosen, baker, out)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    print(f"{len(written)} standalone HTML files in {out} ({baker.baked} baked, the rest from the cache)")
    return 1 if errors else 0
