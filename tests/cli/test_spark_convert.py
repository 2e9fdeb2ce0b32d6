"""`crbio spark-convert` refuses, before Spark starts, what cannot work (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bridge.cli.main import app
from tests.helpers import EXAMPLES


def spark_convert(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    command = ["spark-convert", *(str(a) for a in args)]
    return CliRunner().invoke(app, command, env={"COLUMNS": "200", **(env or {})})


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["missing-folder", "out"], "no such file or directory: missing-folder"),
        ([".", "out"], "no *.xml file in ."),
        ([EXAMPLES, EXAMPLES / "glucose-two-units.xml"], "exists and is not a directory"),
        ([EXAMPLES, EXAMPLES], "is not empty: give --overwrite, or another folder"),
        ([EXAMPLES, EXAMPLES / "out"], "is inside"),
        ([EXAMPLES, "out", "--format", "csv"], "'csv' is not one of"),
    ],
)
def test_usage_errors(
    arguments: list[str | Path], said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = spark_convert(*arguments)
    assert result.exit_code == 2, result.output
    assert said in flat(result.output)
    assert not (EXAMPLES / "out").exists()


def test_smt_while_offline_is_a_usage_error(tmp_path: Path) -> None:
    result = spark_convert(EXAMPLES, tmp_path / "out", "--smt", env={"BRIDGE_OFFLINE": "1"})
    assert result.exit_code == 2
    assert "BRIDGE_OFFLINE is set" in flat(result.output)


def test_terminology_without_a_store_is_a_usage_error(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'none.sqlite3'}"
    result = spark_convert(
        EXAMPLES, tmp_path / "out", "--terminology", env={"BRIDGE_DATABASE_URL": database}
    )
    assert result.exit_code == 2
    assert "import the JDV there first" in flat(result.output)
