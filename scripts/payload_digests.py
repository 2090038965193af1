"""Bake every curated spec and docs block with a fresh cache and print one line per payload: `sha256  name`.

Used to prove that a refactor changes no baked byte:

    python scripts/payload_digests.py > before.txt      # on the old commit
    python scripts/payload_digests.py --check before.txt  # on the new one: exit 1 and a diff if any payload changed

Names are the curated id, or `page:line` for an inline docs block. Runs every model (a cold bake of the site).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def digests(root: Path) -> dict[str, str]:
    sys.path.insert(0, str(root))
    from generator.bake import Baker
    from generator.cli import collect

    specs, errors = collect(root, "docs", "explorables")
    if errors:
        raise SystemExit("\n".join(str(error) for error in errors))
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as cache:
        baker = Baker(cache, base_dir=root)
        for spec in specs:
            name = spec.id or f"{spec.file}:{spec.digest()[:12]}"
            out[name] = hashlib.sha256(baker.payload(spec)).hexdigest()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", type=Path, help="a file written by an earlier run: compare and fail on change")
    args = parser.parse_args()
    current = digests(ROOT)
    lines = [f"{digest}  {name}" for name, digest in sorted(current.items())]
    if not args.check:
        print("\n".join(lines))
        return 0
    before = dict(reversed(line.split("  ", 1)) for line in args.check.read_text().splitlines() if line.strip())
    changed = sorted(name for name in before.keys() | current.keys() if before.get(name) != current.get(name))
    for name in changed:
        print(f"changed: {name}: {before.get(name, 'absent')[:12]} -> {current.get(name, 'absent')[:12]}")
    print(f"{len(current)} payloads, {len(changed)} changed")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
