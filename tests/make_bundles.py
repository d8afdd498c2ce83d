"""Write the checked-in test bundles (tests/bundles/): ``python tests/make_bundles.py [--out DIR]``.

Needs torch (export/); the runtime tests then load these folders without it. Run it again whenever
export/ changes what a bundle contains: tests/test_fixture_bundles.py fails until the checked-in
files match what the recipes (tests/bundle_recipes.py) build.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUNDLES = HERE / "bundles"
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from bundle_recipes import CHECKED_IN  # noqa: E402


def build(out: Path) -> dict:
    """Build every checked-in bundle into ``out/<name>``; returns {name: folder}."""
    out.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, recipe in CHECKED_IN.items():
        made[name] = recipe(out / name)
    return made


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=BUNDLES, help=f"folder of the bundles (default {BUNDLES})")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        made = build(Path(tmp))
        for name, folder in made.items():
            dest = args.out / name
            if dest.exists():
                shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(folder, dest)
            size = sum(f.stat().st_size for f in dest.iterdir())
            print(f"{dest}: {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
