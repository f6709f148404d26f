"""The opsnn-lake command line: a package of thin commands over the public API.

One module per command, ``opsnn_lake.cli.<name>`` (listed in :data:`COMMANDS`), defines
``configure(parser)`` (add its options) and ``run(args) -> int`` (parse → call the public
API → print; return the exit code). To add a command, write its module and add one line
to :data:`COMMANDS`. Only the chosen command's module is imported. Every command takes
``--lake`` (default ``./lake``), before or after the command name. Exit codes: 0
success, 1 some work failed, 2 bad usage or input. Nothing outside this package
imports argparse.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from opsnn_lake.errors import LakeError

__all__ = ["COMMANDS", "build_parser", "main"]

#: name → (module with configure/run, one-line help). One line per command.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("opsnn_lake.cli.demo", "run a small real NEST sweep into the lake and summarise it"),
    "sweep": ("opsnn_lake.cli.sweep", "run a parameter sweep from a YAML spec"),
    "explore": ("opsnn_lake.cli.explore", "let the lake's analyses choose the next parameters"),
    "ingest": ("opsnn_lake.cli.ingest", "ingest neo files, sPyNNaker run folders or tonic data"),
    "export": ("opsnn_lake.cli.export", "export runs as NWB files or SONATA spike reports"),
    "catalog": ("opsnn_lake.cli.catalog", "write the intake catalog YAML for the lake"),
    "ls": ("opsnn_lake.cli.ls", "list runs (filter with --where key=value)"),
    "check": ("opsnn_lake.cli.check", "find orphan stores, rows and staging left-overs"),
    "reindex": ("opsnn_lake.cli.reindex", "rebuild the index from the stores"),
    "analyse": ("opsnn_lake.cli.analyse", "compute statistics across runs"),
    "plot": ("opsnn_lake.cli.plot", "plot a raster, a statistic or a movie"),
    "report": ("opsnn_lake.cli.report", "write a browsable static HTML report of the lake"),
}

DESCRIPTION = (
    "OpSNN lake: spiking-network runs (PyNN on NEST or SpiNNaker, neo files, tonic data) "
    "as zarr stores with provenance, searchable and analysable across runs."
)
EXAMPLES = """\
examples:
  opsnn-lake demo                                  a small NEST sweep into ./lake
  opsnn-lake sweep simulate/va_sweep.yaml          a parameter x seed sweep
  opsnn-lake ls --where g_inh=40..60               runs with 40 <= g_inh <= 60
  opsnn-lake --lake /data/lake ls --columns all    another lake, every column
  opsnn-lake analyse --where model=va --stat rate --stat cv
  opsnn-lake plot stat --stat rate --x g_inh --hue population -o rate.png
  opsnn-lake plot raster va-3a9f                   a run id or a unique prefix of one
  opsnn-lake report -o report/                     a static HTML site of the runs

'opsnn-lake COMMAND --help' shows a command's options.
"""
DEFAULT_LAKE = "lake"


def lake_option(parser: argparse.ArgumentParser, *, default: str | None = None) -> None:
    """Give ``parser`` the ``--lake`` option (a command's sub-commands call it too)."""
    parser.add_argument(
        "--lake",
        # The sub-command's option has no default of its own, so a --lake given before
        # the command name is not overwritten by it.
        default=argparse.SUPPRESS if default is None else default,
        metavar="DIR|URL",
        help="lake directory or s3://bucket/prefix (default: ./lake); before or after the command",
    )


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only ``command``'s module is imported and given its options.

    Importing just the chosen command keeps start-up quick and keeps every other
    command working when one feature's dependencies are missing.
    """
    parser = argparse.ArgumentParser(
        prog="opsnn-lake",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lake_option(parser, default=DEFAULT_LAKE)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        lake_option(cmd, default=None)
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
        module.configure(cmd)
        cmd.set_defaults(_module=module)
    return parser


def _command_name(argv: Sequence[str]) -> str | None:
    """The sub-command in ``argv``: the first word that is not an option or --lake's value."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--lake":
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``opsnn-lake``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_command_name(argv)).parse_args(argv)
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
