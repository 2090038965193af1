"""Command line: `explorables check` validates specs against each model's files without torch; `explorables bake`
fills the cache; `explorables export` writes standalone HTML files; `explorables log` sends explorables to an
experiment tracker."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .errors import ExplorableError, SpecError, SpecErrors, each, marked
from .fences import page_blocks
from .precheck import check_against_files  # noqa: F401 (check uses it; tests import it from here)
from .spec import Catalogue, SpecBase, spec_from_block
from .widgets import copy_assets


def collect(root: Path, docs: str, explorables: str, every: bool = False
            ) -> tuple[list[SpecBase], list[ExplorableError]]:
    """Every curated spec and every Markdown block under docs/, validated; errors are collected, not raised. A block
    that computes what an earlier one does (the same `digest` and the same `device` and `dtype` as written: it
    differs in views, title or caption only) is left out, as baking it again would give the same payload, unless
    `every` (`check`: the rules of its views are its own, and an error there must be reported at its lines). A
    twin that differs in device or dtype is kept: the baker adds them to the cache key (`Baker.key`)."""
    specs: list[SpecBase] = []
    errors: list[ExplorableError] = []
    catalogue = Catalogue.load(root / explorables, root)
    ids: dict[str, str] = {}        # id -> FILE:LINE of the block that declared it first
    specs.extend(catalogue.specs.values())
    errors.extend(catalogue.errors)
    for page in sorted((root / docs).rglob("*.md")):
        offset, blocks = page_blocks(page.read_text(encoding="utf-8-sig"))
        file = page.relative_to(root).as_posix()
        for block in blocks:
            problem = block.problem(file, offset)     # a misnamed fence, or a block never closed
            if problem is not None:
                errors.append(problem)
                continue
            try:
                spec = spec_from_block(block.body, file=file,
                                       line_offset=block.body_line - 1 + offset, catalogue=catalogue)
                catalogue.claim_id(spec, ids)
            except ExplorableError as error:
                errors.append(error)
                continue
            if every or _computes(spec) not in {_computes(known) for known in specs}:
                specs.append(spec)
    return specs, errors


def _computes(spec: SpecBase) -> tuple[str, str | None, str | None]:
    """What a bake of `spec` computes: its digest, and its device and dtype as written (None: the site's)."""
    return spec.digest(), spec.device, spec.dtype


def partial_errors(error: ExplorableError, baker) -> list[SpecError]:
    """For a block (or curated entry) the schema refused: the errors the model's rules find in the options it did
    take (`SpecError.partial`: the spec without its refused values), so that `check` reports a head outside the model
    together with, say, a misspelt field of the same block. Only errors at an option of a method ('interventions.
    heads', 'neuron.layers', 'lens.watch'), which are each about the value written there and the model, and none
    under a value left out, about a value not written ('none is given', maybe for a misspelt key) or at a place
    already reported; a rule that weighs several fields (a view the model cannot show, `generate` on an encoder)
    could be an effect of a value left out, and waits for the fixed block."""
    from .methods import REGISTRY

    partial = getattr(error, "partial", None)
    if partial is None:
        return []
    spec, gone = partial
    try:
        check_against_files(spec, baker.source(spec), precision=baker.precision(spec))
    except ExplorableError as found:
        options = {method.name for method in REGISTRY if method.options is not None}
        reported = {(one.file, one.line, one.field) for one in each(error) if isinstance(one, SpecError)}
        left_out = [tuple(map(str, path)) for path in gone]
        return [one for one in each(found) if isinstance(one, SpecError) and one.field and "." in one.field
                and one.field.split(".")[0] in options and (one.file, one.line, one.field) not in reported
                and _written(spec, one.field)
                and not any(tuple(one.field.split("."))[:len(path)] == path for path in left_out)]
    return []


def _written(spec: SpecBase, field: str) -> bool:
    """Whether the author wrote the value at `field` ('interventions.heads.0'): an error about a value not given
    ('none is given') may be the effect of a misspelt key left out of the partial spec."""
    return tuple(int(part) if part.isdigit() else part for part in field.split(".")) in spec._lines


def reading_order(errors: list[ExplorableError]) -> list[ExplorableError]:
    """Each error of `errors` (those of a `SpecErrors` one by one) in the order an author reads their files: by file,
    then by line (`SpecErrors.order`), whichever step found it (the schema when reading the blocks, the model's files
    in `check`, the bake); errors on one line keep the order they were found in (for one field's list entries, left
    to right). Errors that name no file (a cache that cannot be reached) come last, as found."""
    flat = [one for error in errors for one in each(error)]
    placed = [one for one in flat if isinstance(one, SpecError)]
    return sorted(placed, key=SpecErrors.order) + [one for one in flat if not isinstance(one, SpecError)]


def print_errors(errors: list[ExplorableError]) -> None:
    """One `error: FILE:LINE: ...` line per error on stderr, in reading order (`reading_order`); a bidi control or
    other character without a glyph in a quoted key or value is written as its mark, ⟨202E⟩ (`errors.marked`)."""
    for one in reading_order(errors):
        print(f"error: {marked(str(one))}", file=sys.stderr)


def make_baker(root: Path, args: argparse.Namespace):
    """The baker of --cache (a folder under --root, or a URL), --cache-option, --device and --dtype. Raises
    ExplorableError (CacheError) when a remote cache cannot be reached, or for an option that is not KEY=VALUE."""
    from .bake import Baker
    from .cache import locate

    options = {}
    for option in args.cache_option:
        name, equals, value = option.partition("=")
        if not equals or not name:
            raise ExplorableError(f"--cache-option {option!r}: write KEY=VALUE, e.g. endpoint_url=http://host:9000")
        options[name] = value
    try:
        return Baker(locate(root, args.cache), base_dir=root, cache_options=options, device=args.device,
                     dtype=args.dtype)
    except ValueError as error:
        raise ExplorableError(str(error)) from None


def show_notices() -> None:
    """Print the generator's log lines of level INFO and up (a healed cache entry, a model loading, a block
    baking) on stderr, as MkDocs shows them in a build; through tqdm, so that a progress bar is not torn. Once
    per process."""
    logger = logging.getLogger("mkdocs.plugins.explorables")
    if any(getattr(handler, "explorables_cli", False) for handler in logger.handlers):
        return
    handler = _TqdmHandler()
    handler.explorables_cli = True
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def bake_bar(specs: list[SpecBase]):
    """The progress bar of every command that may bake (`bake`, `export`, `log`): over the specs, on stderr."""
    from tqdm import tqdm
    return tqdm(specs, desc="baking", unit="explorable", file=sys.stderr)


class _TqdmHandler(logging.Handler):
    def emit(self, record) -> None:
        from tqdm import tqdm
        tqdm.write(self.format(record), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="explorables", description=__doc__)
    parser.add_argument("--root", default=".", help="project folder (holding docs/ and explorables/)")
    parser.add_argument("--docs", default="docs", help="Markdown folder, relative to --root")
    parser.add_argument("--explorables", default="explorables", help="curated specs folder, relative to --root")
    parser.add_argument("--cache", default=".cache/explorables", help="bake cache folder, relative to --root")
    parser.add_argument("--cache-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a storage option of a cache URL (fsspec), e.g. endpoint_url=http://127.0.0.1:9000; "
                             "repeat for several")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"),
                        help="where models run, for blocks that do not say (default: EXPLORABLES_DEVICE, else cpu)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"),
                        help="the models' number format, for blocks that do not say (default: EXPLORABLES_DTYPE, "
                             "else float32)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="validate every spec and block without running a model")
    bake = commands.add_parser("bake", help="bake every curated spec and Markdown block into the cache")
    bake.add_argument("--executor", choices=("local", "ray"), default="local",
                      help="local: on this machine's cores, this process and a child process per further core "
                           "(default); ray: on a Ray cluster, one worker per model, each writing its payloads to "
                           "the cache (explorables[ray])")
    bake.add_argument("--address", help="host:port of a running Ray cluster's head (default: start one here)")
    bake.add_argument("--workers", type=int, help="bakes at once, each at one torch thread (default: local, this "
                                                        "machine's cores, at most 4; ray, the cluster's CPUs)")
    assets = commands.add_parser("assets", help="copy the widgets' scripts and styles into a folder")
    assets.add_argument("target", help="folder to copy into (assets/explorables/ of your site)")
    export = commands.add_parser("export", help="write one self-contained HTML file per explorable")
    export.add_argument("ids", nargs="*", metavar="NAME",
                        help="curated ids, exported file names (explorable-...) or 'FILE:LINE' of a docs block "
                             "(default: every curated spec and block)")
    export.add_argument("--out", default="explorables-html", help="folder to write into (default: explorables-html)")
    from .tracking.command import add_parser as add_log_parser
    add_log_parser(commands)
    args = parser.parse_args(argv)
    root = Path(args.root)
    if args.command == "assets":
        count = copy_assets(Path(args.target))
        print(f"copied the widgets' {count} assets to {args.target}")
        return 0

    show_notices()
    specs, errors = collect(root, args.docs, args.explorables, every=args.command == "check")
    try:
        baker = make_baker(root, args)
    except ExplorableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.command in ("export", "log"):
        print_errors(errors)
        if args.command == "export":
            from .export.command import main as export_main
            return export_main(specs, baker, args.ids, Path(args.out), errors, root,
                               progress=bake_bar) or (1 if errors else 0)
        from .tracking.command import main as log_main
        return log_main(specs, baker, args, progress=bake_bar) or (1 if errors else 0)
    if args.command == "check":
        for spec in specs:
            try:
                check_against_files(spec, baker.source(spec), precision=baker.precision(spec))
            except ExplorableError as error:
                errors.append(error)
        for error in list(errors):
            errors.extend(partial_errors(error, baker))
    elif args.executor == "ray":
        from .distributed.ray_bake import bake as ray_bake
        try:
            baked, cached, failed = ray_bake(specs, baker, address=args.address, workers=args.workers)
        except ExplorableError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        errors.extend(failed)
        for name in baked:
            print(f"baked {name}")
        print(f"{len(specs)} explorables: {len(baked)} baked on Ray, {cached} from cache")
    else:
        if args.address:
            print("error: --address is a setting of --executor ray", file=sys.stderr)
            return 1
        if args.workers is not None and args.workers < 1:
            print(f"error: --workers must be 1 or more, not {args.workers}", file=sys.stderr)
            return 1
        from .distributed.local import bake_here
        baked = bake_here(specs, baker, workers=args.workers)
        failed = 0          # (`errors` also holds those of blocks that are not specs: unreadable, unknown fields)
        for spec in bake_bar(specs):
            before = baker.baked
            try:
                baker.payload(spec)
            except ExplorableError as error:
                errors.append(error)
                failed += 1
            if baker.baked > before:
                baked.append(spec.where())
        for name in baked:
            print(f"baked {name}")
        print(f"{len(specs)} explorable{'' if len(specs) == 1 else 's'}: {len(baked)} baked, "
              f"{len(specs) - len(baked) - failed} from cache")
    print_errors(errors)
    if args.command == "check" and not errors:
        print(f"{len(specs)} explorable{'' if len(specs) == 1 else 's'}: all valid")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
