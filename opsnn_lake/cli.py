"""The ``opsnn-lake`` command line: a thin layer over the public API.

Each sub-command lives with the feature it drives: a module listed in :data:`COMMANDS`
that defines ``configure(parser, command)`` (add its options) and ``run(args) -> int``
(do the work, return the exit code). Every command takes ``--lake`` (default ``./lake``).
Exit codes: 0 success, 1 some work failed, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from opsnn_lake.errors import LakeError

__all__ = ["COMMANDS", "main"]

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("opsnn_lake.demo", "run a small real NEST sweep into the lake and summarise it"),
    "sweep": ("opsnn_lake.sweep", "run a parameter sweep from a YAML spec"),
    "ingest": ("opsnn_lake.ingest", "ingest neo files, sPyNNaker run folders or tonic data"),
    "export": ("opsnn_lake.export", "export runs as NWB files or SONATA spike reports"),
    "catalog": ("opsnn_lake.catalog", "write the intake catalog YAML for the lake"),
    "ls": ("opsnn_lake.cli_lake", "list runs (filter with --where key=value)"),
    "check": ("opsnn_lake.cli_lake", "find orphan stores, rows and staging left-overs"),
    "reindex": ("opsnn_lake.cli_lake", "rebuild the index from the stores"),
    "analyse": ("opsnn_lake.analysis.cli", "compute statistics across runs"),
    "plot": ("opsnn_lake.analysis.cli", "plot a raster or a statistic against parameters"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only ``command``'s module is imported and given its options.

    Importing just the chosen command keeps start-up quick and keeps every other
    command working when one feature's dependencies are missing.
    """
    parser = argparse.ArgumentParser(prog="opsnn-lake", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.add_argument("--lake", default="lake", help="lake directory (default: ./lake)")
        cmd.set_defaults(_module=None)
        if name != command:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            # Only a missing command module (or its package) marks the command as
            # unavailable; a missing dependency inside it is a real error.
            if err.name is None or not (module_name + ".").startswith(err.name + "."):
                raise
            continue
        module.configure(cmd, name)
        cmd.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``opsnn-lake``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    if args._module is None:
        print(f"opsnn-lake {args.command}: not available in this installation", file=sys.stderr)
        return 2
    try:
        return int(args._module.run(args))
    except LakeError as err:
        print(f"opsnn-lake {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
