"""The ``course`` command: ``course assign``, ``course fetch``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import data
from .assign import AssignError, assign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="Tools of the deep-learning course pack.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("assign", help="generate notebooks/ (student) from solutions/ (reference)")
    p.add_argument("--solutions", type=Path, default=Path("solutions"), help="default: ./solutions")
    p.add_argument("--out", type=Path, default=Path("notebooks"), help="default: ./notebooks")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if notebooks/ is out of date")
    p.add_argument("--execute", action="store_true",
                   help="first re-run each solution notebook in place (data pinned to the sample, as in CI)")
    p.set_defaults(run=_assign)

    p = commands.add_parser("fetch", help="download datasets into the cache, verified by SHA-256")
    p.add_argument("names", nargs="*", default=["mnist"], choices=[*data.DATASETS, "all"],
                   metavar="DATASET", help=f"one or more of {', '.join(data.DATASETS)}, all (default: mnist)")
    p.add_argument("--dest", type=Path, default=None, help="folder to download into (default: the cache)")
    p.set_defaults(run=_fetch)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (AssignError, data.DataError) as err:
        print(f"course {args.command}: {err}", file=sys.stderr)
        return 1


def _assign(args) -> int:
    if args.execute:
        from .execute import execute_in_place
        for path in sorted(args.solutions.glob("*.ipynb")):
            print(f"executing {path}")
            execute_in_place(path)
    changed = assign(args.solutions, args.out, check=args.check)
    if args.check:
        for path in changed:
            print(f"out of date: {path} (run `course assign`)")
        return 1 if changed else 0
    print(f"wrote {len(changed)} student notebook(s) in {args.out}" if changed else f"{args.out} is up to date")
    return 0


def _fetch(args) -> int:
    names = list(data.DATASETS) if "all" in args.names else args.names
    for name in names:
        dest = args.dest / name if args.dest else None
        paths = data.download(name, dest)
        print(f"{data.DATASETS[name].title}: {len(paths)} files verified in {paths[0].parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
