"""How fast the canonical Order validates, round-trips and is stored, beside its peers and floors.

Usage::

    python benchmarks/schema.py [--quick] [--orders N] [--repeat R] [--json-only]

Every benchmark runs on two mixes of orders: the factory's (``OrderFactory``, 3-4 KB
of JSON each) and copies of the real platform payloads of ``tests/fixtures/payloads/``
as ``tests/channel_samples.py`` maps them (5-15 KB, half of it or more the raw
payload). Each figure is measured in the same run as what it is judged against:

1. ``Order.model_validate_json`` beside a plain pydantic model of the same shape
   (its peer) and ``json.loads`` of the same text (its floor); also for a 15-field
   order with 3 lines.
2. The JSON round trip (``model_dump_json`` + ``model_validate_json``), ours and plain.
3. ``SQLiteStore.put_many`` (batches of 1,000, fresh file) beside two raw ``sqlite3``
   floors that copy the store's ``orders`` table and its page size, durability and
   checkpointing, read off a store at run time: the store's own rows inserted ready
   (the fair floor) and the same insert with ``model_dump_json`` in the timed loop;
   then random ``get`` by id beside a raw ``SELECT`` + ``json.loads``.
4. With ``ORDERCORE_TEST_POSTGRES_URL`` set and the PostgreSQL store plugin
   installed: its ``put_many`` beside raw psycopg ``executemany`` and ``COPY`` of the
   store's own rows into a copy of its ``orders`` table.

The targets are ratios measured side by side; absolute rates depend on the machine
and are printed for reference. The script prints a table and the targets, met or
not, then, as its last line, one JSON object with every figure. Nothing is
asserted; the exit status is 0.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import os
import platform
import random
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import pydantic
from _harness import Rate, Report, compare, loop, stopwatch
from pydantic import BaseModel, Field, JsonValue

import ordercore
from ordercore import Order, open_store, plugins
from ordercore.ids import new_id
from ordercore.storage import SQLiteStore, store_scheme
from ordercore.testing import OrderFactory

SEED = 20261111
BATCH = 1_000
QUICK_ORDERS, FULL_ORDERS = 2_000, 10_000
#: With ``--quick``, the per-order benchmarks (validation, round trip, get) time the
#: first this many orders of a mix; the insert benchmarks always take all of them.
QUICK_ITEMS = 1_000
QUICK_REPEAT, FULL_REPEAT = 5, 7

#: Items of the untimed warm-up run of each contender (one batch for the stores).
WARMUP_ITEMS = 200

#: The targets, all ratios of ordercore's median to its peer's or floor's.
TARGET_VALIDATE_RATIO = 0.5
TARGET_STORE_DUMP_RATIO = 0.9
TARGET_STORE_RATIO = 0.4
TARGET_POSTGRES_RATIO = 0.7

#: Where ``channel_samples`` (the platform payloads mapped into orders) lives.
TESTS = Path(__file__).resolve().parent.parent / "tests"

#: SQLite's own ``wal_autocheckpoint`` (pages), which the targets' floors use.
SQLITE_DEFAULT_AUTOCHECKPOINT = 1000

#: The floor's checkpoint interval when the store runs a background checkpointer
#: without saying how often it checkpoints.
DEFAULT_CHECKPOINT_INTERVAL = 0.02

#: The SQLite settings a floor copies from the store, in the order they are applied
#: (``page_size`` before ``journal_mode=WAL`` and before the first table).
SQLITE_PRAGMAS = (
    "page_size",
    "journal_mode",
    "synchronous",
    "wal_autocheckpoint",
    "cache_size",
    "mmap_size",
    "temp_store",
    "journal_size_limit",
)

#: The top-level fields of the "15-field order with 3 lines" variant.
FIFTEEN_FIELDS = (
    "schema_version",
    "id",
    "version",
    "channel",
    "channel_order_id",
    "shop_id",
    "order_type",
    "status",
    "channel_status",
    "source",
    "buyer",
    "receiver",
    "lines",
    "amounts",
    "created_at",
)

T = TypeVar("T")


# -- the peer: a plain pydantic model of the canonical order's shape -------------------------
#
# Same nesting and field names as ordercore.schema.Order, with plain types and pydantic's
# default configuration: no constraints, no custom validators or serializers.


class PlainMoney(BaseModel):
    amount: Decimal
    currency: str = "CNY"


class PlainChannelTime(BaseModel):
    utc: datetime
    original: str | int | None = None
    zone: str | None = None


class PlainChannelStatus(BaseModel):
    value: str
    details: dict[str, str] = {}


class PlainSource(BaseModel):
    kind: str
    name: str
    received_at: datetime


class PlainBuyer(BaseModel):
    channel_buyer_id: str | None = None
    nick: str | None = None
    phone: str | None = None
    email: str | None = None


class PlainAddress(BaseModel):
    name: str | None = None
    phone: str | None = None
    landline: str | None = None
    company: str | None = None
    country: str = "CN"
    province: str | None = None
    city: str | None = None
    district: str | None = None
    town: str | None = None
    detail: str | None = None
    postal_code: str | None = None
    province_code: str | None = None
    city_code: str | None = None
    district_code: str | None = None
    town_code: str | None = None
    open_address_id: str | None = None


class PlainDiscount(BaseModel):
    funded_by: str
    amount: PlainMoney
    name: str | None = None
    promotion_id: str | None = None


class PlainOrderAmounts(BaseModel):
    goods: PlainMoney
    shipping: PlainMoney = PlainMoney(amount=Decimal("0.00"))
    discounts: list[PlainDiscount] = []
    adjustment: PlainMoney = PlainMoney(amount=Decimal("0.00"))
    tax: PlainMoney = PlainMoney(amount=Decimal("0.00"))
    service_fee: PlainMoney = PlainMoney(amount=Decimal("0.00"))
    paid: PlainMoney


class PlainStringAttribute(BaseModel):
    type: Literal["string"] = "string"
    value: str


class PlainIntAttribute(BaseModel):
    type: Literal["int"] = "int"
    value: int


class PlainDecimalAttribute(BaseModel):
    type: Literal["decimal"] = "decimal"
    value: Decimal


class PlainBoolAttribute(BaseModel):
    type: Literal["bool"] = "bool"
    value: bool


class PlainMoneyAttribute(BaseModel):
    type: Literal["money"] = "money"
    value: PlainMoney


class PlainTimeAttribute(BaseModel):
    type: Literal["time"] = "time"
    value: datetime


class PlainJsonAttribute(BaseModel):
    type: Literal["json"] = "json"
    value: JsonValue


PlainAttribute = Annotated[
    PlainStringAttribute
    | PlainIntAttribute
    | PlainDecimalAttribute
    | PlainBoolAttribute
    | PlainMoneyAttribute
    | PlainTimeAttribute
    | PlainJsonAttribute,
    Field(discriminator="type"),
]


class PlainLineComponent(BaseModel):
    sku: str
    quantity: int
    title: str | None = None
    channel_sku_id: str | None = None
    barcode: str | None = None


class PlainOrderLine(BaseModel):
    line_id: str
    sku: str
    title: str
    quantity: int
    unit_price: PlainMoney
    subtotal: PlainMoney | None = None
    spec: str | None = None
    channel_line_id: str | None = None
    channel_item_id: str | None = None
    channel_sku_id: str | None = None
    merchant_sku: str | None = None
    merchant_item_code: str | None = None
    discounts: list[PlainDiscount] = []
    adjustment: PlainMoney = PlainMoney(amount=Decimal("0.00"))
    paid: PlainMoney | None = None
    is_gift: bool = False
    components: list[PlainLineComponent] = []
    channel_status: PlainChannelStatus | None = None
    attributes: dict[str, PlainAttribute] = {}


class PlainPackageLine(BaseModel):
    line_id: str
    quantity: int


class PlainPackage(BaseModel):
    package_id: str | None = None
    tracking_no: str | None = None
    lines: list[PlainPackageLine] = []


class PlainShipment(BaseModel):
    shipment_id: str
    status: str | None = None
    carrier_code: str | None = None
    carrier_name: str | None = None
    tracking_no: str | None = None
    shipped_at: PlainChannelTime | None = None
    packages: list[PlainPackage] = []


class PlainPresale(BaseModel):
    phase: str
    deposit: PlainMoney
    balance: PlainMoney
    deposit_paid_at: PlainChannelTime | None = None
    balance_due_from: PlainChannelTime | None = None
    balance_due_by: PlainChannelTime | None = None
    balance_paid_at: PlainChannelTime | None = None
    promised_ship_by: PlainChannelTime | None = None


class PlainB2BInfo(BaseModel):
    customer_id: str
    purchase_order_no: str
    pool_id: str | None = None
    invoice_title: str | None = None


class PlainAfterSaleRef(BaseModel):
    channel_after_sale_id: str
    kind: str = "other"
    status: str | None = None
    amount: PlainMoney | None = None
    line_ids: list[str] = []
    reason: str | None = None


class PlainPayment(BaseModel):
    method: str | None = None
    transaction_id: str | None = None
    platform_transaction_id: str | None = None


class PlainRawPayload(BaseModel):
    text: str
    content_type: str = "application/json"


class PlainOrderAnomaly(BaseModel):
    code: str
    message: str
    field: str | None = None
    expected: PlainMoney | None = None
    actual: PlainMoney | None = None


class PlainOrder(BaseModel):
    schema_version: int = 1
    id: str
    version: int = 0
    channel: str
    channel_order_id: str
    shop_id: str | None = None
    order_type: str = "normal"
    status: str
    channel_status: PlainChannelStatus
    source: PlainSource
    buyer: PlainBuyer = PlainBuyer()
    receiver: PlainAddress | None = None
    billing: PlainAddress | None = None
    lines: list[PlainOrderLine]
    amounts: PlainOrderAmounts
    payment: PlainPayment | None = None
    presale: PlainPresale | None = None
    b2b: PlainB2BInfo | None = None
    shipments: list[PlainShipment] = []
    after_sales: list[PlainAfterSaleRef] = []
    buyer_note: str | None = None
    seller_note: str | None = None
    seller_flag: int | None = None
    tags: list[str] = []
    attributes: dict[str, PlainAttribute] = {}
    created_at: PlainChannelTime
    pay_by: PlainChannelTime | None = None
    paid_at: PlainChannelTime | None = None
    channel_updated_at: PlainChannelTime | None = None
    shipped_at: PlainChannelTime | None = None
    delivered_at: PlainChannelTime | None = None
    completed_at: PlainChannelTime | None = None
    cancelled_at: PlainChannelTime | None = None
    promised_ship_by: PlainChannelTime | None = None
    recorded_at: datetime | None = None
    updated_at: datetime | None = None
    status_since: datetime | None = None
    node: str | None = None
    anomalies: list[PlainOrderAnomaly] = []
    raw: PlainRawPayload | None = None


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for argument in get_args(annotation):
        yield from _models_in(argument)


def mirror_differences() -> list[str]:
    """Where the plain models' fields differ from the canonical ones (``Plain<Name>`` twins)."""
    differences: list[str] = []
    seen: set[type[BaseModel]] = set()

    def walk(ours: type[BaseModel], plain: type[BaseModel]) -> None:
        seen.add(ours)
        if set(ours.model_fields) != set(plain.model_fields):
            names = sorted(set(ours.model_fields) ^ set(plain.model_fields))
            differences.append(f"{ours.__name__}: {', '.join(names)}")
        for info in ours.model_fields.values():
            for nested in _models_in(info.annotation):
                twin = globals().get(f"Plain{nested.__name__}")
                if twin is None:
                    differences.append(f"no Plain{nested.__name__}")
                elif nested not in seen:
                    walk(nested, twin)

    walk(Order, PlainOrder)
    if set(PlainMoney.model_fields) != {"amount", "currency"}:
        differences.append("PlainMoney: amount, currency")
    return list(dict.fromkeys(differences))


def same_json(texts: Sequence[str]) -> bool:
    """Whether the plain model reads and writes these texts exactly as the canonical one does."""
    return all(
        json.loads(PlainOrder.model_validate_json(text).model_dump_json())
        == json.loads(Order.model_validate_json(text).model_dump_json())
        for text in texts
    )


# -- the report ------------------------------------------------------------------------------


def per_s(rate: Rate) -> float:
    return round(rate.median, 1)


def ratio(ours: Rate, other: Rate) -> float:
    return round(ours.median / other.median, 3)


# -- the mixes of orders ---------------------------------------------------------------------


@dataclass
class Mix:
    """The orders every contender of a section gets, with their JSON text.

    ``key`` goes into the JSON figure names (``""`` for the factory mix).
    """

    label: str
    key: str
    orders: list[Order]
    texts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.texts:
            self.texts = [order.model_dump_json() for order in self.orders]

    def first(self, count: int) -> Mix:
        """The same mix cut to its first ``count`` orders."""
        if count >= len(self.orders):
            return self
        return Mix(self.label, self.key, self.orders[:count], self.texts[:count])

    @property
    def mean_bytes(self) -> int:
        return sum(map(len, self.texts)) // len(self.texts)


def factory_mix(count: int) -> Mix:
    return Mix("factory mix", "", list(OrderFactory(seed=SEED).orders(count)))


def real_payload_mix(count: int) -> Mix:
    """``count`` copies of the platform sample orders, round robin, each under new keys.

    ``evolve`` validates each copy; its id is a new ULID and its channel order id
    gets a copy number, so no two copies clash on either key of a store.

    Raises:
        ImportError: ``tests/channel_samples.py`` is not there (an installed copy).
    """
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    from channel_samples import ALL_SAMPLES

    samples = [build() for _, build in sorted(ALL_SAMPLES.items())]
    orders = []
    for index in range(count):
        sample = samples[index % len(samples)]
        orders.append(
            sample.evolve(
                id=new_id(), channel_order_id=f"{sample.channel_order_id}-{index // len(samples)}"
            )
        )
    return Mix("real platform payloads", "_real_payloads", orders)


def fifteen_field_mix(count: int) -> Mix:
    """Orders of 3 lines, cut down to 15 top-level fields (the rest take their defaults)."""
    texts = []
    for order in OrderFactory(seed=SEED + 1).orders(count, lines=3):
        data = json.loads(order.model_dump_json())
        texts.append(
            json.dumps(
                {name: data[name] for name in FIFTEEN_FIELDS},
                ensure_ascii=False,
                separators=(",", ":"),
            )
        )
    orders = [Order.model_validate_json(text) for text in texts]
    return Mix("15-field order with 3 lines", "_15_fields_3_lines", orders, texts)


# -- 1 and 2: validation and round trip ------------------------------------------------------


def bench_validation(report: Report, mix: Mix, repeat: int) -> None:
    texts, key = mix.texts, mix.key

    def runs(some: Sequence[str]) -> dict[str, Callable[[], float]]:
        return {
            "ours": loop(Order.model_validate_json, some),
            "plain": loop(PlainOrder.model_validate_json, some),
            "loads": loop(json.loads, some),
        }

    rates = compare(
        runs(texts), items=len(texts), repeat=repeat, warmups=runs(texts[:WARMUP_ITEMS])
    )
    ours, plain, loads = rates["ours"], rates["plain"], rates["loads"]
    report.section(f"validate JSON, {mix.label} (mean {mix.mean_bytes:,} bytes)")
    report.contender("Order.model_validate_json", ours)
    target = report.target(
        f"validate{key}_ratio_vs_plain_pydantic",
        TARGET_VALIDATE_RATIO,
        ratio(ours, plain),
    )
    report.contender("plain pydantic model (peer)", plain, ours=ours, target=target)
    report.contender("json.loads (floor)", loads, ours=ours)
    report.figures.update(
        {
            f"validate{key}_per_s": per_s(ours),
            f"plain_pydantic_validate{key}_per_s": per_s(plain),
            f"json_loads{key}_per_s": per_s(loads),
        }
    )


def bench_roundtrip(report: Report, mix: Mix, repeat: int) -> None:
    orders = mix.orders
    plain_orders = [PlainOrder.model_validate_json(text) for text in mix.texts]

    def runs(end: int) -> dict[str, Callable[[], float]]:
        return {
            "ours": loop(lambda o: Order.model_validate_json(o.model_dump_json()), orders[:end]),
            "plain": loop(
                lambda o: PlainOrder.model_validate_json(o.model_dump_json()), plain_orders[:end]
            ),
        }

    rates = compare(runs(len(orders)), items=len(orders), repeat=repeat, warmups=runs(WARMUP_ITEMS))
    ours, plain = rates["ours"], rates["plain"]
    report.section(f"JSON round trip (model_dump_json + model_validate_json), {mix.label}")
    report.contender("Order", ours)
    report.contender("plain pydantic model (peer)", plain, ours=ours)
    key = mix.key
    report.figures.update(
        {
            f"roundtrip{key}_per_s": per_s(ours),
            f"plain_pydantic_roundtrip{key}_per_s": per_s(plain),
            f"roundtrip{key}_ratio_vs_plain_pydantic": ratio(ours, plain),
        }
    )


# -- 3: the SQLite store ---------------------------------------------------------------------


def batched(items: Sequence[T], size: int = BATCH) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def remove_sqlite_file(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


_file_numbers = itertools.count()


def _fresh(workdir: Path, name: str) -> Path:
    return workdir / f"{name}-{next(_file_numbers)}.db"


def stored_orders(result: Any) -> list[Order]:
    """The orders a ``put_many`` wrote, as stored (from a list or a batch result)."""
    orders = getattr(result, "orders", None)
    return list(result) if orders is None else list(orders)


def orders_table(db: sqlite3.Connection) -> str:
    """The name of the store's table of orders: the one with ``channel_order_id`` and ``body``."""
    tables = [
        row[0]
        for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    ]
    for name in sorted(tables, key=lambda name: not name.endswith("orders")):
        columns = {row[1] for row in db.execute(f'PRAGMA table_info("{name}")')}
        if {"id", "channel_order_id", "body"} <= columns:
            return name
    raise LookupError(f"no table of orders among {tables}")


@dataclass
class SQLiteProfile:
    """What the raw floors copy from the store, read off a store opened on a temp file.

    Attributes:
        pragmas: The store connection's settings (:data:`SQLITE_PRAGMAS`).
        source: Where they were read (the store's connection or its attributes).
        table: The store's table of orders.
        schema: ``CREATE`` statements of that table and its indexes.
        checkpointer: What shows the store checkpoints off the commit path
            (``""``: it does not, SQLite checkpoints inside the commits).
        interval: Seconds a background checkpoint waits after a commit.
        checkpoint_synchronous: ``synchronous`` on the checkpointing connection.
    """

    pragmas: dict[str, Any]
    source: str
    table: str
    schema: list[str]
    checkpointer: str
    interval: float
    checkpoint_synchronous: Any

    def with_sqlite_checkpointing(self) -> SQLiteProfile:
        """The same settings with SQLite's own checkpointing (its default threshold)."""
        pragmas = {**self.pragmas, "wal_autocheckpoint": SQLITE_DEFAULT_AUTOCHECKPOINT}
        return replace(self, pragmas=pragmas, checkpointer="")

    def figures(self) -> dict[str, Any]:
        background = bool(self.checkpointer)
        return {
            "sqlite_settings": self.pragmas,
            "sqlite_settings_source": self.source,
            "sqlite_orders_table": self.table,
            "sqlite_background_checkpointer": self.checkpointer or None,
            "sqlite_checkpoint_interval_s": self.interval if background else None,
            "sqlite_checkpoint_synchronous": self.checkpoint_synchronous if background else None,
        }


def _connection_of(holder: object) -> tuple[sqlite3.Connection | None, str]:
    """An object's own SQLite connection, found among its attributes (a public one first)."""
    found = {
        name: value for name, value in vars(holder).items() if isinstance(value, sqlite3.Connection)
    }
    for name in ("connection", "db", "_db", "_connection", "_conn"):
        if name in found:
            return found[name], name
    for name, value in found.items():
        if "checkpoint" not in name:
            return value, name
    return None, ""


def _interval_of(checkpointer: object) -> float | None:
    for name in ("interval", "interval_s", "period", "_interval", "_period"):
        value = getattr(checkpointer, name, None)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


def profile_sqlite_store(workdir: Path, notes: list[str]) -> SQLiteProfile:
    """Open a store on a temp file, write a few orders, and read what a floor must copy."""
    path = _fresh(workdir, "profile")
    threads_before = set(threading.enumerate())
    store = SQLiteStore(path)
    try:
        store.put_many(list(OrderFactory(seed=SEED + 2).orders(3)))
        started = sorted(t.name for t in set(threading.enumerate()) - threads_before)
        connection, name = _connection_of(store)
        if connection is not None:
            source = f"PRAGMAs on the store's connection (SQLiteStore.{name})"
            pragmas = {p: connection.execute(f"PRAGMA {p}").fetchone()[0] for p in SQLITE_PRAGMAS}
        else:
            source = "the store's public attributes, the file and SQLite's defaults"
            notes.append(f"SQLite: the store's connection was not found; settings from {source}")
            with sqlite3.connect(path) as probe:
                pragmas = {p: probe.execute(f"PRAGMA {p}").fetchone()[0] for p in SQLITE_PRAGMAS}
            for pragma in SQLITE_PRAGMAS:
                value = getattr(store, pragma, None)
                if isinstance(value, int | str) and not isinstance(value, bool):
                    pragmas[pragma] = value
        checkpointer = getattr(store, "checkpointer", None) or getattr(store, "_checkpointer", None)
        interval, checkpoint_synchronous = None, pragmas["synchronous"]
        if checkpointer is not None:
            evidence = f"{type(checkpointer).__name__} on its own connection"
            interval = _interval_of(checkpointer)
            own, _ = _connection_of(checkpointer)
            if own is not None:
                with suppress(sqlite3.Error):
                    checkpoint_synchronous = own.execute("PRAGMA synchronous").fetchone()[0]
        elif started:
            evidence = f"thread {', '.join(started)}"
        elif pragmas["wal_autocheckpoint"] == 0:
            evidence = "wal_autocheckpoint=0"
        else:
            evidence = ""
        if evidence and interval is None:
            notes.append(
                f"SQLite: the store checkpoints in the background ({evidence}) without saying "
                f"how soon; the floors wait {DEFAULT_CHECKPOINT_INTERVAL * 1000:.0f} ms"
            )
    finally:
        store.close()
    with sqlite3.connect(path) as probe:
        table = orders_table(probe)
        schema = [
            row[0]
            for row in probe.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL "
                "AND type IN ('table', 'index') ORDER BY type = 'index', rowid",
                (table,),
            )
        ]
    remove_sqlite_file(path)
    return SQLiteProfile(
        pragmas,
        source,
        table,
        schema,
        evidence,
        interval or DEFAULT_CHECKPOINT_INTERVAL,
        checkpoint_synchronous,
    )


def open_floor_sqlite(path: Path, profile: SQLiteProfile) -> sqlite3.Connection:
    """A fresh file with the store's settings and its table of orders (no change log)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in SQLITE_PRAGMAS:
        db.execute(f"PRAGMA {pragma}={profile.pragmas[pragma]}").fetchall()
    for statement in profile.schema:
        db.execute(statement)
    return db


def floor_settings(db: sqlite3.Connection) -> dict[str, Any]:
    return {pragma: db.execute(f"PRAGMA {pragma}").fetchone()[0] for pragma in SQLITE_PRAGMAS}


class FloorCheckpointer:
    """The floor's twin of the store's background checkpointer.

    As the store's does: a thread on its own connection (with the same
    ``synchronous``) wakes after a commit, waits ``interval`` seconds for a burst of
    commits to land, then runs ``wal_checkpoint(PASSIVE)``. SQLite releases the GIL
    while it checkpoints.
    """

    def __init__(self, path: Path, profile: SQLiteProfile) -> None:
        self._interval = profile.interval
        self._wake = threading.Event()
        self._stop = False
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA synchronous={profile.checkpoint_synchronous}")
        self._thread = threading.Thread(target=self._run, name="floor-checkpointer", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            time.sleep(self._interval)
            with suppress(sqlite3.Error):  # busy: the next round catches up
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def stop(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join()
        self._db.close()


class FloorDatabase:
    """A floor file for one run: the connection and, when the store has one, a checkpointer."""

    def __init__(self, path: Path, profile: SQLiteProfile) -> None:
        self.db = open_floor_sqlite(path, profile)
        self.checkpointer = FloorCheckpointer(path, profile) if profile.checkpointer else None

    def write(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """One transaction of ``executemany``, as the store commits a batch."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        db.executemany(sql, rows)
        db.execute("COMMIT")
        if self.checkpointer is not None:
            self.checkpointer.notify()


@contextmanager
def floor_database(path: Path, profile: SQLiteProfile) -> Iterator[FloorDatabase]:
    floor = FloorDatabase(path, profile)
    try:
        yield floor
    finally:
        if floor.checkpointer is not None:
            floor.checkpointer.stop()
        floor.db.close()
        remove_sqlite_file(path)


def checkpoint(path: Path, profile: SQLiteProfile) -> None:
    """Move what the WAL still holds into the database file.

    SQLite (or a background checkpointer) checkpoints as the run goes; ending each
    timed run with a full checkpoint makes every contender pay for all the pages
    it wrote, not for all but the last few hundred.
    """
    db = sqlite3.connect(path, timeout=30)
    try:
        db.execute(f"PRAGMA synchronous={profile.checkpoint_synchronous}")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        db.close()


@dataclass
class StoredMix:
    """A mix as the store wrote it: a store file holding it and the store's rows of it.

    Attributes:
        path: The store file (the read benchmark reads it).
        stored: The orders as ``put_many`` returned them (version 1).
        columns: The ``orders`` table's columns.
        rows: The store's rows, in the order of ``stored``: the floors' ready rows.
        body_without_raw: The store keeps the raw payload out of the body JSON.
    """

    path: Path
    stored: list[Order]
    table: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    body_without_raw: bool

    @property
    def insert(self) -> str:
        names = ", ".join(self.columns)
        marks = ", ".join("?" * len(self.columns))
        return f"INSERT INTO {self.table} ({names}) VALUES ({marks})"

    def dump(self, order: Order) -> str:
        """The body as the store makes it, through the public ``model_dump_json``."""
        if self.body_without_raw:
            return order.model_dump_json(exclude={"raw"})
        return order.model_dump_json()


def store_mix(mix: Mix, profile: SQLiteProfile, workdir: Path) -> StoredMix:
    path = _fresh(workdir, f"stored{mix.key}")
    store = SQLiteStore(path)
    try:
        stored = [o for batch in batched(mix.orders) for o in stored_orders(store.put_many(batch))]
    finally:
        store.close()
    checkpoint(path, profile)
    with sqlite3.connect(path) as db:
        cursor = db.execute(f"SELECT * FROM {profile.table}")
        columns = [column[0] for column in cursor.description]
        id_at = columns.index("id")
        by_id = {row[id_at]: row for row in cursor}
    rows = [by_id[order.id] for order in stored]
    body = rows[0][columns.index("body")]
    with_raw = next((i for i, order in enumerate(stored) if order.raw is not None), None)
    without_raw = with_raw is not None and "raw" not in json.loads(
        rows[with_raw][columns.index("body")]
    )
    if not isinstance(body, str | bytes):  # pragma: no cover - a layout this cannot model
        raise TypeError(f"the store's body column holds {type(body).__name__}")
    return StoredMix(path, stored, profile.table, columns, rows, without_raw)


def bench_sqlite_insert(
    report: Report, mix: Mix, stored: StoredMix, profile: SQLiteProfile, repeat: int, workdir: Path
) -> None:
    """SQLiteStore.put_many beside raw executemany of the store's rows, ready and freshly dumped."""
    body_at = stored.columns.index("body")
    around_body = [(row[:body_at], row[body_at + 1 :]) for row in stored.rows]
    insert, dump = stored.insert, stored.dump
    # The targets' floors are raw SQLite with the store's file format and durability
    # (page size, WAL, synchronous, cache) and SQLite's own checkpointing, as a program
    # writing SQLite directly would have it. Taking checkpoints off the commit path is
    # one of the store's own optimisations, so floors that copy it too are printed
    # beside them for reference, not used for the targets.
    plain = profile.with_sqlite_checkpointing()

    def insert_runs(batches: int | None) -> dict[str, Callable[[], float]]:
        order_batches = batched(mix.orders)[:batches]
        stored_batches = batched(stored.stored)[:batches]
        row_batches = batched(stored.rows)[:batches]
        part_batches = batched(around_body)[:batches]

        def store_insert() -> float:
            path = _fresh(workdir, "store")
            store = SQLiteStore(path)
            try:
                with stopwatch() as watch:
                    for batch in order_batches:
                        store.put_many(batch)
                    checkpoint(path, profile)
            finally:
                store.close()
                remove_sqlite_file(path)
            return watch.seconds

        def raw_insert(settings: SQLiteProfile) -> Callable[[], float]:
            def run() -> float:
                path = _fresh(workdir, "raw")
                with floor_database(path, settings) as floor, stopwatch() as watch:
                    for batch_rows in row_batches:
                        floor.write(insert, batch_rows)
                    checkpoint(path, settings)
                return watch.seconds

            return run

        def raw_dump_insert(settings: SQLiteProfile) -> Callable[[], float]:
            def run() -> float:
                path = _fresh(workdir, "raw-dump")
                with floor_database(path, settings) as floor, stopwatch() as watch:
                    for batch, parts in zip(stored_batches, part_batches, strict=True):
                        floor.write(
                            insert,
                            [
                                (*head, dump(order), *tail)
                                for order, (head, tail) in zip(batch, parts, strict=True)
                            ],
                        )
                    checkpoint(path, settings)
                return watch.seconds

            return run

        runs = {
            "store": store_insert,
            "raw": raw_insert(plain),
            "raw_dump": raw_dump_insert(plain),
        }
        if profile.checkpointer:
            runs["raw_bg"] = raw_insert(profile)
            runs["raw_dump_bg"] = raw_dump_insert(profile)
        return runs

    rates = compare(insert_runs(None), items=len(mix.orders), repeat=repeat, warmups=insert_runs(1))
    store, raw, raw_dump = rates["store"], rates["raw"], rates["raw_dump"]
    key = mix.key
    report.section(f"SQLite insert, {mix.label}, batches of {BATCH:,}")
    report.contender("SQLiteStore.put_many", store)
    dump_target = report.target(
        f"store{key}_ratio_vs_raw_sqlite_dump",
        TARGET_STORE_DUMP_RATIO,
        ratio(store, raw_dump),
    )
    ready_target = report.target(
        f"store{key}_ratio_vs_raw_sqlite",
        TARGET_STORE_RATIO,
        ratio(store, raw),
    )
    dumped = "model_dump_json(exclude={'raw'})" if stored.body_without_raw else "model_dump_json()"
    report.contender(f"raw {dumped} + executemany", raw_dump, ours=store, target=dump_target)
    report.contender(
        "raw executemany of ready JSON (fair floor)", raw, ours=store, target=ready_target
    )
    figures = {
        f"store_insert{key}_per_s": per_s(store),
        f"raw_sqlite_insert{key}_per_s": per_s(raw),
        f"raw_sqlite_dump_insert{key}_per_s": per_s(raw_dump),
    }
    if "raw_bg" in rates:
        report.contender(
            f"  the same, {dumped} + executemany, with the store's background checkpointer",
            rates["raw_dump_bg"],
            ours=store,
        )
        report.contender(
            "  the same, ready JSON, with the store's background checkpointer",
            rates["raw_bg"],
            ours=store,
        )
        figures |= {
            f"raw_sqlite_insert_bg{key}_per_s": per_s(rates["raw_bg"]),
            f"raw_sqlite_dump_insert_bg{key}_per_s": per_s(rates["raw_dump_bg"]),
            f"store{key}_ratio_vs_raw_sqlite_bg": ratio(store, rates["raw_bg"]),
            f"store{key}_ratio_vs_raw_sqlite_dump_bg": ratio(store, rates["raw_dump_bg"]),
        }
    report.figures.update(figures)


def bench_sqlite_get(
    report: Report,
    mix: Mix,
    stored: StoredMix,
    profile: SQLiteProfile,
    repeat: int,
    workdir: Path,
    reads: int,
) -> None:
    """``reads`` random gets by id through the store, beside a raw SELECT (+ validation)."""
    raw_columns = [name for name in stored.columns if name.startswith("raw")]
    select = f"SELECT {', '.join(['body', *raw_columns])} FROM {stored.table} WHERE id = ?"
    reader = SQLiteStore(stored.path)
    path = _fresh(workdir, "read-raw")
    try:
        with floor_database(path, profile) as floor:
            for batch_rows in batched(stored.rows):
                floor.write(stored.insert, batch_rows)
            checkpoint(path, profile)
            db = floor.db
            picks = random.Random(SEED).choices([o.id for o in mix.orders], k=reads)

            def raw_get(order_id: str) -> Any:
                row = db.execute(select, (order_id,)).fetchone()
                return json.loads(row[0]), row[1:]

            def raw_get_validate(order_id: str) -> Order:
                return Order.model_validate_json(db.execute(select, (order_id,)).fetchone()[0])

            def read_runs(picks: Sequence[str]) -> dict[str, Callable[[], float]]:
                return {
                    "store": loop(reader.get, picks),
                    "raw": loop(raw_get, picks),
                    "raw_validate": loop(raw_get_validate, picks),
                }

            rates = compare(
                read_runs(picks),
                items=len(picks),
                repeat=repeat,
                warmups=read_runs(picks[:WARMUP_ITEMS]),
            )
    finally:
        reader.close()
    get, raw_get_rate, raw_validate = rates["store"], rates["raw"], rates["raw_validate"]
    columns = " + ".join(["body", *raw_columns])
    key = mix.key
    report.section(f"SQLite read, random get by id, {mix.label}")
    report.contender("SQLiteStore.get", get)
    report.contender(f"raw SELECT {columns} + json.loads (floor)", raw_get_rate, ours=get)
    report.contender("raw SELECT + Order.model_validate_json(body)", raw_validate, ours=get)
    report.figures.update(
        {
            f"store_get{key}_per_s": per_s(get),
            f"raw_sqlite_get{key}_per_s": per_s(raw_get_rate),
            f"raw_sqlite_get_validate{key}_per_s": per_s(raw_validate),
            f"store_get{key}_ratio_vs_raw_sqlite": ratio(get, raw_get_rate),
        }
    )


# -- 4: the PostgreSQL store -----------------------------------------------------------------


def _psycopg_url(url: str) -> str:
    """The URL without a ``+driver`` part, as libpq wants it."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


def _takes_schema(backend: Any) -> bool:
    for target in (getattr(backend, "from_url", None), backend):
        if target is None:
            continue
        try:
            if "schema" in inspect.signature(target).parameters:
                return True
        except (TypeError, ValueError):
            continue
    return False


def _postgres_skipped(report: Report, mixes: Sequence[Mix], reason: str, short: str) -> None:
    report.notes.append(f"PostgreSQL: skipped, {reason}")
    report.figures["postgres_skipped"] = short
    for mix in mixes:
        report.skipped_target(
            f"postgres{mix.key}_ratio_vs_raw",
            TARGET_POSTGRES_RATIO,
            short,
        )


def bench_postgres(report: Report, mixes: Sequence[Mix], repeat: int) -> None:
    url = os.environ.get("ORDERCORE_TEST_POSTGRES_URL")
    if not url:
        reason = "ORDERCORE_TEST_POSTGRES_URL is not set"
        _postgres_skipped(report, mixes, reason, reason)
        return
    try:
        backend = plugins.load("ordercore.storage", store_scheme(url))
    except ordercore.OrderCoreError as exc:
        reason = f"the PostgreSQL store plugin is not installed ({exc})"
        _postgres_skipped(report, mixes, reason, "plugin not installed")
        return
    if not _takes_schema(backend):
        reason = f"{backend.__name__}.from_url takes no schema= option for a scratch schema"
        _postgres_skipped(report, mixes, reason, reason)
        return
    try:
        import psycopg
    except ImportError:
        _postgres_skipped(report, mixes, "psycopg is not installed", "psycopg is not installed")
        return
    try:
        admin = psycopg.connect(_psycopg_url(url), autocommit=True)
    except psycopg.Error as exc:
        _postgres_skipped(report, mixes, f"cannot connect: {exc}", "cannot connect")
        return
    with admin:
        bench = PostgresBench(url, backend, admin)
        for mix in mixes:
            try:
                bench.run(report, mix, repeat)
            except Exception as exc:  # a plugin being built must not fail the whole run
                reason = f"{mix.label}: {type(exc).__name__}: {exc}"
                report.notes.append(f"PostgreSQL: skipped, {reason}")
                report.figures[f"postgres{mix.key}_skipped"] = f"{type(exc).__name__}"
                report.skipped_target(
                    f"postgres{mix.key}_ratio_vs_raw",
                    TARGET_POSTGRES_RATIO,
                    "a run failed",
                )


def _as_is(text: str) -> str:
    return text


class PostgresBench:
    """The PostgreSQL store beside raw inserts of its own rows into a copy of its table."""

    def __init__(self, url: str, backend: Any, admin: Any) -> None:
        self.url, self.backend, self.admin = url, backend, admin

    @contextmanager
    def scratch_schema(self) -> Iterator[str]:
        name = f"ordercore_bench_{uuid.uuid4().hex[:12]}"
        self.admin.execute(f"CREATE SCHEMA {name}")
        try:
            yield name
        finally:
            self.admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")

    def open_store(self, schema: str) -> Any:
        try:
            return open_store(self.url, schema=schema)
        except Exception:
            # A store that creates its schema itself may refuse one that exists already.
            self.admin.execute(f"DROP SCHEMA {schema} CASCADE")
            return open_store(self.url, schema=schema)

    def mirror_session(self, store: Any) -> str:
        """Give the floor's session the store's ``synchronous_commit``; return it."""
        pool = getattr(store, "pool", None) or getattr(store, "_pool", None)
        setting = None
        if pool is not None:
            with suppress(Exception), pool.connection() as conn:
                setting = conn.execute("SHOW synchronous_commit").fetchone()[0]
        if setting is None:
            setting = self.admin.execute("SHOW synchronous_commit").fetchone()[0]
        self.admin.execute("SELECT set_config('synchronous_commit', %s, false)", (setting,))
        return str(setting)

    def orders_table(self, schema: str) -> str:
        """The store's table of orders in ``schema`` (with ``channel_order_id`` and ``body``)."""
        rows = self.admin.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = %s "
            "AND column_name IN ('id', 'channel_order_id', 'body') GROUP BY table_name "
            "HAVING count(*) = 3 ORDER BY table_name NOT LIKE '%%orders', table_name",
            (schema,),
        ).fetchall()
        if not rows:
            raise LookupError(f"no table of orders in schema {schema}")
        return str(rows[0][0])

    def ready_rows(
        self, table: str, orders: Sequence[Order]
    ) -> tuple[list[str], list[int], list[tuple[Any, ...]]]:
        """The store's rows of ``table`` (columns, type oids, rows in the order of ``orders``)."""
        from psycopg.types.json import Json, Jsonb

        columns = self.admin.execute(
            "SELECT a.attname, a.atttypid, t.typname FROM pg_attribute a "
            "JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = %s::regclass "
            "AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
            (table,),
        ).fetchall()
        names = [name for name, _, _ in columns]
        wrappers = {"json": Json, "jsonb": Jsonb}
        select = ", ".join(
            f'"{name}"::text' if kind in wrappers else f'"{name}"' for name, _, kind in columns
        )
        by_id: dict[str, tuple[Any, ...]] = {}
        id_at = names.index("id")
        for row in self.admin.execute(f"SELECT {select} FROM {table}"):
            # JSON columns travel as their text, wrapped so psycopg sends it unchanged.
            by_id[row[id_at]] = tuple(
                wrappers[kind](value, dumps=_as_is) if kind in wrappers else value
                for value, (_, _, kind) in zip(row, columns, strict=True)
            )
        return names, [oid for _, oid, _ in columns], [by_id[order.id] for order in orders]

    def run(self, report: Report, mix: Mix, repeat: int) -> None:
        admin = self.admin
        with self.scratch_schema() as template:
            store = self.open_store(template)
            try:
                synchronous_commit = self.mirror_session(store)
                for batch in batched(mix.orders):
                    store.put_many(batch)
            finally:
                store.close()
            name = self.orders_table(template)
            names, oids, rows = self.ready_rows(f"{template}.{name}", mix.orders)
            body_type = admin.execute(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = %s AND column_name = 'body'",
                (template, name),
            ).fetchone()
            columns = ", ".join(f'"{column}"' for column in names)
            table = f"CREATE TABLE {{schema}}.{name} (LIKE {template}.{name} INCLUDING ALL)"
            insert = (
                f"INSERT INTO {{schema}}.{name} ({columns}) "
                f"VALUES ({', '.join(['%s'] * len(names))})"
            )
            copy = f"COPY {{schema}}.{name} ({columns}) FROM STDIN (FORMAT BINARY)"

            def insert_runs(batches: int | None) -> dict[str, Callable[[], float]]:
                order_batches = batched(mix.orders)[:batches]
                row_batches = batched(rows)[:batches]

                def store_insert() -> float:
                    with self.scratch_schema() as schema:
                        store = self.open_store(schema)
                        try:
                            with stopwatch() as watch:
                                for batch in order_batches:
                                    store.put_many(batch)
                        finally:
                            store.close()
                    return watch.seconds

                def raw_executemany() -> float:
                    with self.scratch_schema() as schema, admin.cursor() as cursor:
                        cursor.execute(table.format(schema=schema))
                        sql = insert.format(schema=schema)
                        with stopwatch() as watch:
                            for batch_rows in row_batches:
                                with admin.transaction():
                                    cursor.executemany(sql, batch_rows)
                    return watch.seconds

                def raw_copy() -> float:
                    with self.scratch_schema() as schema, admin.cursor() as cursor:
                        cursor.execute(table.format(schema=schema))
                        sql = copy.format(schema=schema)
                        with stopwatch() as watch:
                            for batch_rows in row_batches:
                                with admin.transaction(), cursor.copy(sql) as stream:
                                    stream.set_types(oids)
                                    for row in batch_rows:
                                        stream.write_row(row)
                    return watch.seconds

                return {"store": store_insert, "executemany": raw_executemany, "copy": raw_copy}

            rates = compare(
                insert_runs(None), items=len(mix.orders), repeat=repeat, warmups=insert_runs(1)
            )
        store_rate = rates["store"]
        # The target's floor is the raw driver's executemany of ready rows, as the first
        # measurement defined it; binary COPY of ready rows is printed beside it as the
        # stricter floor (the store streams its batches with COPY too, so that ratio
        # is what the dump and the outbox rows cost on top).
        method = "executemany"
        key = mix.key
        report.section(f"PostgreSQL insert, {mix.label}, batches of {BATCH:,}")
        report.contender(f"{self.backend.__name__}.put_many", store_rate)
        target = report.target(
            f"postgres{key}_ratio_vs_raw",
            TARGET_POSTGRES_RATIO,
            ratio(store_rate, rates[method]),
        )
        for name in ("executemany", "copy"):
            label = "raw executemany" if name == "executemany" else "raw binary COPY"
            floor = name == method
            report.contender(
                f"{label} of ready rows{' (floor)' if floor else ' (stricter floor)'}",
                rates[name],
                ours=store_rate,
                target=target if floor else None,
            )
        report.figures.update(
            {
                f"postgres_insert{key}_per_s": per_s(store_rate),
                f"raw_postgres_insert{key}_per_s": per_s(rates[method]),
                f"raw_postgres_copy{key}_per_s": per_s(rates["copy"]),
                f"postgres{key}_ratio_vs_raw_copy": ratio(store_rate, rates["copy"]),
                f"raw_postgres{key}_method": method,
                "postgres_body_type": body_type[0] if body_type else None,
                "postgres_synchronous_commit": synchronous_commit,
            }
        )


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer orders and repetitions")
    parser.add_argument(
        "--orders", type=int, help="orders per run and mix (default 2,000 / 10,000)"
    )
    parser.add_argument("--repeat", type=int, help="timed repetitions (default 5 / 7)")
    parser.add_argument(
        "--json-only", action="store_true", help="print only the JSON line on stdout"
    )
    args = parser.parse_args(argv)
    if args.orders is None:
        args.orders = QUICK_ORDERS if args.quick else FULL_ORDERS
    if args.repeat is None:
        args.repeat = QUICK_REPEAT if args.quick else FULL_REPEAT
    if args.orders < 1 or args.repeat < 1:
        parser.error("--orders and --repeat must be at least 1")
    args.items = min(QUICK_ITEMS, args.orders) if args.quick else args.orders
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = sys.stderr if args.json_only else sys.stdout
    report = Report()

    mixes = [factory_mix(args.orders)]
    try:
        mixes.append(real_payload_mix(args.orders))
    except ImportError as exc:
        report.notes.append(f"real platform payloads: skipped, {TESTS} has no samples ({exc})")
        report.figures["real_payloads_skipped"] = "tests/channel_samples.py not found"
    small = fifteen_field_mix(args.orders)
    differences = mirror_differences()
    same_shape = not differences and all(same_json(mix.texts[:200]) for mix in [*mixes, small])

    print(
        f"ordercore {ordercore.__version__} schema benchmark: {args.orders:,} orders per mix "
        f"({', '.join(f'{m.label}: mean {m.mean_bytes:,} bytes of JSON' for m in mixes)}), "
        f"median of {args.repeat} runs after a warm-up; Python {platform.python_version()}, "
        f"pydantic {pydantic.VERSION}, SQLite {sqlite3.sqlite_version}",
        file=out,
    )
    if not same_shape:
        where = "; ".join(differences) or "the JSON it writes differs"
        print(f"WARNING: the plain model no longer mirrors the canonical Order ({where})", file=out)

    report.figures.update(
        {
            "python": platform.python_version(),
            "pydantic": pydantic.VERSION,
            "ordercore": ordercore.__version__,
            "sqlite": sqlite3.sqlite_version,
            "orders": args.orders,
            "repeat": args.repeat,
            "quick": args.quick,
            "plain_model_same_shape": same_shape,
            "mean_json_bytes": {m.key.lstrip("_") or "factory": m.mean_bytes for m in mixes},
        }
    )
    for mix in mixes:
        bench_validation(report, mix.first(args.items), args.repeat)
    bench_validation(report, small.first(args.items), args.repeat)
    for mix in mixes:
        bench_roundtrip(report, mix.first(args.items), args.repeat)
    with tempfile.TemporaryDirectory(prefix="ordercore-bench-") as workdir:
        folder = Path(workdir)
        profile = profile_sqlite_store(folder, report.notes)
        report.figures.update(profile.figures())
        probe = _fresh(folder, "floor-probe")
        with floor_database(probe, profile) as probe_floor:
            floor = floor_settings(probe_floor.db)
        report.figures["sqlite_floor_settings_match"] = floor == profile.pragmas
        if floor != profile.pragmas:
            report.notes.append(
                f"WARNING: the floors' SQLite settings {floor} differ from the store's"
            )
        for mix in [*mixes, small]:
            stored = store_mix(mix, profile, folder)
            try:
                bench_sqlite_insert(report, mix, stored, profile, args.repeat, folder)
                if mix is not small:
                    bench_sqlite_get(report, mix, stored, profile, args.repeat, folder, args.items)
            finally:
                remove_sqlite_file(stored.path)
    bench_postgres(report, mixes, args.repeat)

    settings = ", ".join(f"{name}={value}" for name, value in profile.pragmas.items())
    checkpoints = (
        f"in the background ({profile.checkpointer}; the floors' twin checkpoints "
        f"{profile.interval * 1000:.0f} ms after a commit)"
        if profile.checkpointer
        else "inside the commits (SQLite's automatic checkpoints), the floors' alike"
    )
    print(f"SQLite store and floors: {settings}; checkpoints {checkpoints}", file=out)
    for note in report.notes:
        print(note, file=out)
    if not args.json_only:
        print(report.table())
        print()
        print("Targets (ratios measured side by side; the rates above are for reference):")
        print(report.targets_table())
    print(report.json_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
