"""Command-line interface: one sub-command per workflow step.

Every Snakemake rule is a thin call of one of these (``na64flow <step> --help``). Step modules are
imported lazily so ``na64flow --help`` stays fast. A step module provides ``add_arguments(parser)``
and ``run(args) -> int``; its module docstring's first paragraph is the sub-command help.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import NA64Error, __version__

# step name -> module implementing it (relative to the package)
STEPS: dict[str, str] = {
    "check-config": "config",
    "simulate": "simulation.cli",
    "merge": "simulation.merge",
    "process": "processing",
    "cutflow": "cutflow",
    "tracklengths": "physics.cascade_cli",
    "signal": "signal",
    "background": "background",
    "normalisation": "normalisation",
    "closure": "closure",
    "coverage": "coverage",
    "limits": "stats_cli",
    "freeze": "blinding",
    "unblind": "unblind",
    "publish": "publish",
    "plot": "plotting",
}


def _load(step: str):
    return importlib.import_module(f"na64flow.{STEPS[step]}")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="na64flow",
        description="Blinded NA64 dark-sector analysis workflow. Each sub-command is one workflow step; "
        "`snakemake --cores all` runs them all in order.",
    )
    parser.add_argument("--version", action="version", version=f"na64flow {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="step", metavar="STEP")
    wanted = None
    if argv:
        wanted = next((a for a in argv if not a.startswith("-")), None)
    for step in STEPS:
        if wanted is not None and step != wanted:
            # only import the step actually requested; list the others by name
            sub.add_parser(step, help=f"(see na64flow {step} --help)", add_help=False)
            continue
        try:
            mod = _load(step)
        except ModuleNotFoundError as exc:  # step not available in this installation
            sub.add_parser(step, help=f"unavailable: {exc}")
            continue
        doc = (mod.__doc__ or "").strip().split("\n\n")[0].replace("%", "%%")  # argparse formats help
        p = sub.add_parser(step, help=doc.splitlines()[0] if doc else step,
                           description=mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if args.step is None else 2
    try:
        return int(args._run(args) or 0)
    except NA64Error as exc:
        print(f"na64flow {args.step}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
