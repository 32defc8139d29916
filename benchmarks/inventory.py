"""How fast the inventory reserves stock, beside a raw conditional UPDATE on the same database.

Usage::

    python benchmarks/inventory.py [--quick] [--reservations N] [--repeat R] [--json-only]

Each figure is measured in the same run as what it is judged against, on the same
database, with the same requests, in spawned worker processes:

1. SQLite (one file, the inventory's own settings, read off it at run time), with 1
   and 4 processes, on one hot SKU and on 10,000 SKUs: ``Inventory.reserve`` (one
   reservation of one unit per call: what a service reserving per order gets) beside
   the raw peer, one autocommit ``UPDATE stock SET reserved = reserved + ? WHERE
   sku = ? AND location = ? AND on_hand - reserved - in_transfer >= ?`` per
   reservation on a copy of the inventory's stock table in the same file (the floor
   of one conditional write per reservation). For reference: ``reserve_many`` in
   batches of 100 beside the same raw update batched 100 to a transaction.
2. PostgreSQL, when ``ORDERCORE_TEST_POSTGRES_URL`` is set and the
   ``ordercore-postgres`` inventory backend is installed: the same four contenders
   with 1 and 8 connections (one process each), in a scratch schema dropped after.

The hot SKU gets fresh stock for every run, 10 % less than the run's reservations,
so the end of every hot run is refused. After every run (warm-ups included) the
successes are compared with the stock: units sold beyond stock are ``oversold``
(must be 0), and ``verify()`` must report no drift.

Targets are ratios, printed met or not; the last line is one JSON object with every
figure. Nothing is asserted; the exit status is 0.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import queue
import random
import re
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _harness import Rate, Report, stopwatch

import ordercore
from ordercore.errors import InsufficientStock, OrderCoreError
from ordercore.inventory import (
    Inventory,
    LedgerRow,
    Location,
    ReservationLine,
    ReservationRequest,
    open_inventory,
)
from ordercore.schema import Actor

SEED = 20261111
#: SKUs of the many-SKU mix; each has far more stock than all runs reserve.
SKUS = 10_000
SKU_STOCK = 1_000_000
LOCATION = "WH1"
#: Requests per ``reserve_many`` call and per transaction of the batched raw peer.
BATCH = 100
#: Reservations per timed run (all processes together) without ``--quick``; each is of
#: one unit. With ``--quick`` a backend's runs are sized to about QUICK_RUN_S seconds
#: of ``reserve`` (measured in a calibration run of CALIBRATION reservations), a
#: multiple of COUNT_STEP within QUICK_COUNTS.
FULL_RESERVATIONS = 8_000
QUICK_RUN_S = 0.7
CALIBRATION = 120
COUNT_STEP = 40
QUICK_COUNTS = (160, 2_000)
QUICK_REPEAT, FULL_REPEAT = 3, 5
#: The untimed warm-up run of each contender: this share of a run's reservations, and
#: at least WARMUP_MIN per worker.
WARMUP_SHARE = 0.2
WARMUP_MIN = 5
#: The hot SKU's stock per run: this share of the run's reservations is refused.
HOT_SHORT = 0.1
SQLITE_PROCESSES = (1, 4)
POSTGRES_CONNECTIONS = (1, 8)
#: SQLite's own ``wal_autocheckpoint`` (pages), which the raw peer uses.
SQLITE_DEFAULT_AUTOCHECKPOINT = 1000
#: How long the coordinator waits for a worker's answer before giving up.
WORKER_TIMEOUT_S = 600.0

TARGET_SQLITE_RATIO = 0.5
TARGET_POSTGRES_RATIO = 0.7

ACTOR = Actor(kind="system", id="inventory-bench")
RAW_TABLE = "bench_raw_stock"
RAW_UPDATE = (
    "UPDATE {table} SET reserved = reserved + {p} WHERE sku = {p} AND location = {p} "
    "AND on_hand - reserved - in_transfer >= {p}"
)

#: Contender -> how the table names it.
CONTENDERS = {
    "reserve": "Inventory.reserve, one reservation per call",
    "raw": "raw conditional UPDATE, autocommit (peer)",
    "reserve_many": f"Inventory.reserve_many, batches of {BATCH} (reference)",
    "raw_batched": f"raw conditional UPDATE, {BATCH} per transaction (reference peer)",
}


# -- the report ----------------------------------------------------------------------------------


# -- the workers (spawned processes) -------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One worker's share of a run.

    Attributes:
        contender: A key of :data:`CONTENDERS`.
        backend: ``"sqlite"`` or ``"postgres"``.
        target: For the inventory: its URL; for the raw peer: the SQLite file's path
            or the libpq connection string.
        options: Passed to ``open_inventory`` (the inventory) or the settings the raw
            peer's connection gets (SQLite pragmas; PostgreSQL ``synchronous_commit``).
        table: The raw peer's table.
        items: ``(reservation id, sku)`` per reservation of one unit.
    """

    contender: str
    backend: str
    target: str
    options: Mapping[str, Any]
    table: str
    items: Sequence[tuple[str, str]]


@dataclass
class Outcome:
    """What one worker did: when it started and ended (``perf_counter``) and which succeeded."""

    start: float
    end: float
    sold: dict[str, int]
    refused: int


def _open_handle(task: Task) -> Any:
    if task.contender in ("reserve", "reserve_many"):
        return open_inventory(task.target, **task.options)
    if task.backend == "sqlite":
        db = sqlite3.connect(task.target, isolation_level=None, check_same_thread=False)
        for pragma, value in task.options.items():
            db.execute(f"PRAGMA {pragma}={value}").fetchall()
        return db
    import psycopg

    conn = psycopg.connect(task.target, autocommit=True)
    for name, value in task.options.items():
        conn.execute("SELECT set_config(%s, %s, false)", (name, str(value)))
    return conn


def _close_handle(handle: Any) -> None:
    with suppress(Exception):
        handle.close()


def _prepare(task: Task, handles: dict[tuple[str, str], Any]) -> Callable[[], Outcome]:
    """Open (or reuse) the connection and build the inputs; return the timed run."""
    family = "ours" if task.contender in ("reserve", "reserve_many") else "raw"
    key = (family, task.target)
    if key not in handles:
        handles[key] = _open_handle(task)
    handle = handles[key]
    skus = [sku for _, sku in task.items]
    ok = bytearray(len(task.items))
    if family == "ours":
        requests = [
            ReservationRequest(
                reservation_id=rid,
                lines=(ReservationLine(sku=sku, quantity=1, location=LOCATION),),
            )
            for rid, sku in task.items
        ]
        inventory: Inventory = handle
        if task.contender == "reserve":
            reserve = inventory.reserve

            def work() -> None:
                for number, request in enumerate(requests):
                    try:
                        reserve(request)
                    except InsufficientStock:
                        continue
                    ok[number] = 1

        else:
            request_batches = [requests[i : i + BATCH] for i in range(0, len(requests), BATCH)]
            reserve_many = inventory.reserve_many

            def work() -> None:
                number = 0
                for batch in request_batches:
                    for result in reserve_many(batch):
                        if not isinstance(result, InsufficientStock):
                            ok[number] = 1
                        number += 1

    else:
        placeholder = "?" if task.backend == "sqlite" else "%s"
        sql = RAW_UPDATE.format(table=task.table, p=placeholder)
        params = [(1, sku, LOCATION, 1) for sku in skus]
        if task.contender == "raw":
            execute = handle.execute

            def work() -> None:
                for number, values in enumerate(params):
                    ok[number] = execute(sql, values).rowcount

        else:
            # Each transaction updates its rows in key order, as reserve_many locks them.
            row_batches = [
                sorted(range(i, min(i + BATCH, len(params))), key=lambda n: params[n][1])
                for i in range(0, len(params), BATCH)
            ]
            begin = "BEGIN IMMEDIATE" if task.backend == "sqlite" else "BEGIN"
            execute = handle.execute

            def work() -> None:
                for batch in row_batches:
                    execute(begin)
                    try:
                        for number in batch:
                            ok[number] = execute(sql, params[number]).rowcount
                    except BaseException:
                        execute("ROLLBACK")
                        raise
                    execute("COMMIT")

    def run() -> Outcome:
        with stopwatch():
            start = time.perf_counter()
            work()
            end = time.perf_counter()
        sold = Counter(sku for sku, done in zip(skus, ok, strict=True) if done)
        return Outcome(start, end, dict(sold), len(ok) - sum(ok))

    return run


def worker_main(tasks: Any, results: Any, number: int) -> None:
    """A worker's loop: ``("prepare", Task)``, ``("go",)``, ``("ping",)``, ``("close",)``;
    ``None`` ends it."""
    handles: dict[tuple[str, str], Any] = {}
    run: Callable[[], Outcome] | None = None
    # What exists now (modules, connections) is never garbage: keep it out of the
    # collection each timed section starts with, so that collection stays short.
    gc.freeze()
    while True:
        message = tasks.get()
        if message is None:
            break
        try:
            if message[0] == "prepare":
                known = len(handles)
                run = _prepare(message[1], handles)
                if len(handles) > known:
                    gc.freeze()
                results.put(("ready", number, None))
            elif message[0] == "go":
                assert run is not None
                outcome, run = run(), None
                results.put(("done", number, outcome))
            elif message[0] == "ping":
                results.put(("pong", number, None))
            elif message[0] == "close":
                for handle in handles.values():
                    _close_handle(handle)
                handles.clear()
                results.put(("closed", number, None))
        except Exception as exc:  # reported to the coordinator, which decides
            results.put(("error", number, f"{type(exc).__name__}: {exc}"))
    for handle in handles.values():
        _close_handle(handle)


class WorkerError(RuntimeError):
    """A worker failed a task (the message names the worker and what it raised)."""


class Workers:
    """Spawned worker processes; a run gives each of the first ``k`` workers its share."""

    def __init__(self, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.results = context.Queue()
        self.tasks = [context.Queue() for _ in range(size)]
        self.processes = [
            context.Process(
                target=worker_main,
                args=(self.tasks[n], self.results, n),
                name=f"inventory-bench-{n}",
                daemon=True,
            )
            for n in range(size)
        ]
        for process in self.processes:
            process.start()

    def wait_ready(self) -> None:
        """Wait until every worker has started (imported ordercore), so none competes for
        the CPUs with the first measurements."""
        for task_queue in self.tasks:
            task_queue.put(("ping",))
        self._collect(len(self.tasks), "pong")

    def _collect(self, count: int, expected: str) -> dict[int, Any]:
        answers: dict[int, Any] = {}
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        while len(answers) < count:
            try:
                kind, number, payload = self.results.get(timeout=1.0)
            except queue.Empty:
                dead = [p.name for p in self.processes if not p.is_alive()]
                if dead or time.monotonic() > deadline:
                    raise WorkerError(
                        f"workers {', '.join(dead)} died" if dead else "workers did not answer"
                    ) from None
                continue
            if kind == "error":
                # Let the others finish their part before reporting, so the next run starts clean.
                answers[number] = WorkerError(f"worker {number}: {payload}")
                continue
            if kind != expected:  # pragma: no cover - a protocol slip
                raise WorkerError(f"worker {number} answered {kind!r}, expected {expected!r}")
            answers[number] = payload
        for answer in answers.values():
            if isinstance(answer, WorkerError):
                raise answer
        return answers

    def run(self, tasks: Sequence[Task]) -> list[Outcome]:
        """Prepare every share, then start them together; their outcomes in worker order."""
        for number, task in enumerate(tasks):
            self.tasks[number].put(("prepare", task))
        try:
            self._collect(len(tasks), "ready")
        except WorkerError:
            for number in range(len(tasks)):
                self.tasks[number].put(("close",))
            with suppress(WorkerError):
                self._collect(len(tasks), "closed")
            raise
        for number in range(len(tasks)):
            self.tasks[number].put(("go",))
        answers = self._collect(len(tasks), "done")
        return [answers[number] for number in range(len(tasks))]

    def close_handles(self) -> None:
        for task_queue in self.tasks:
            task_queue.put(("close",))
        with suppress(WorkerError):
            self._collect(len(self.tasks), "closed")

    def stop(self) -> None:
        for task_queue in self.tasks:
            with suppress(Exception):
                task_queue.put(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():  # pragma: no cover - a stuck worker
                process.kill()


# -- one database: the inventory and the raw peer's table side by side ---------------------------


@dataclass
class Ledger:
    """Units sold per SKU (cumulative) and per-run checks, for one table."""

    sold: Counter[str] = field(default_factory=Counter)


@dataclass
class Checks:
    """What every run's check found, across all runs."""

    runs: int = 0
    oversold: int = 0
    undersold: int = 0
    counter_mismatch: int = 0
    verifies: int = 0
    verify_drifts: int = 0
    problems: list[str] = field(default_factory=list)


class Database:
    """One backend: the inventory (opened in the coordinator for set-up and checks) and the
    raw peer's table, plus what the workers need to open them."""

    backend: str
    inventory: Inventory
    inventory_url: str
    inventory_options: Mapping[str, Any]
    raw_target: str
    raw_options: Mapping[str, Any]
    raw_table: str
    stock_table: str

    def __init__(self) -> None:
        self.ours = Ledger()
        self.raw = Ledger()
        self.hot_number = 0

    # set-up -----------------------------------------------------------------------------------

    #: Transactions stocking the many-SKU mix at once (a backend with a pool and row
    #: locks stocks its slices in parallel threads; SQLite has one writer).
    stocking_threads = 1

    def stock_skus(self, skus: Sequence[str]) -> None:
        """Give every SKU of the many-SKU mix its stock, in the inventory and the raw table.

        The inventory's stock is written through the backend's own primitives, in
        :attr:`stocking_threads` transactions: the counter row and its ``receive``
        ledger entry per SKU (what ``receive`` writes, without 10,000 transactions and
        their stock messages), so ``verify()`` checks it like any other stock.
        """
        at = datetime.now(UTC)
        backend = self.inventory.backend

        def stock(part: Sequence[str]) -> None:
            with backend.transaction() as txn:
                for sku in part:
                    txn.change_stock(sku, LOCATION, on_hand=SKU_STOCK)
                txn.append_ledger(
                    [
                        LedgerRow(
                            0,
                            at,
                            sku,
                            LOCATION,
                            "receive",
                            SKU_STOCK,
                            0,
                            0,
                            0,
                            None,
                            None,
                            None,
                            ACTOR.kind.value,
                            ACTOR.id,
                            "benchmark stock",
                        )
                        for sku in part
                    ]
                )

        threads = self.stocking_threads
        parts = [skus[n::threads] for n in range(threads)]
        if threads == 1:
            stock(parts[0])
        else:
            with ThreadPoolExecutor(threads) as pool:
                for done in [pool.submit(stock, part) for part in parts]:
                    done.result()
        self.raw_insert([(sku, SKU_STOCK) for sku in skus])

    def new_hot_sku(self, units: int) -> tuple[str, str]:
        """A fresh hot SKU with ``units`` in stock, for ours (via ``receive``) and for the peer."""
        self.hot_number += 1
        ours, raw = f"HOT-{self.hot_number:04d}", f"HOT-RAW-{self.hot_number:04d}"
        self.inventory.receive(ours, LOCATION, units, actor=ACTOR, reason="hot SKU")
        self.raw_insert([(raw, units)])
        return ours, raw

    # the raw table, per backend ---------------------------------------------------------------

    def raw_insert(self, rows: Sequence[tuple[str, int]]) -> None:
        raise NotImplementedError

    def levels(self, table: str, skus: Sequence[str]) -> dict[str, tuple[int, int]]:
        """SKU -> (on hand, reserved + in transfer) of ``skus`` in ``table``, read directly."""
        raise NotImplementedError

    def close(self) -> None:
        self.inventory.close()

    # checks -----------------------------------------------------------------------------------

    def check(
        self,
        checks: Checks,
        contender: str,
        outcomes: Sequence[Outcome],
        stock: Mapping[str, int],
        label: str,
    ) -> None:
        """Compare the run's successes with the stock it had; add what is wrong to ``checks``.

        Args:
            checks: Where the findings add up.
            contender: Who ran.
            outcomes: The workers' outcomes.
            stock: SKU -> units in stock before any run, for every SKU the run used.
            label: The run, for messages.
        """
        ours = contender in ("reserve", "reserve_many")
        ledger = self.ours if ours else self.raw
        for outcome in outcomes:
            ledger.sold.update(outcome.sold)
        levels = self.levels(self.stock_table if ours else self.raw_table, list(stock))
        checks.runs += 1
        refused = sum(o.refused for o in outcomes)
        for sku, units in stock.items():
            sold = ledger.sold[sku]
            on_hand, held = levels.get(sku, (0, 0))
            over = max(sold - units, held - on_hand, 0)
            if over:
                checks.oversold += over
                checks.problems.append(f"{label}: {sku} oversold by {over}")
            if held != sold:
                checks.counter_mismatch += abs(held - sold)
                checks.problems.append(f"{label}: {sku} holds {held}, successes {sold}")
            if refused and sold < units and len(stock) == 1:
                checks.undersold += units - sold
                checks.problems.append(
                    f"{label}: {sku} refused {refused} with {units - sold} left in stock"
                )

    def verify(self, checks: Checks, label: str) -> None:
        """Run the inventory's ``verify()``; count its drifts into ``checks``."""
        drifts = self.inventory.verify()
        checks.verifies += 1
        if drifts:
            checks.verify_drifts += len(drifts)
            checks.problems.append(f"{label}: verify() found {len(drifts)} drifts: {drifts[:3]}")


class SQLiteDatabase(Database):
    """A fresh SQLite file: the inventory's tables and, beside them, the raw peer's table."""

    backend = "sqlite"

    def __init__(self, path: Path, notes: list[str]) -> None:
        super().__init__()
        self.path = path
        # adopt=1: the file also holds the raw peer's table, which is not ordercore's.
        self.inventory_url = f"sqlite:///{path}?adopt=1"
        self.inventory_options = {}
        self.inventory = open_inventory(self.inventory_url)
        self.inventory.add_location(Location(id=LOCATION))
        self.settings, self.settings_source = self._settings(notes)
        self.raw_target = str(path)
        self.raw_table = RAW_TABLE
        self.stock_table = "ordercore_stock"
        self.raw_options = {
            "busy_timeout": self.settings["busy_timeout"],
            "cache_size": self.settings["cache_size"],
            "synchronous": self.settings["synchronous"],
            "wal_autocheckpoint": SQLITE_DEFAULT_AUTOCHECKPOINT,
        }
        with self._raw() as db:
            schema = db.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'ordercore_stock'"
            ).fetchone()
            if schema is None:  # pragma: no cover - a differently named table
                raise LookupError("the inventory has no ordercore_stock table")
            db.execute(re.sub(r"ordercore_stock\b", RAW_TABLE, schema[0], count=1))
        self.raw_schema = "a copy of ordercore_stock (columns, CHECKs, key, WITHOUT ROWID)"

    def _settings(self, notes: list[str]) -> tuple[dict[str, Any], str]:
        """The inventory connection's settings (found among the store's attributes)."""
        pragmas = (
            "journal_mode",
            "synchronous",
            "page_size",
            "cache_size",
            "busy_timeout",
            "wal_autocheckpoint",
        )
        store = getattr(self.inventory.backend, "store", None)
        found = [
            (name, value)
            for name, value in vars(store or object()).items()
            if isinstance(value, sqlite3.Connection)
        ]
        if found:
            name, db = found[0]
            source = f"PRAGMAs on the inventory's connection (SQLiteStore.{name})"
            return {p: db.execute(f"PRAGMA {p}").fetchone()[0] for p in pragmas}, source
        notes.append("SQLite: the inventory's connection was not found; the file's settings used")
        with closing(sqlite3.connect(self.path)) as db:
            values = {p: db.execute(f"PRAGMA {p}").fetchone()[0] for p in pragmas}
        return values, "PRAGMAs on a new connection to the file"

    @contextmanager
    def _raw(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            for pragma, value in {
                "busy_timeout": self.settings["busy_timeout"],
                "synchronous": self.settings["synchronous"],
            }.items():
                db.execute(f"PRAGMA {pragma}={value}")
            yield db
        finally:
            db.close()

    def raw_insert(self, rows: Sequence[tuple[str, int]]) -> None:
        with self._raw() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                f"INSERT INTO {RAW_TABLE} (sku, location, on_hand, reserved, in_transfer, "
                "damaged, version) VALUES (?, ?, ?, 0, 0, 0, 1)",
                [(sku, LOCATION, units) for sku, units in rows],
            )
            db.execute("COMMIT")

    def levels(self, table: str, skus: Sequence[str]) -> dict[str, tuple[int, int]]:
        with self._raw() as db:
            rows = db.execute(
                f"SELECT sku, on_hand, reserved + in_transfer FROM {table} WHERE location = ? "
                "AND sku IN (SELECT value FROM json_each(?))",
                (LOCATION, json.dumps(list(skus))),
            ).fetchall()
        return {name: (on_hand, held) for name, on_hand, held in rows}


class PostgresDatabase(Database):
    """A scratch schema: the inventory's tables and a copy of its stock table for the peer."""

    backend = "postgres"
    stocking_threads = 8

    def __init__(self, url: str, admin: Any, schema: str) -> None:
        super().__init__()
        self.admin = admin
        self.schema = schema
        self.inventory_url = url
        self.inventory_options = {"schema": schema}
        self.inventory = open_inventory(url, schema=schema)
        self.inventory.add_location(Location(id=LOCATION))
        self.raw_target = _libpq_url(url)
        self.synchronous_commit = self._synchronous_commit()
        self.raw_options = {"synchronous_commit": self.synchronous_commit}
        stock = self._stock_table()
        if stock is None:
            raise LookupError(f"no stock counter table (sku, location, on_hand, ...) in {schema}")
        self.stock_table = f'"{schema}"."{stock}"'
        self.raw_table = f'"{schema}".{RAW_TABLE}'
        admin.execute(f"CREATE TABLE {self.raw_table} (LIKE {self.stock_table} INCLUDING ALL)")
        # LIKE copies columns, constraints and indexes, not the table's storage parameters.
        found = admin.execute(
            "SELECT reloptions FROM pg_class WHERE oid = %s::regclass", (self.stock_table,)
        ).fetchone()
        reloptions = list(found[0] or []) if found else []
        if reloptions:
            admin.execute(f"ALTER TABLE {self.raw_table} SET ({', '.join(reloptions)})")
        self.raw_schema = f"LIKE {schema}.{stock} INCLUDING ALL (columns, CHECKs, key)" + (
            f" with its {', '.join(reloptions)}" if reloptions else ""
        )
        self.columns = {
            row[0]
            for row in admin.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = %s",
                (schema, RAW_TABLE),
            )
        }

    def _stock_table(self) -> str | None:
        """The inventory's counter table: the one with sku, location, on_hand, reserved, ...

        The ledger has the same columns (as deltas); it is told apart by having ``kind``.
        """
        rows = self.admin.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = %s "
            "AND column_name IN ('sku', 'location', 'on_hand', 'reserved', 'in_transfer') "
            "AND table_name NOT IN (SELECT table_name FROM information_schema.columns "
            "WHERE table_schema = %s AND column_name = 'kind') "
            "GROUP BY table_name HAVING count(*) = 5 ORDER BY table_name NOT LIKE '%%stock', "
            "length(table_name)",
            (self.schema, self.schema),
        ).fetchall()
        return str(rows[0][0]) if rows else None

    def _synchronous_commit(self) -> str:
        """The inventory sessions' ``synchronous_commit`` (its pool's, else the server's)."""
        backend = self.inventory.backend
        for holder in (backend, getattr(backend, "store", None)):
            pool = getattr(holder, "pool", None) or getattr(holder, "_pool", None)
            if pool is not None:
                with suppress(Exception), pool.connection() as conn:
                    return str(conn.execute("SHOW synchronous_commit").fetchone()[0])
        return str(self.admin.execute("SHOW synchronous_commit").fetchone()[0])

    def raw_insert(self, rows: Sequence[tuple[str, int]]) -> None:
        extra = [name for name in ("damaged", "version") if name in self.columns]
        names = ", ".join(["sku", "location", "on_hand", "reserved", "in_transfer", *extra])
        values = ", ".join(
            ["%s", "%s", "%s", "0", "0", *("0" if n == "damaged" else "1" for n in extra)]
        )
        with self.admin.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {self.raw_table} ({names}) VALUES ({values})",
                [(sku, LOCATION, units) for sku, units in rows],
            )

    def levels(self, table: str, skus: Sequence[str]) -> dict[str, tuple[int, int]]:
        rows = self.admin.execute(
            f"SELECT sku, on_hand, reserved + in_transfer FROM {table} WHERE location = %s "
            "AND sku = ANY(%s)",
            (LOCATION, list(skus)),
        ).fetchall()
        return {name: (int(on_hand), int(held)) for name, on_hand, held in rows}


def _libpq_url(url: str) -> str:
    """The URL without a ``+driver`` part or ordercore's own query options, as libpq wants it."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest.partition('?')[0]}"


# -- the runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One row group: a SKU mix and a number of processes."""

    mix: str  # "hot" or "skus"
    workers: int

    @property
    def key(self) -> str:
        return f"{self.mix}_{self.workers}p"

    def title(self, backend: str, reservations: int) -> str:
        what = "one hot SKU" if self.mix == "hot" else f"{SKUS:,} SKUs"
        who = (
            f"{self.workers} process{'es' if self.workers > 1 else ''}"
            if backend == "sqlite"
            else f"{self.workers} connection{'s' if self.workers > 1 else ''} (a process each)"
        )
        return f"{backend_name(backend)}, {what}, {who}, {reservations:,} reservations a run"


def backend_name(backend: str) -> str:
    return "SQLite" if backend == "sqlite" else "PostgreSQL"


class Bench:
    """Runs each contender of a configuration, interleaved, and checks every run."""

    def __init__(self, db: Database, workers: Workers, checks: Checks, sku_names: list[str]):
        self.db = db
        self.workers = workers
        self.checks = checks
        self.sku_names = sku_names
        self.run_number = 0

    def one_run(self, contender: str, config: Config, count: int, seed: int) -> float:
        """One run of ``count`` reservations; returns its wall-clock seconds."""
        self.run_number += 1
        ours = contender in ("reserve", "reserve_many")
        if config.mix == "hot":
            units = count - int(count * HOT_SHORT)
            hot_ours, hot_raw = self.db.new_hot_sku(units)
            sku = hot_ours if ours else hot_raw
            skus = [sku] * count
            stock = {sku: units}
        else:
            rng = random.Random(seed)
            skus = [self.sku_names[rng.randrange(SKUS)] for _ in range(count)]
            stock = dict.fromkeys(skus, SKU_STOCK)
        tag = f"r{self.run_number:05d}"
        items = [(f"{tag}-{n}", sku) for n, sku in enumerate(skus)]
        tasks = [
            Task(
                contender=contender,
                backend=self.db.backend,
                target=self.db.inventory_url if ours else self.db.raw_target,
                options=self.db.inventory_options if ours else self.db.raw_options,
                table=self.db.raw_table,
                items=items[number :: config.workers],
            )
            for number in range(config.workers)
        ]
        outcomes = self.workers.run(tasks)
        seconds = max(o.end for o in outcomes) - min(o.start for o in outcomes)
        label = f"{self.db.backend} {config.key} {contender} run {self.run_number}"
        self.db.check(self.checks, contender, outcomes, stock, label)
        return seconds

    def calibrate(self, report: Report) -> int:
        """Reservations a run for ``--quick``: what ``reserve`` does in :data:`QUICK_RUN_S`.

        Measured with one process on the many-SKU mix (untimed, checked runs: a short
        one to warm the worker up, then the faster of two), rounded
        down to a multiple of :data:`COUNT_STEP` and kept within :data:`QUICK_COUNTS`, so
        the quick run stays short on a slow or busy machine and its raw runs are not
        too short on a fast one. Every contender of the backend then gets that many.
        """
        self.one_run("reserve", Config("skus", 1), CALIBRATION // 4, SEED - 3)  # warm-up
        seconds = min(
            self.one_run("reserve", Config("skus", 1), CALIBRATION, SEED - 2 - n) for n in range(2)
        )
        rate = CALIBRATION / seconds
        low, high = QUICK_COUNTS
        count = max(low, min(high, int(rate * QUICK_RUN_S) // COUNT_STEP * COUNT_STEP))
        report.notes.append(
            f"{backend_name(self.db.backend)}: {count:,} reservations a run "
            f"(--quick: Inventory.reserve did {rate:,.0f}/s in the faster of two calibration "
            f"runs of {CALIBRATION}; a run is sized to about {QUICK_RUN_S:g} s of it)"
        )
        return count

    def config(self, config: Config, count: int, repeat: int) -> dict[str, Rate]:
        """Warm-up, then ``repeat`` interleaved runs of every contender (A B C D, B C D A, ...)."""
        names = list(CONTENDERS)
        warmup = max(int(WARMUP_SHARE * count) // config.workers, WARMUP_MIN) * config.workers
        for name in names:
            self.one_run(name, config, warmup, SEED - 1)
        rates = {name: Rate(name, count) for name in names}
        for round_no in range(repeat):
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                seconds = self.one_run(name, config, count, SEED + round_no)
                rates[name].per_s.append(count / seconds)
        self.db.verify(self.checks, f"{self.db.backend} {config.key}")
        return rates


def per_s(rate: Rate) -> float:
    return round(rate.median, 1)


def bench_backend(
    report: Report,
    db: Database,
    workers: Workers,
    checks: Checks,
    counts: Sequence[int],
    count: int | None,
    repeat: int,
) -> dict[str, dict[str, Rate]]:
    """Every configuration of one backend; rows and figures into ``report``.

    ``count`` reservations a run, or (``None``) as many as :meth:`Bench.calibrate` says.
    """
    names = [f"SKU-{n:05d}" for n in range(SKUS)]
    db.stock_skus(names)
    bench = Bench(db, workers, checks, names)
    prefix = db.backend
    if count is None:
        count = bench.calibrate(report)
    report.figures[f"{prefix}_reservations"] = count
    found: dict[str, dict[str, Rate]] = {}
    for workers_count in counts:
        for mix in ("skus", "hot"):
            config = Config(mix, workers_count)
            rates = bench.config(config, count, repeat)
            found[config.key] = rates
            report.section(config.title(db.backend, count))
            key = f"{prefix}_{config.key}"
            ratio = round(rates["reserve"].median / rates["raw"].median, 3)
            batched = round(rates["reserve_many"].median / rates["raw_batched"].median, 3)
            report.contender(CONTENDERS["reserve"], rates["reserve"])
            report.contender(CONTENDERS["raw"], rates["raw"], ours=rates["reserve"])
            report.contender(CONTENDERS["reserve_many"], rates["reserve_many"])
            report.contender(
                CONTENDERS["raw_batched"], rates["raw_batched"], ours=rates["reserve_many"]
            )
            report.figures.update(
                {
                    f"{key}_per_s": per_s(rates["reserve"]),
                    f"{key}_raw_per_s": per_s(rates["raw"]),
                    f"{key}_ratio_vs_raw": ratio,
                    f"{key}_batched_per_s": per_s(rates["reserve_many"]),
                    f"{key}_raw_batched_per_s": per_s(rates["raw_batched"]),
                    f"{key}_batched_ratio_vs_raw": batched,
                    f"{key}_spread": {n: round(r.spread, 3) for n, r in rates.items()},
                }
            )
    return found


def headline(
    report: Report,
    prefix: str,
    found: Mapping[str, Mapping[str, Rate]],
    config: str,
    bound: float,
    *,
    hot: str | None = None,
) -> None:
    """The issue's keys: ``<prefix>_per_s``, ``<prefix>_ratio_vs_raw`` and the batched pair."""
    rates = found[config]
    report.figures[f"{prefix}_per_s"] = per_s(rates["reserve"])
    report.figures[f"{prefix}_raw_per_s"] = per_s(rates["raw"])
    report.target(
        f"{prefix}_ratio_vs_raw", bound, round(rates["reserve"].median / rates["raw"].median, 3)
    )
    report.figures[f"{prefix}_batched_per_s"] = per_s(rates["reserve_many"])
    report.figures[f"{prefix}_raw_batched_per_s"] = per_s(rates["raw_batched"])
    report.figures[f"{prefix}_batched_ratio_vs_raw"] = round(
        rates["reserve_many"].median / rates["raw_batched"].median, 3
    )
    report.figures[f"{prefix}_headline_config"] = config
    if hot is not None:
        rates = found[hot]
        report.figures[f"{prefix}_hot_per_s"] = per_s(rates["reserve"])
        report.figures[f"{prefix}_hot_raw_per_s"] = per_s(rates["raw"])
        report.target(
            f"{prefix}_hot_ratio_vs_raw",
            bound,
            round(rates["reserve"].median / rates["raw"].median, 3),
        )


def bench_sqlite(
    report: Report,
    workers: Workers,
    checks: Checks,
    count: int | None,
    repeat: int,
    workdir: Path,
) -> None:
    db = SQLiteDatabase(workdir / "inventory.db", report.notes)
    try:
        found = bench_backend(report, db, workers, checks, SQLITE_PROCESSES, count, repeat)
    finally:
        workers.close_handles()
        db.close()
    headline(report, "sqlite", found, "skus_1p", TARGET_SQLITE_RATIO)
    report.figures.update(
        {
            "sqlite_settings": db.settings,
            "sqlite_settings_source": db.settings_source,
            "sqlite_raw_settings": dict(db.raw_options),
            "sqlite_raw_table": db.raw_schema,
        }
    )
    report.notes.append(
        f"SQLite: the inventory runs with {_describe_sqlite(db.settings)} and checkpoints the WAL "
        "in a background thread; the raw peer shares the file (WAL) with the same synchronous, "
        f"cache_size and busy_timeout, and SQLite's own checkpointing "
        f"(wal_autocheckpoint={SQLITE_DEFAULT_AUTOCHECKPOINT}); its table is {db.raw_schema}"
    )


def _describe_sqlite(settings: Mapping[str, Any]) -> str:
    synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
        settings["synchronous"], settings["synchronous"]
    )
    return (
        f"journal_mode={settings['journal_mode']}, synchronous={synchronous}, "
        f"page_size={settings['page_size']}, cache_size={settings['cache_size']}, "
        f"busy_timeout={settings['busy_timeout']}"
    )


def _postgres_skipped(report: Report, reason: str) -> None:
    report.notes.append(f"PostgreSQL: skipped, {reason}")
    report.figures["postgres_skipped"] = reason
    for key in (
        "postgres_per_s",
        "postgres_raw_per_s",
        "postgres_batched_per_s",
        "postgres_batched_ratio_vs_raw",
        "postgres_hot_per_s",
    ):
        report.figures[key] = None
    report.skipped_target("postgres_ratio_vs_raw", TARGET_POSTGRES_RATIO, reason)
    report.skipped_target("postgres_hot_ratio_vs_raw", TARGET_POSTGRES_RATIO, reason)


def postgres_unavailable() -> tuple[str | None, str]:
    """``(url, "")`` when the PostgreSQL section can run, else ``(None, why not)``."""
    url = os.environ.get("ORDERCORE_TEST_POSTGRES_URL")
    if not url:
        return None, "ORDERCORE_TEST_POSTGRES_URL is not set"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None, "psycopg is not installed"
    from ordercore import plugins

    try:
        plugins.load("ordercore.inventory", "postgresql")
    except OrderCoreError as exc:
        return None, f"no PostgreSQL inventory backend is installed ({exc})"
    return url, ""


def bench_postgres(
    report: Report,
    url: str,
    workers: Workers,
    checks: Checks,
    count: int | None,
    repeat: int,
) -> None:
    import psycopg

    try:
        admin = psycopg.connect(_libpq_url(url), autocommit=True)
    except psycopg.Error as exc:
        _postgres_skipped(report, f"cannot connect: {exc}")
        return
    schema = f"ordercore_bench_{uuid.uuid4().hex[:12]}"
    db: PostgresDatabase | None = None
    try:
        try:
            db = PostgresDatabase(url, admin, schema)
        except Exception as exc:  # a backend being built must not fail the whole run
            _postgres_skipped(report, f"could not open the inventory: {type(exc).__name__}: {exc}")
            return
        try:
            found = bench_backend(report, db, workers, checks, POSTGRES_CONNECTIONS, count, repeat)
        except (WorkerError, OrderCoreError, psycopg.Error) as exc:
            _postgres_skipped(report, f"a run failed: {type(exc).__name__}: {exc}")
            return
        headline(report, "postgres", found, "skus_8p", TARGET_POSTGRES_RATIO, hot="hot_8p")
        report.figures.update(
            {
                "postgres_synchronous_commit": db.synchronous_commit,
                "postgres_raw_table": db.raw_schema,
                "postgres_server": admin.info.parameter_status("server_version"),
            }
        )
        report.notes.append(
            f"PostgreSQL {admin.info.parameter_status('server_version')}: scratch schema "
            f"{schema} (dropped after); the raw peer's table is {db.raw_schema}, its sessions "
            f"have the inventory's synchronous_commit={db.synchronous_commit}"
        )
    finally:
        workers.close_handles()
        if db is not None:
            with suppress(Exception):
                db.close()
        with suppress(Exception):
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer reservations and runs")
    parser.add_argument(
        "--reservations",
        type=int,
        help=f"reservations per timed run (default: {FULL_RESERVATIONS:,}; with --quick, "
        f"about {QUICK_RUN_S:g} s of Inventory.reserve per backend)",
    )
    parser.add_argument("--repeat", type=int, help="timed runs per contender (default 3 / 5)")
    parser.add_argument(
        "--json-only", action="store_true", help="print only the JSON line on stdout"
    )
    args = parser.parse_args(argv)
    if args.reservations is None and not args.quick:
        args.reservations = FULL_RESERVATIONS
    if args.repeat is None:
        args.repeat = QUICK_REPEAT if args.quick else FULL_REPEAT
    most = max(*SQLITE_PROCESSES, *POSTGRES_CONNECTIONS)
    if (args.reservations is not None and args.reservations < 10 * most) or args.repeat < 1:
        parser.error(f"--reservations must be at least {10 * most}, --repeat at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = sys.stderr if args.json_only else sys.stdout
    started = time.perf_counter()
    report = Report()
    load = os.getloadavg()
    cpus = os.cpu_count() or 1
    postgres_url, postgres_reason = postgres_unavailable()
    size = max(*SQLITE_PROCESSES, *(POSTGRES_CONNECTIONS if postgres_url else ()))
    size_text = (
        f"{args.reservations:,} reservations of one unit a run"
        if args.reservations is not None
        else f"runs of about {QUICK_RUN_S:g} s of Inventory.reserve (sized per backend), "
        "reservations of one unit"
    )
    print(
        f"ordercore {ordercore.__version__} inventory benchmark: {size_text}, "
        f"median of {args.repeat} runs after a warm-up, in "
        f"spawned processes; Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; "
        f"{cpus} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start",
        file=out,
    )
    report.figures.update(
        {
            "python": platform.python_version(),
            "ordercore": ordercore.__version__,
            "sqlite": sqlite3.sqlite_version,
            "cpus": cpus,
            "load_average_start": [round(value, 2) for value in load],
            "reservations": args.reservations,
            "repeat": args.repeat,
            "quick": args.quick,
            "skus": SKUS,
            "hot_stock_share": 1 - HOT_SHORT,
        }
    )
    checks = Checks()
    workers = Workers(size)
    try:
        workers.wait_ready()
        with tempfile.TemporaryDirectory(prefix="ordercore-bench-") as workdir:
            bench_sqlite(report, workers, checks, args.reservations, args.repeat, Path(workdir))
        if postgres_url is None:
            _postgres_skipped(report, postgres_reason)
        else:
            bench_postgres(report, postgres_url, workers, checks, args.reservations, args.repeat)
    finally:
        workers.stop()
    report.section("never oversell: successes against stock after every run")
    report.line("runs checked (warm-ups included)", f"{checks.runs:,}")
    report.line("units oversold", f"{checks.oversold:,}")
    report.line("counters differing from the successes (units)", f"{checks.counter_mismatch:,}")
    report.line("refused while the hot SKU had stock (units)", f"{checks.undersold:,}")
    report.line(
        f"verify() drifts ({checks.verifies} checks, after each group of runs)",
        f"{checks.verify_drifts:,}",
    )
    report.target("oversold", 0, checks.oversold, op="<=")
    report.figures.update(
        {
            "runs_checked": checks.runs,
            "counter_mismatch": checks.counter_mismatch,
            "undersold": checks.undersold,
            "verify_drifts": checks.verify_drifts,
            "verify_checks": checks.verifies,
            "problems": checks.problems[:20],
        }
    )
    report.figures["load_average_end"] = [round(value, 2) for value in os.getloadavg()]
    report.figures["seconds"] = round(time.perf_counter() - started, 1)
    for note in report.notes:
        print(note, file=out)
    for problem in checks.problems[:20]:
        print(f"PROBLEM: {problem}", file=out)
    if not args.json_only:
        print(report.table())
        print()
        print(
            "Targets (measured side by side; the rates are for reference). sqlite_ratio_vs_raw "
            "is Inventory.reserve beside the autocommit UPDATE, 1 process, 10,000 SKUs; "
            "postgres_ratio_vs_raw / postgres_hot_ratio_vs_raw the same at 8 connections:"
        )
        print(report.targets_table())
        end = report.figures["load_average_end"]
        print(f"load average at the end: {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}")
    print(report.json_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
