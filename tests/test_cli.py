"""The ordercore command: demo, schema, plugins, version, exit statuses and errors."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

import ordercore.demo
from ordercore import __version__, plugins
from ordercore.cli import _EXIT_STATUSES, main
from ordercore.demo import _DEMO_MARKER, _DEMO_MARKER_TABLE
from ordercore.storage import SQLiteStore
from ordercore.testing import OrderFactory


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed command as a separate process, as a user's shell would."""
    return subprocess.run(
        [sys.executable, "-m", "ordercore.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def _make_distribution(root: Path, name: str, entry_points: str = "") -> None:
    """Write an installed-looking distribution (a dist-info directory) under ``root``."""
    info = root / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    if entry_points:
        (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty directory on sys.path where tests install fake distributions."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    plugins.reset()
    yield root
    plugins.reset()


class TestDemo:
    def test_demo_stores_reads_back_and_balances(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The demo writes N orders to SQLite and prints tables whose counts and money add up."""
        db = tmp_path / "demo.db"
        assert main(["demo", "--orders", "300", "--db", str(db), "--quiet"]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"ordercore demo: 300 orders in {db}\n")
        assert "result: OK" in out
        assert out.count("-> equal") == 2
        with SQLiteStore(db) as store:
            assert store.count() == 300
            channels = {order.channel for order in store.query(limit=300)}
        assert {"taobao", "douyin", "pdd", "jd"} <= channels
        all_rows = [line.split() for line in out.splitlines() if line.startswith("all ")]
        assert all_rows[0][-1] == "300"  # the status table's total
        assert all_rows[1][1] == "300"  # the money table's order count

    def test_the_default_database_is_in_the_working_directory(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without --db the demo writes ordercore-demo.db where it runs, and can run again."""
        monkeypatch.chdir(tmp_path)
        assert main(["demo", "--orders", "5", "--quiet"]) == 0
        assert main(["demo", "--orders", "6", "--quiet"]) == 0
        assert "6 orders in ordercore-demo.db" in capsys.readouterr().out
        made = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm")))
        assert made == ["ordercore-demo.db"]

    def test_progress_goes_to_standard_error_as_plain_lines(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Off a terminal, progress is whole lines with rate and time taken, never redraws."""
        assert main(["demo", "--orders", "40", "--db", str(tmp_path / "d.db")]) == 0
        captured = capsys.readouterr()
        err = captured.err.splitlines()
        assert "\r" not in captured.err
        stored = [line for line in err if "orders stored" in line]
        assert stored[-1].startswith("40/40 orders stored 100%")
        assert "/s  took " in stored[-1]
        assert any(line.startswith("40/40 orders read back 100%") for line in err)
        assert "orders stored" not in captured.out

    def test_quiet_prints_nothing_but_the_summary(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--quiet leaves standard error empty."""
        assert main(["demo", "--orders", "40", "--db", str(tmp_path / "d.db"), "--quiet"]) == 0
        captured = capsys.readouterr()
        assert captured.err == ""
        assert captured.out.rstrip().endswith("result: OK")

    def test_demo_replaces_its_own_database(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Running twice on the same file gives a fresh database marked as the demo's."""
        db = tmp_path / "demo.db"
        assert main(["demo", "--orders", "20", "--db", str(db), "--quiet"]) == 0
        assert main(["demo", "--orders", "25", "--db", str(db), "--quiet"]) == 0
        assert "25 orders" in capsys.readouterr().out
        with SQLiteStore(db) as store:
            assert store.count() == 25
        with contextlib.closing(sqlite3.connect(db)) as raw:
            marker = raw.execute(f"SELECT id, note FROM {_DEMO_MARKER_TABLE}").fetchall()
        assert marker == [(1, _DEMO_MARKER)]

    def test_an_ordercore_store_is_not_deleted(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A real store holding ordercore's tables is refused with status 3 and kept as it was."""
        db = tmp_path / "orders.db"
        with SQLiteStore(db) as store:
            store.put(OrderFactory(seed=1).order())
        before = db.read_bytes()
        assert main(["demo", "--orders", "5", "--db", str(db), "--quiet"]) == 3
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert err.startswith(f"error: {db} exists and was not made by ordercore demo")
        assert db.read_bytes() == before
        with SQLiteStore(db) as store:
            assert store.count() == 1

    def test_a_demo_database_without_its_marker_is_refused(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """It is the marker row, not the tables, that lets the demo delete a file."""
        db = tmp_path / "demo.db"
        assert main(["demo", "--orders", "5", "--db", str(db), "--quiet"]) == 0
        with contextlib.closing(sqlite3.connect(db)) as raw, raw:
            raw.execute(f"DELETE FROM {_DEMO_MARKER_TABLE}")
        assert main(["demo", "--orders", "5", "--db", str(db), "--quiet"]) == 3
        assert "was not made by ordercore demo" in capsys.readouterr().err
        with SQLiteStore(db) as store:
            assert store.count() == 5

    @pytest.mark.parametrize("kind", ["text", "empty", "application", "directory"])
    def test_other_files_are_refused_untouched(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
    ) -> None:
        """Any existing file the demo did not make is refused with status 3, byte for byte kept."""
        target = tmp_path / "target"
        if kind == "text":
            target.write_text("keep me")
        elif kind == "empty":
            target.touch()
        elif kind == "application":
            with contextlib.closing(sqlite3.connect(target)) as raw, raw:
                raw.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
        else:
            target.mkdir()
        before = None if kind == "directory" else target.read_bytes()
        assert main(["demo", "--orders", "5", "--db", str(target), "--quiet"]) == 3
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.splitlines() == [
            f"error: {target} exists and was not made by ordercore demo; it was left untouched "
            "(pass another --db path) [config-invalid] (see "
            "https://github.com/ordercore/ordercore/blob/main/docs/errors.md#config-invalid)"
        ]
        if before is not None:
            assert target.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]

    def test_demo_refuses_zero_orders(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A request for no orders is an ordercore error: status 1, one line, no file made."""
        db = tmp_path / "d.db"
        assert main(["demo", "--orders", "0", "--db", str(db)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: the demo needs at least one order [config-invalid]")
        assert err.count("\n") == 1
        assert not db.exists()

    def test_failed_checks_exit_with_status_4(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """When the demo's own checks fail, the summary says so and the status is 4."""
        real = ordercore.demo.run_demo

        def damaged(*args: object, **kwargs: object) -> ordercore.demo.DemoSummary:
            summary = real(*args, **kwargs)  # type: ignore[arg-type]
            summary.problems.append("order x: row and body disagree")
            return summary

        monkeypatch.setattr(ordercore.demo, "run_demo", damaged)
        assert main(["demo", "--orders", "3", "--db", str(tmp_path / "d.db"), "--quiet"]) == 4
        assert "result: PROBLEMS FOUND" in capsys.readouterr().out

    def test_help_documents_the_options_and_exit_statuses(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """demo --help names each option and every exit status with its meaning."""
        with pytest.raises(SystemExit) as caught:
            main(["demo", "--help"])
        assert caught.value.code == 0
        text = " ".join(capsys.readouterr().out.split())
        for option in ("--orders", "--db", "--seed", "--quiet", "ordercore-demo.db"):
            assert option in text
        for status, meaning in _EXIT_STATUSES.items():
            assert f"{status} {' '.join(meaning.split())}" in text
        assert set(_EXIT_STATUSES) == {0, 1, 2, 3, 4, 5, 130, 141}


class TestUserErrors:
    def test_schema_to_a_missing_directory_is_one_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An unwritable --output is reported as one error line naming the file, status 1."""
        target = tmp_path / "missing" / "dir" / "x.json"
        assert main(["schema", "-o", str(target)]) == 1
        err = capsys.readouterr().err
        assert err.splitlines() == [
            f"error: cannot write the schema to {target}: No such file or directory "
            "[config-invalid] (see "
            "https://github.com/ordercore/ordercore/blob/main/docs/errors.md#config-invalid)"
        ]

    def test_schema_error_from_a_real_process_has_no_traceback(self, tmp_path: Path) -> None:
        """The installed command prints the one line and exits 1, without a traceback."""
        done = _run("schema", "-o", str(tmp_path / "missing" / "x.json"))
        assert done.returncode == 1
        assert done.stderr.startswith("error: cannot write the schema to ")
        assert "Traceback" not in done.stderr
        assert done.stdout == ""

    def test_ctrl_c_exits_with_status_130(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """KeyboardInterrupt ends the command with 'error: interrupted' and status 130."""

        def interrupted(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(ordercore.demo, "run_demo", interrupted)
        assert main(["demo", "--db", str(tmp_path / "d.db")]) == 130
        assert capsys.readouterr().err == "error: interrupted\n"

    def test_ctrl_c_in_a_real_process_is_one_line(self, tmp_path: Path) -> None:
        """SIGINT during a long demo ends it with status 130 and no traceback."""
        demo = subprocess.Popen(
            [sys.executable, "-m", "ordercore.cli", "demo", "--orders", "100000", "--quiet"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        try:
            deadline = time.monotonic() + 30
            while not (tmp_path / "ordercore-demo.db").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
            demo.send_signal(signal.SIGINT)
            out, err = demo.communicate(timeout=60)
        finally:
            demo.kill()
        assert demo.returncode == 130
        assert err == "error: interrupted\n"
        assert out == ""

    def test_an_environment_error_is_one_line(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An OSError the commands do not expect is still one line with the file it concerns."""

        def full(*args: object, **kwargs: object) -> None:
            raise OSError(28, "No space left on device", "/var/tmp/d.db")

        monkeypatch.setattr(ordercore.demo, "run_demo", full)
        assert main(["demo", "--db", str(tmp_path / "d.db")]) == 1
        assert capsys.readouterr().err == "error: No space left on device (/var/tmp/d.db)\n"

    def test_a_closed_pipe_exits_quietly_with_status_141(self, tmp_path: Path) -> None:
        """Output into a pipe whose reader has gone ends with status 141 and no noise."""
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "ordercore.cli", "demo", "--orders", "30", "--quiet"],
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                cwd=tmp_path,
                check=False,
            )
        finally:
            os.close(write_end)
        assert done.returncode == 141
        assert done.stderr == ""

    def test_demo_piped_into_head(self, tmp_path: Path) -> None:
        """``ordercore demo | head -2`` shows two lines and no traceback or 'Exception ignored'."""
        done = subprocess.run(
            f"{sys.executable} -m ordercore.cli demo --orders 2000 | head -2",
            shell=True,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        assert done.returncode == 0
        assert done.stdout.splitlines() == ["ordercore demo: 2,000 orders in ordercore-demo.db", ""]
        assert "Traceback" not in done.stderr
        assert "Exception ignored" not in done.stderr
        assert done.stderr.splitlines()[-1].startswith("2000/2000 orders read back 100%")


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
    def test_version_names_the_distribution(self, capsys: pytest.CaptureFixture[str]) -> None:
        """version names ordercore-oms and its import name, Python and pydantic."""
        assert main(["version"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0] == f"ordercore-oms {__version__} (import name ordercore)"
        assert out[1].startswith("python ")
        assert out[2].startswith("pydantic ")

    def test_version_lists_plugin_distributions_with_versions(
        self, site: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each distribution declaring ordercore entry points is listed with its version."""
        _make_distribution(site, "acme-orders", "[ordercore.storage]\nacme = acme_store:Store\n")
        _make_distribution(site, "unrelated-tool", "[console_scripts]\ntool = tool:main\n")
        assert main(["version"]) == 0
        out = capsys.readouterr().out
        plugin_lines = out[out.index("plugins:\n") :].splitlines()[1:]
        assert "  acme-orders 0.1.0" in plugin_lines
        assert not any("unrelated-tool" in line for line in plugin_lines)
        assert not any("ordercore-oms" in line for line in plugin_lines)

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
        done = _run("version")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("ordercore-oms ")


class TestClashingDistribution:
    @pytest.mark.parametrize("name", ["ordercore", "OrderCore", "ORDERCORE"])
    @pytest.mark.parametrize("command", ["version", "plugins"])
    def test_the_unrelated_ordercore_distribution_is_named_and_explained(
        self, site: Path, capsys: pytest.CaptureFixture[str], name: str, command: str
    ) -> None:
        """A distribution named ordercore (any case) is reported on stderr with status 5."""
        _make_distribution(site, name)
        assert main([command]) == 5
        captured = capsys.readouterr()
        first_line = "ordercore-oms " if command == "version" else "ordercore.connectors\n"
        assert captured.out.startswith(first_line)  # the report itself is still printed
        err = captured.err
        assert f"the installed distribution {name!r} 0.1.0 (in {site})" in err
        assert "is a different project, not this ordercore (distribution 'ordercore-oms')" in err
        assert "uninstall it with: pip uninstall ordercore" in err

    @pytest.mark.parametrize("name", ["ordercore-oms", "ordercore-postgres", "ordercore_tools"])
    def test_related_names_are_not_a_clash(
        self, site: Path, capsys: pytest.CaptureFixture[str], name: str
    ) -> None:
        """Only the exact normalised name ordercore clashes; ours and plugins do not."""
        _make_distribution(site, name)
        assert main(["version"]) == 0
        assert capsys.readouterr().err == ""

    def test_a_real_process_sees_the_clash(self, tmp_path: Path) -> None:
        """The command run as its own process finds the distribution on its path and exits 5."""
        _make_distribution(tmp_path, "ordercore")
        path = os.pathsep.join([str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])
        done = _run("version", env={**os.environ, "PYTHONPATH": path})
        assert done.returncode == 5
        assert done.stdout.startswith("ordercore-oms ")
        assert "pip uninstall ordercore" in done.stderr
        assert "Traceback" not in done.stderr
