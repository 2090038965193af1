"""Command line: `explorables check` validates specs without running models; `explorables bake` fills the cache;
`explorables export` writes standalone HTML files; `explorables log` sends explorables to an experiment tracker."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import ExplorableError
from .markdown_ext import PageContext, find_blocks
from .spec import Catalogue, ExplorableSpec, spec_from_block


def collect(root: Path, docs: str, explorables: str) -> tuple[list[ExplorableSpec], list[ExplorableError]]:
    """Every curated spec and every Markdown block under docs/, validated; errors are collected, not raised."""
    specs: list[ExplorableSpec] = []
    errors: list[ExplorableError] = []
    try:
        catalogue = Catalogue.load(root / explorables)
        specs.extend(catalogue.specs.values())
    except ExplorableError as error:
        return [], [error]
    for page in sorted((root / docs).rglob("*.md")):
        text = page.read_text(encoding="utf-8-sig")
        for block in find_blocks(text.splitlines()):
            context = PageContext(str(page.relative_to(root)))
            try:
                spec = spec_from_block(block.body, file=context.file, line_offset=block.body_line - 1,
                                       catalogue=catalogue)
            except ExplorableError as error:
                errors.append(error)
                continue
            if spec.digest() not in {known.digest() for known in specs}:
                specs.append(spec)
    return specs, errors


def copy_assets(target: Path) -> int:
    from importlib import resources
    source = resources.files("generator") / "assets"
    for folder in ("js", "css"):
        (target / folder).mkdir(parents=True, exist_ok=True)
        for asset in (source / folder).iterdir():
            if asset.name.endswith((".js", ".css")):
                (target / folder / asset.name).write_bytes(asset.read_bytes())
    print(f"copied the widgets' assets to {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="explorables", description=__doc__)
    parser.add_argument("--root", default=".", help="project folder (holding docs/ and explorables/)")
    parser.add_argument("--docs", default="docs", help="Markdown folder, relative to --root")
    parser.add_argument("--explorables", default="explorables", help="curated specs folder, relative to --root")
    parser.add_argument("--cache", default=".cache/explorables", help="bake cache folder, relative to --root")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="validate every spec and block without running a model")
    commands.add_parser("bake", help="bake every curated spec and Markdown block into the cache")
    assets = commands.add_parser("assets", help="copy the widgets' scripts and styles into a folder")
    assets.add_argument("target", help="folder to copy into (assets/explorables/ of your site)")
    export = commands.add_parser("export", help="write one self-contained HTML file per explorable")
    export.add_argument("ids", nargs="*", metavar="ID", help="explorable ids (default: every curated spec and block)")
    export.add_argument("--out", default="explorables-html", help="folder to write into (default: explorables-html)")
    from .tracking.command import add_parser as add_log_parser
    add_log_parser(commands)
    args = parser.parse_args(argv)
    root = Path(args.root)
    if args.command == "assets":
        return copy_assets(Path(args.target))

    specs, errors = collect(root, args.docs, args.explorables)
    if args.command in ("export", "log"):
        for error in errors:
            print(f"error: {error}", file=sys.stderr)
        from .bake import Baker
        baker = Baker(root / args.cache, base_dir=root)
        if args.command == "export":
            from .export.command import main as export_main
            return export_main(specs, baker, args.ids, Path(args.out)) or (1 if errors else 0)
        from .tracking.command import main as log_main
        return log_main(specs, baker, args) or (1 if errors else 0)
    if args.command == "check":
        from .bake import Baker
        baker = Baker(root / args.cache, base_dir=root)
        for spec in specs:
            try:
                baker.source(spec)
            except ExplorableError as error:
                errors.append(error)
    else:
        from tqdm import tqdm

        from .bake import Baker
        baker = Baker(root / args.cache, base_dir=root)
        for spec in tqdm(specs, desc="baking", unit="explorable", file=sys.stderr):
            try:
                baker.payload(spec)
            except ExplorableError as error:
                errors.append(error)
        print(f"{len(specs)} explorables: {baker.baked} baked, {len(specs) - baker.baked - len(errors)} from cache")
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if args.command == "check" and not errors:
        print(f"{len(specs)} explorables: all valid")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
