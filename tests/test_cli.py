"""The opsnn-lake command line: every sub-command parses; the lake commands work."""

from __future__ import annotations

import pytest

from opsnn_lake.cli import COMMANDS, build_parser, main


def test_every_command_is_in_the_parser(capsys):
    for name, (_, help_text) in COMMANDS.items():
        with pytest.raises(SystemExit) as exc:
            build_parser(name).parse_args([name, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert help_text in out and "--lake" in out


def test_ls_and_check_on_a_real_lake(lake, nest_block, capsys):
    run_id = lake.add(nest_block, model="net", parameters={"g_inh": 51.0}, seed=3)
    assert main(["ls", "--lake", str(lake.path), "--where", "g_inh=40..60"]) == 0
    out = capsys.readouterr().out
    assert run_id in out and "1 runs" in out
    assert main(["check", "--lake", str(lake.path)]) == 0
    assert "OK (1 runs)" in capsys.readouterr().out


def test_missing_lake_is_a_clear_error(tmp_path, capsys):
    assert main(["ls", "--lake", str(tmp_path / "nowhere")]) == 2
    assert "no lake here" in capsys.readouterr().err


def test_unknown_command_exits_with_usage_error():
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_one_module_per_command_and_argparse_only_in_the_cli_package():
    import ast
    import importlib
    from pathlib import Path

    import opsnn_lake

    for name, (module_name, _) in COMMANDS.items():
        assert module_name == f"opsnn_lake.cli.{name}"
        module = importlib.import_module(module_name)
        assert callable(module.configure) and callable(module.run)
    package = Path(opsnn_lake.__file__).parent
    for path in package.rglob("*.py"):
        if path.is_relative_to(package / "cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert "argparse" not in names, f"{path} imports argparse"


def test_only_the_chosen_command_module_is_imported():
    import subprocess
    import sys

    code = (
        "import sys; from opsnn_lake.cli import build_parser; build_parser('ls'); "
        "print(sorted(m for m in sys.modules if m.startswith('opsnn_lake.cli.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['opsnn_lake.cli._where', 'opsnn_lake.cli.ls']"


@pytest.mark.parametrize("where", ["before", "after"])
def test_plot_takes_lake_before_or_after_the_kind(lake, nest_block, tmp_path, where):
    run_id = lake.add(nest_block, model="net", parameters={"g_inh": 51.0}, seed=3)
    png = tmp_path / "raster.png"
    args = ["raster", run_id[:12], "-o", str(png)]
    lake_args = ["--lake", str(lake.path)]
    argv = ["plot", *lake_args, *args] if where == "before" else ["plot", *args, *lake_args]
    assert main(argv) == 0
    assert png.stat().st_size > 0
