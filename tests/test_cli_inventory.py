"""``ordercore inventory verify | repair | show`` on real SQLite files."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ordercore.cli import _EXIT_ERROR, _EXIT_OK, _EXIT_PROBLEMS, _EXIT_STATUSES, _EXIT_USAGE, main
from ordercore.inventory import (
    BackorderPolicy,
    Location,
    ReservationLine,
    ReservationRequest,
    open_inventory,
)
from ordercore.schema import Actor
from ordercore.storage import SQLiteStore
from ordercore.testing import OrderFactory

STAFF = Actor(kind="person", id="li")


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A SQLite file with two warehouses, three stock levels, a commit and a backorder.

    MUG-1@WH-HZ: 10 received, o1 holds 2, o2 committed 1 -> on hand 9, reserved 2.
    MUG-1@WH-GZ: 4 received. TEA-1@WH-HZ: 3 received, o3 waits for 5 more (backordered).
    """
    path = tmp_path / "shop.db"
    with open_inventory(_url(path)) as inventory:
        inventory.add_location(Location(id="WH-HZ", name="Hangzhou", region="east_china"))
        inventory.add_location(Location(id="WH-GZ", name="Guangzhou", region="south_china"))
        inventory.receive("MUG-1", "WH-HZ", 10, actor=STAFF)
        inventory.receive("MUG-1", "WH-GZ", 4, actor=STAFF)
        inventory.receive("TEA-1", "WH-HZ", 3, actor=STAFF)
        for rid, quantity in (("o1", 2), ("o2", 1)):
            line = ReservationLine(sku="MUG-1", quantity=quantity, location="WH-HZ")
            inventory.reserve(ReservationRequest(reservation_id=rid, lines=[line]))
        inventory.commit("o2")
        inventory.reserve(
            ReservationRequest(
                reservation_id="o3",
                lines=[ReservationLine(sku="TEA-1", quantity=5, location="WH-HZ")],
                channel="douyin",
                backorder=BackorderPolicy.WAIT,
            )
        )
    return path


def _tamper(path: Path, sql: str) -> None:
    """Write a counter directly, behind the inventory's back (what drift looks like)."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(sql)


def _counters(path: Path, sku: str, location: str) -> tuple[int, int, int, int]:
    with open_inventory(_url(path)) as inventory:
        (level,) = inventory.stock(sku, location)
    return level.on_hand, level.reserved, level.in_transfer, level.damaged


def _table(out: str) -> list[list[str]]:
    """The body rows of the first table in ``out``, split on runs of two spaces."""
    lines = out.splitlines()
    rule = next(
        i for i, line in enumerate(lines) if line.strip() and set(line.strip()) <= {"-", " "}
    )
    body = []
    for line in lines[rule + 1 :]:
        if not line.startswith("  "):
            break
        body.append([cell.strip() for cell in line.split("  ") if cell.strip()])
    return body


DRIFT = (
    "UPDATE ordercore_stock SET on_hand = on_hand + 3, reserved = reserved + 1 "
    "WHERE sku = 'MUG-1' AND location = 'WH-HZ'"
)


class TestVerify:
    def test_a_clean_inventory_exits_0_with_one_line(
        self, shop: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Counters that match the ledger: one line, status 0."""
        assert main(["inventory", "verify", _url(shop)]) == _EXIT_OK
        out = capsys.readouterr().out
        assert out.splitlines() == [
            f"{_url(shop)}: no drift: every counter of 3 stock levels matches the sum of its "
            "ledger entries"
        ]

    def test_drift_is_a_table_per_counter_with_status_4(
        self, shop: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A counter written behind the ledger's back is reported with both values and the
        difference, and the status says problems were found."""
        _tamper(shop, DRIFT)
        assert main(["inventory", "verify", _url(shop)]) == _EXIT_PROBLEMS == 4
        out = capsys.readouterr().out
        assert out.startswith(f"{_url(shop)}: 2 counters at 1 stock level drift from the ledger")
        assert _table(out) == [
            ["MUG-1", "WH-HZ", "on_hand", "12", "9", "+3"],
            ["MUG-1", "WH-HZ", "reserved", "3", "2", "+1"],
        ]
        header = next(line for line in out.splitlines() if line.lstrip().startswith("sku "))
        assert header.split() == ["sku", "location", "counter", "stored", "ledger", "difference"]
        assert out.rstrip().endswith(f"ordercore inventory repair {_url(shop)}")
        assert _counters(shop, "MUG-1", "WH-HZ") == (12, 3, 0, 0)  # verify changes nothing

    def test_a_counter_below_its_ledger_has_a_negative_difference(
        self, shop: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Lost units show as a minus difference."""
        _tamper(
            shop,
            "UPDATE ordercore_stock SET on_hand = 1 WHERE sku = 'MUG-1' AND location = 'WH-GZ'",
        )
        assert main(["inventory", "verify", _url(shop)]) == 4
        assert _table(capsys.readouterr().out) == [["MUG-1", "WH-GZ", "on_hand", "1", "4", "-3"]]

    def test_the_status_is_documented(self) -> None:
        """Status 4 names inventory verify in the exit status list."""
        assert "inventory verify" in _EXIT_STATUSES[_EXIT_PROBLEMS]


class TestRepair:
    def test_yes_rebuilds_the_counters_and_verify_is_clean_after(
        self, shop: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--yes shows the change, rebuilds the counters from the ledger and verifies again."""
        _tamper(shop, DRIFT)
        assert main(["inventory", "repair", _url(shop), "--yes"]) == _EXIT_OK
        out = capsys.readouterr().out
        assert "2 counters at 1 stock level would be set to the ledger's value" in out
        assert _table(out)[0] == ["MUG-1", "WH-HZ", "on_hand", "12", "9", "+3"]
        assert "repaired 2 counters at 1 stock level from the ledger" in out
        assert out.rstrip().endswith("verify: no drift")
        assert _counters(shop, "MUG-1", "WH-HZ") == (9, 2, 0, 0)
        assert main(["inventory", "verify", _url(shop)]) == _EXIT_OK

    def test_without_yes_off_a_terminal_it_refuses_and_changes_nothing(
        self, shop: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """No --yes and no terminal to ask on: the change is shown, then refused (status 2)."""
        _tamper(shop, DRIFT)
        assert main(["inventory", "repair", _url(shop)]) == _EXIT_USAGE
        captured = capsys.readouterr()
        assert "would be set to the ledger's value" in captured.out
        assert captured.err.splitlines() == [
            "error: not repairing without --yes: standard input is not a terminal to confirm "
            "on; nothing was changed"
        ]
        assert _counters(shop, "MUG-1", "WH-HZ") == (12, 3, 0, 0)

    def test_a_real_process_with_stdin_from_a_pipe_refuses(self, shop: Path) -> None:
        """The installed command, its input a pipe, refuses without --yes."""
        _tamper(shop, DRIFT)
        done = subprocess.run(
            [sys.executable, "-m", "ordercore.cli", "inventory", "repair", _url(shop)],
            input="y\n",
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == _EXIT_USAGE
        assert "not repairing without --yes" in done.stderr
        assert "Traceback" not in done.stderr
        assert _counters(shop, "MUG-1", "WH-HZ") == (12, 3, 0, 0)

    @pytest.mark.parametrize(("answer", "status"), [("y", _EXIT_OK), ("n", _EXIT_ERROR)])
    def test_on_a_terminal_it_asks_first(self, shop: Path, answer: str, status: int) -> None:
        """On a terminal, repair asks; yes repairs, anything else leaves the counters."""
        _tamper(shop, DRIFT)
        controller, terminal = pty.openpty()
        child = subprocess.Popen(
            [sys.executable, "-m", "ordercore.cli", "inventory", "repair", _url(shop)],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(terminal)
        try:
            # The terminal keeps the typed line until the command reads it.
            os.write(controller, f"{answer}\n".encode())
            out, err = child.communicate(timeout=60)
        finally:
            child.kill()
            os.close(controller)
        assert child.returncode == status, err
        assert "rebuild these 2 counters from the ledger? [y/N]" in out
        if answer == "y":
            assert "repaired 2 counters" in out
            assert _counters(shop, "MUG-1", "WH-HZ") == (9, 2, 0, 0)
        else:
            assert err.splitlines() == ["error: repair not confirmed; nothing was changed"]
            assert _counters(shop, "MUG-1", "WH-HZ") == (12, 3, 0, 0)

    def test_nothing_to_repair(self, shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A clean inventory needs no confirmation: one line, status 0."""
        assert main(["inventory", "repair", _url(shop)]) == _EXIT_OK
        assert capsys.readouterr().out.splitlines() == [
            f"{_url(shop)}: no drift: every counter matches the ledger; nothing to repair"
        ]


class TestShow:
    def test_the_table_has_every_counter_reservations_and_backorders(
        self, shop: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each stock level with on hand, reserved, in transfer, damaged, available, open
        reservations (o1 only: o2 is committed) and backordered units, then the queue."""
        assert main(["inventory", "show", _url(shop)]) == _EXIT_OK
        out = capsys.readouterr().out
        assert out.startswith(f"{_url(shop)}: 3 stock levels (SKU at location)\n")
        assert _table(out) == [
            ["MUG-1", "WH-GZ", "4", "0", "0", "0", "4", "0", "0"],
            ["MUG-1", "WH-HZ", "9", "2", "0", "0", "7", "1", "0"],
            ["TEA-1", "WH-HZ", "3", "0", "0", "0", "3", "0", "5"],
        ]
        queue = out[out.index("backorders: 1 request waiting for 5 units") :]
        assert _table(queue)[0][:5] == ["o3", "TEA-1", "WH-HZ", "5", "douyin"]

    def test_filters_and_json(self, shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--sku and --location narrow the rows; --json gives the same numbers as data."""
        assert main(["inventory", "show", _url(shop), "--sku", "MUG-1", "--json"]) == 0
        document = json.loads(capsys.readouterr().out)
        assert [(row["location"], row["available"]) for row in document["stock"]] == [
            ("WH-GZ", 4),
            ("WH-HZ", 7),
        ]
        assert document["stock"][1] == {
            "sku": "MUG-1",
            "location": "WH-HZ",
            "on_hand": 9,
            "reserved": 2,
            "in_transfer": 0,
            "damaged": 0,
            "available": 7,
            "open_reservations": 1,
            "backordered": 0,
        }
        assert document["backorders"] == []
        assert main(["inventory", "show", _url(shop), "--location", "WH-HZ", "--json"]) == 0
        document = json.loads(capsys.readouterr().out)
        assert [(row["sku"], row["location"]) for row in document["stock"]] == [
            ("MUG-1", "WH-HZ"),
            ("TEA-1", "WH-HZ"),
        ]
        assert [(b["reservation_id"], b["quantity"]) for b in document["backorders"]] == [("o3", 5)]

    def test_an_unknown_sku_has_no_stock(
        self, shop: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A SKU never received is not an error: no rows."""
        assert main(["inventory", "show", _url(shop), "--sku", "NOPE"]) == 0
        out = capsys.readouterr().out
        assert "0 stock levels (SKU at location), SKU NOPE" in out
        assert "(no stock)" in out

    def test_an_unknown_location_is_an_error(
        self, shop: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A --location never added is named with the known ones, status 1."""
        assert main(["inventory", "show", _url(shop), "--location", "WH-XX"]) == _EXIT_ERROR
        err = capsys.readouterr().err
        assert err.startswith("error: unknown location 'WH-XX' in ")
        assert "(known: WH-GZ, WH-HZ)" in err


class TestBadInput:
    @pytest.mark.parametrize("action", ["verify", "repair", "show"])
    def test_a_missing_file_is_one_line_and_is_not_created(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], action: str
    ) -> None:
        """A URL naming no file is refused (status 1) and no database appears."""
        missing = tmp_path / "missing.db"
        assert main(["inventory", action, _url(missing)]) == _EXIT_ERROR
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert err.startswith(
            f"error: {missing} does not exist (from {_url(missing)}); the inventory commands "
            "never create a database"
        )
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("shop.db", "has no scheme"),
            ("sqlite://shop.db", "a sqlite URL has three slashes before a relative path"),
            ("nosuch:///shop.db", "no ordercore.inventory plugin named 'nosuch' is installed"),
            ("memory://", "names an in-memory inventory"),
            ("sqlite://", "names an in-memory inventory"),
        ],
    )
    def test_a_bad_url_is_one_line(
        self, capsys: pytest.CaptureFixture[str], url: str, message: str
    ) -> None:
        """Malformed URLs, unknown schemes and in-memory inventories are errors, status 1."""
        assert main(["inventory", "verify", url]) == _EXIT_ERROR
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1
        assert message in err

    def test_a_file_that_is_not_sqlite(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A text file is refused and kept as it was."""
        target = tmp_path / "notes.db"
        target.write_text("keep me")
        assert main(["inventory", "show", _url(target)]) == _EXIT_ERROR
        assert f"error: {target} is not a SQLite database" in capsys.readouterr().err
        assert target.read_text() == "keep me"

    def test_an_order_store_without_stock_is_left_untouched(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A store that never had an inventory gets no stock tables from a read command."""
        path = tmp_path / "orders.db"
        with SQLiteStore(path) as store:
            store.put(OrderFactory(seed=1).order())
        assert main(["inventory", "verify", _url(path)]) == _EXIT_ERROR
        assert "holds no ordercore inventory (no table ordercore_stock)" in capsys.readouterr().err
        with contextlib.closing(sqlite3.connect(path)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert "ordercore_stock" not in tables

    def test_a_real_process_prints_no_traceback(self, tmp_path: Path) -> None:
        """The installed command reports a missing file in one line, status 1."""
        done = subprocess.run(
            [sys.executable, "-m", "ordercore.cli", "inventory", "show", "sqlite:///nope.db"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        assert done.returncode == _EXIT_ERROR
        assert done.stderr.startswith("error: nope.db does not exist")
        assert "Traceback" not in done.stderr
        assert not (tmp_path / "nope.db").exists()

    def test_help_lists_the_actions_and_exit_statuses(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """inventory --help names verify, repair and show; repair --help names --yes."""
        with pytest.raises(SystemExit) as caught:
            main(["inventory", "--help"])
        assert caught.value.code == 0
        text = " ".join(capsys.readouterr().out.split())
        for action in ("verify", "repair", "show"):
            assert action in text
        with pytest.raises(SystemExit):
            main(["inventory", "repair", "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "--yes" in text
        assert f"{_EXIT_PROBLEMS} {' '.join(_EXIT_STATUSES[_EXIT_PROBLEMS].split())}" in text
