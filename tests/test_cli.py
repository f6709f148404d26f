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
