"""The ordercore command: demo, schema, plugins, version, and errors."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from ordercore import __version__
from ordercore.cli import main
from ordercore.testing import OrderFactory


class TestDemo:
    def test_demo_stores_reads_back_and_balances(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The demo writes N orders to SQLite and prints per-channel tables whose money adds up."""
        db = tmp_path / "demo.db"
        assert main(["demo", "--orders", "300", "--db", str(db), "--quiet"]) == 0
        out = capsys.readouterr().out
        assert "ordercore demo: 300 orders" in out
        assert "result: OK" in out
        assert "-> equal" in out
        with sqlite3.connect(db) as raw:
            assert raw.execute("SELECT count(*) FROM orders").fetchone()[0] == 300
            channels = {row[0] for row in raw.execute("SELECT DISTINCT channel FROM orders")}
        assert {"taobao", "douyin", "pdd", "jd"} <= channels
        all_row = next(
            line for line in out.splitlines() if line.startswith("all ") and "300" in line
        )
        assert all_row.split()[-1] == "300"

    def test_demo_shows_progress_unless_quiet(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Progress goes to standard error, one line per quarter when not on a terminal."""
        assert main(["demo", "--orders", "40", "--db", str(tmp_path / "d.db")]) == 0
        err = capsys.readouterr().err
        assert "40/40 orders stored 100%" in err
        assert "orders read back" in err

    def test_demo_replaces_its_own_database_but_not_other_files(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Running twice gives a fresh database; a foreign file is refused with exit status 1."""
        db = tmp_path / "demo.db"
        assert main(["demo", "--orders", "20", "--db", str(db), "--quiet"]) == 0
        assert main(["demo", "--orders", "25", "--db", str(db), "--quiet"]) == 0
        assert "25 orders" in capsys.readouterr().out
        foreign = tmp_path / "notes.txt"
        foreign.write_text("keep me")
        assert main(["demo", "--orders", "5", "--db", str(foreign), "--quiet"]) == 1
        assert "not an ordercore database" in capsys.readouterr().err
        assert foreign.read_text() == "keep me"

    def test_demo_refuses_zero_orders(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A request for no orders is an error with exit status 1, not an empty report."""
        assert main(["demo", "--orders", "0", "--db", str(tmp_path / "d.db")]) == 1
        assert "at least one order" in capsys.readouterr().err


class TestSchema:
    def test_schema_prints_a_json_schema_that_validates_orders(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The printed schema is draft 2020-12 and accepts the JSON of realistic orders."""
        assert main(["schema"]) == 0
        schema = json.loads(capsys.readouterr().out)
        assert schema["$schema"].endswith("2020-12/schema")
        validator = jsonschema.Draft202012Validator(schema)
        for order in OrderFactory(seed=5).orders(40):
            validator.validate(order.model_dump(mode="json"))

    def test_schema_to_a_file(self, tmp_path: Path) -> None:
        """--output writes the schema of the chosen model to a file."""
        target = tmp_path / "event.json"
        assert main(["schema", "--model", "OrderEvent", "--output", str(target)]) == 0
        assert json.loads(target.read_text())["title"] == "OrderEvent"


class TestInfo:
    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        """version names ordercore, Python and pydantic."""
        assert main(["version"]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"ordercore {__version__}\n")
        assert "pydantic" in out and "python" in out

    def test_plugins_lists_every_group(self, capsys: pytest.CaptureFixture[str]) -> None:
        """plugins prints each group and marks the built-in stores."""
        assert main(["plugins"]) == 0
        out = capsys.readouterr().out
        for group in ("ordercore.storage", "ordercore.connectors", "ordercore.notifiers"):
            assert group in out
        assert "sqlite" in out and "[built in]" in out

    def test_usage_errors_exit_with_status_2(self) -> None:
        """An unknown command is argparse's usage error."""
        with pytest.raises(SystemExit) as caught:
            main(["frobnicate"])
        assert caught.value.code == 2

    def test_the_installed_command_runs(self) -> None:
        """python -m ordercore.cli works as the console script does."""
        done = subprocess.run(
            [sys.executable, "-m", "ordercore.cli", "version"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.startswith("ordercore ")
