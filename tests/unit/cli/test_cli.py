"""`moltc` dispatch: every subcommand answers --help; bad input is a one-line error with exit code 2."""

from __future__ import annotations

import pytest

from moltc_hf.cli import SUBCOMMANDS, main


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"moltc {command}" in capsys.readouterr().out


def test_unknown_command_and_bad_input_are_clear_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MOLTC_DEBUG", raising=False)
    assert main(["no-such-command"]) == 2
    assert "unknown command 'no-such-command'" in capsys.readouterr().err
    assert main(["build-dataset", "--source", "nosuch", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("moltc build-dataset: error: unknown source(s) ['nosuch']") and "Traceback" not in err
    )
    assert (
        main(["train", "--recipe", "nosuch", "--dataset", str(tmp_path), "--output-dir", str(tmp_path)]) == 2
    )
    assert "No recipe 'nosuch'" in capsys.readouterr().err


def test_build_dataset_kind_is_the_new_name_of_task():
    """`--kind regression` (docs/architecture.md: a task's *kind*) and the 0.1 spelling `--task regression` parse
    to the same option."""
    import argparse

    from moltc_hf.cli import build_dataset

    parser = argparse.ArgumentParser()
    build_dataset.add_arguments(parser)
    base = ["--data-path", "f.csv", "--out", "o"]
    assert parser.parse_args([*base, "--kind", "regression"]).task == "regression"
    assert parser.parse_args([*base, "--task", "binary"]).task == "binary"
