"""How fast the canonical Order validates, round-trips and is stored, beside its peers and floors.

Usage::

    python benchmarks/schema.py [--quick] [--orders N] [--repeat R] [--json-only]

Each figure is measured in the same run as the thing it is judged against:

1. ``Order.model_validate_json`` beside a plain pydantic model of the same shape
   (its peer) and ``json.loads`` of the same text (its floor), for the factory's
   mix of orders and for a 15-field order with 3 lines.
2. The JSON round trip (``model_dump_json`` + ``model_validate_json``), ours and plain.
3. ``SQLiteStore.put_many`` (batches of 1,000, fresh WAL file) beside raw
   ``sqlite3`` ``executemany`` of the already-serialised JSON (floor a) and of JSON
   made by ``model_dump_json()`` inside the timed loop (floor b); then random
   ``get`` by id beside a raw ``SELECT body`` + ``json.loads``.
4. With ``ORDERCORE_TEST_POSTGRES_URL`` set and the PostgreSQL store plugin
   installed: its ``put_many`` beside a raw psycopg batched insert (executemany or
   COPY, whichever is faster) into a scratch schema.

It prints a table, then, as its last line, one JSON object with every figure.
Targets are printed beside the figures and never asserted; the exit status is 0.
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
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import pydantic
from _harness import Rate, compare, format_rate, format_table, loop, stopwatch
from pydantic import BaseModel, Field, JsonValue

import ordercore
from ordercore import Order, open_store, plugins
from ordercore.storage import SQLiteStore, store_scheme
from ordercore.testing import OrderFactory

SEED = 20261111
BATCH = 1_000
QUICK_ORDERS, FULL_ORDERS = 2_000, 10_000
QUICK_REPEAT, FULL_REPEAT = 5, 7

#: Items of the untimed warm-up run of each contender (one batch for the stores).
WARMUP_ITEMS = 200

TARGET_VALIDATE_RATIO = 0.5
TARGET_STORE_INSERT = 20_000
TARGET_STORE_RATIO = 0.5

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
        for field in ours.model_fields.values():
            for nested in _models_in(field.annotation):
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


class Report:
    """The table rows and the JSON figures, built up section by section."""

    HEADERS = ("benchmark / contender", "median", "spread", "ours/this", "target", "met")

    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []
        self.figures: dict[str, Any] = {}
        self.notes: list[str] = []

    def section(self, title: str) -> None:
        if self.rows:
            self.rows.append(("",) * len(self.HEADERS))
        self.rows.append((title, "", "", "", "", ""))

    def contender(
        self,
        label: str,
        rate: Rate,
        *,
        ours: Rate | None = None,
        target: str = "",
        met: bool | None = None,
    ) -> None:
        versus = f"{ours.median / rate.median:.2f}" if ours is not None else ""
        self.rows.append(
            (
                f"  {label}",
                format_rate(rate.median),
                f"{rate.spread:.0%}",
                versus,
                target,
                "" if met is None else ("yes" if met else "NO"),
            )
        )

    def table(self) -> str:
        return format_table(self.HEADERS, self.rows)


def per_s(rate: Rate) -> float:
    return round(rate.median, 1)


def ratio(ours: Rate, other: Rate) -> float:
    return round(ours.median / other.median, 3)


# -- 1 and 2: validation and round trip ------------------------------------------------------


def bench_validation(
    report: Report, label: str, key: str, texts: Sequence[str], repeat: int
) -> None:
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
    validate_ratio = ratio(ours, plain)
    report.section(f"validate JSON, {label}")
    report.contender("Order.model_validate_json", ours)
    report.contender(
        "plain pydantic model (peer)",
        plain,
        ours=ours,
        target=f">= {TARGET_VALIDATE_RATIO}",
        met=validate_ratio >= TARGET_VALIDATE_RATIO,
    )
    report.contender("json.loads (floor)", loads, ours=ours)
    report.figures.update(
        {
            f"validate{key}_per_s": per_s(ours),
            f"plain_pydantic_validate{key}_per_s": per_s(plain),
            f"json_loads{key}_per_s": per_s(loads),
            f"validate{key}_ratio_vs_plain_pydantic": validate_ratio,
        }
    )


def bench_roundtrip(report: Report, texts: Sequence[str], repeat: int) -> None:
    orders = [Order.model_validate_json(text) for text in texts]
    plain_orders = [PlainOrder.model_validate_json(text) for text in texts]

    def runs(end: int) -> dict[str, Callable[[], float]]:
        return {
            "ours": loop(lambda o: Order.model_validate_json(o.model_dump_json()), orders[:end]),
            "plain": loop(
                lambda o: PlainOrder.model_validate_json(o.model_dump_json()), plain_orders[:end]
            ),
        }

    rates = compare(runs(len(orders)), items=len(orders), repeat=repeat, warmups=runs(WARMUP_ITEMS))
    ours, plain = rates["ours"], rates["plain"]
    report.section("JSON round trip (model_dump_json + model_validate_json)")
    report.contender("Order", ours)
    report.contender("plain pydantic model (peer)", plain, ours=ours)
    report.figures.update(
        {
            "roundtrip_per_s": per_s(ours),
            "plain_pydantic_roundtrip_per_s": per_s(plain),
            "roundtrip_ratio_vs_plain_pydantic": ratio(ours, plain),
        }
    )


# -- 3: the SQLite store ---------------------------------------------------------------------

_RAW_SQLITE_TABLE = (
    "CREATE TABLE orders (id TEXT PRIMARY KEY, channel TEXT NOT NULL, "
    "channel_order_id TEXT NOT NULL, body TEXT NOT NULL, UNIQUE (channel, channel_order_id))"
)
_RAW_SQLITE_INSERT = "INSERT INTO orders (id, channel, channel_order_id, body) VALUES (?, ?, ?, ?)"


def batched(items: Sequence[T], size: int = BATCH) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def remove_sqlite_file(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


def open_raw_sqlite(path: Path) -> sqlite3.Connection:
    """A file like the store's: WAL, ``synchronous=NORMAL`` (the store's default)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(_RAW_SQLITE_TABLE)
    return db


def checkpoint(path: Path) -> None:
    """Move what the WAL still holds into the database file.

    SQLite checkpoints on its own every 1,000 pages; ending each timed run with a
    full checkpoint makes every contender pay for all the pages it wrote, not for
    all but the last few hundred.
    """
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        db.close()


_file_numbers = itertools.count()


def _fresh(workdir: Path, name: str) -> Path:
    return workdir / f"{name}-{next(_file_numbers)}.db"


def bench_sqlite_insert(
    report: Report,
    label: str,
    suffix: str,
    orders: Sequence[Order],
    texts: Sequence[str],
    repeat: int,
    workdir: Path,
) -> None:
    """SQLiteStore.put_many beside raw executemany of the same JSON, with and without the dump."""
    rows = [(o.id, o.channel, o.channel_order_id, t) for o, t in zip(orders, texts, strict=True)]
    order_batches, row_batches = batched(orders), batched(rows)

    def fresh(name: str) -> Path:
        return _fresh(workdir, name)

    def insert_runs(
        order_batches: Sequence[Sequence[Order]], row_batches: Sequence[Sequence[tuple[str, ...]]]
    ) -> dict[str, Callable[[], float]]:
        def store_insert() -> float:
            path = fresh("store")
            store = SQLiteStore(path)
            try:
                with stopwatch() as watch:
                    for batch in order_batches:
                        store.put_many(batch)
                    checkpoint(path)
            finally:
                store.close()
                remove_sqlite_file(path)
            return watch.seconds

        def raw_insert() -> float:
            path = fresh("raw")
            db = open_raw_sqlite(path)
            try:
                with stopwatch() as watch:
                    for batch_rows in row_batches:
                        db.execute("BEGIN IMMEDIATE")
                        db.executemany(_RAW_SQLITE_INSERT, batch_rows)
                        db.execute("COMMIT")
                    checkpoint(path)
            finally:
                db.close()
                remove_sqlite_file(path)
            return watch.seconds

        def raw_dump_insert() -> float:
            path = fresh("raw-dump")
            db = open_raw_sqlite(path)
            try:
                with stopwatch() as watch:
                    for batch in order_batches:
                        db.execute("BEGIN IMMEDIATE")
                        db.executemany(
                            _RAW_SQLITE_INSERT,
                            [
                                (o.id, o.channel, o.channel_order_id, o.model_dump_json())
                                for o in batch
                            ],
                        )
                        db.execute("COMMIT")
                    checkpoint(path)
            finally:
                db.close()
                remove_sqlite_file(path)
            return watch.seconds

        return {"store": store_insert, "raw": raw_insert, "raw_dump": raw_dump_insert}

    rates = compare(
        insert_runs(order_batches, row_batches),
        items=len(orders),
        repeat=repeat,
        warmups=insert_runs(order_batches[:1], row_batches[:1]),
    )
    store, raw, raw_dump = rates["store"], rates["raw"], rates["raw_dump"]
    store_ratio = ratio(store, raw)
    report.section(f"SQLite insert, {label}, batches of {BATCH:,}, fresh WAL file, checkpoint")
    report.contender(
        "SQLiteStore.put_many",
        store,
        target=f">= {TARGET_STORE_INSERT:,}/s",
        met=store.median >= TARGET_STORE_INSERT,
    )
    report.contender(
        "raw executemany, JSON ready (floor a)",
        raw,
        ours=store,
        target=f">= {TARGET_STORE_RATIO}",
        met=store_ratio >= TARGET_STORE_RATIO,
    )
    report.contender("raw executemany + model_dump_json (floor b)", raw_dump, ours=store)
    report.figures.update(
        {
            f"store_insert{suffix}_per_s": per_s(store),
            f"raw_sqlite_insert{suffix}_per_s": per_s(raw),
            f"raw_sqlite_dump_insert{suffix}_per_s": per_s(raw_dump),
            f"store{suffix}_ratio_vs_raw_sqlite": store_ratio,
            f"store{suffix}_ratio_vs_raw_sqlite_dump": ratio(store, raw_dump),
        }
    )


def bench_sqlite_get(
    report: Report, orders: Sequence[Order], texts: Sequence[str], repeat: int, workdir: Path
) -> None:
    """Random get by id through the store, beside a raw SELECT (with and without validation)."""
    rows = [(o.id, o.channel, o.channel_order_id, t) for o, t in zip(orders, texts, strict=True)]
    order_batches, row_batches = batched(orders), batched(rows)
    store_path, raw_path = _fresh(workdir, "read-store"), _fresh(workdir, "read-raw")
    reader = SQLiteStore(store_path)
    db = open_raw_sqlite(raw_path)
    try:
        for batch in order_batches:
            reader.put_many(batch)
        for rows in row_batches:
            db.execute("BEGIN")
            db.executemany(_RAW_SQLITE_INSERT, rows)
            db.execute("COMMIT")
        picks = random.Random(SEED).choices([o.id for o in orders], k=len(orders))

        def raw_get(order_id: str) -> Any:
            return json.loads(
                db.execute("SELECT body FROM orders WHERE id = ?", (order_id,)).fetchone()[0]
            )

        def raw_get_validate(order_id: str) -> Order:
            body = db.execute("SELECT body FROM orders WHERE id = ?", (order_id,)).fetchone()[0]
            return Order.model_validate_json(body)

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
        db.close()
        remove_sqlite_file(store_path)
        remove_sqlite_file(raw_path)
    get, raw_get_rate, raw_validate = rates["store"], rates["raw"], rates["raw_validate"]
    report.section("SQLite read, random get by id")
    report.contender("SQLiteStore.get", get)
    report.contender("raw SELECT body + json.loads (floor)", raw_get_rate, ours=get)
    report.contender("raw SELECT body + Order.model_validate_json", raw_validate, ours=get)
    report.figures.update(
        {
            "store_get_per_s": per_s(get),
            "raw_sqlite_get_per_s": per_s(raw_get_rate),
            "raw_sqlite_get_validate_per_s": per_s(raw_validate),
            "store_get_ratio_vs_raw_sqlite": ratio(get, raw_get_rate),
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


def bench_postgres(
    report: Report, orders: Sequence[Order], texts: Sequence[str], repeat: int
) -> None:
    url = os.environ.get("ORDERCORE_TEST_POSTGRES_URL")
    if not url:
        report.notes.append("PostgreSQL: skipped, ORDERCORE_TEST_POSTGRES_URL is not set")
        report.figures["postgres_skipped"] = "ORDERCORE_TEST_POSTGRES_URL is not set"
        return
    try:
        backend = plugins.load("ordercore.storage", store_scheme(url))
    except ordercore.OrderCoreError as exc:
        reason = f"the PostgreSQL store plugin is not installed ({exc})"
        report.notes.append(f"PostgreSQL: skipped, {reason}")
        report.figures["postgres_skipped"] = "plugin not installed"
        return
    if not _takes_schema(backend):
        reason = f"{backend.__name__}.from_url takes no schema= option for a scratch schema"
        report.notes.append(f"PostgreSQL: skipped, {reason}")
        report.figures["postgres_skipped"] = reason
        return
    try:
        import psycopg
    except ImportError:
        report.notes.append("PostgreSQL: skipped, psycopg is not installed")
        report.figures["postgres_skipped"] = "psycopg is not installed"
        return
    try:
        admin = psycopg.connect(_psycopg_url(url), autocommit=True)
    except psycopg.Error as exc:
        report.notes.append(f"PostgreSQL: skipped, cannot connect: {exc}")
        report.figures["postgres_skipped"] = "cannot connect"
        return
    with admin:
        _bench_postgres(report, url, backend, admin, orders, texts, repeat)


def _bench_postgres(
    report: Report,
    url: str,
    backend: Any,
    admin: Any,
    orders: Sequence[Order],
    texts: Sequence[str],
    repeat: int,
) -> None:
    @contextmanager
    def scratch_schema() -> Iterator[str]:
        name = f"ordercore_bench_{uuid.uuid4().hex[:12]}"
        admin.execute(f"CREATE SCHEMA {name}")
        try:
            yield name
        finally:
            admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")

    def open_scratch_store(schema: str) -> Any:
        try:
            return open_store(url, schema=schema)
        except Exception:
            # A store that creates its schema itself may refuse one that exists already.
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
            return open_store(url, schema=schema)

    # Open the store once: it must work, and its body column type is copied for the floor.
    try:
        with scratch_schema() as schema:
            probe = open_scratch_store(schema)
            probe.close()
            row = admin.execute(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = 'orders' AND column_name = 'body'",
                (schema,),
            ).fetchone()
    except Exception as exc:  # any failure of a plugin being built must not fail the run
        report.notes.append(f"PostgreSQL: skipped, open_store failed: {type(exc).__name__}: {exc}")
        report.figures["postgres_skipped"] = "open_store failed"
        return
    body_type = "jsonb" if row is None else str(row[0])

    rows = [(o.id, o.channel, o.channel_order_id, t) for o, t in zip(orders, texts, strict=True)]
    order_batches, row_batches = batched(orders), batched(rows)
    table = (
        "CREATE TABLE {schema}.orders (id text PRIMARY KEY, channel text NOT NULL, "
        "channel_order_id text NOT NULL, body {body} NOT NULL, UNIQUE (channel, channel_order_id))"
    )
    insert = (
        "INSERT INTO {schema}.orders (id, channel, channel_order_id, body) VALUES (%s, %s, %s, %s)"
    )
    copy = "COPY {schema}.orders (id, channel, channel_order_id, body) FROM STDIN"

    def insert_runs(
        order_batches: Sequence[Sequence[Order]], row_batches: Sequence[Sequence[tuple[str, ...]]]
    ) -> dict[str, Callable[[], float]]:
        def store_insert() -> float:
            with scratch_schema() as schema:
                store = open_scratch_store(schema)
                try:
                    with stopwatch() as watch:
                        for batch in order_batches:
                            store.put_many(batch)
                finally:
                    store.close()
            return watch.seconds

        def raw_executemany() -> float:
            with scratch_schema() as schema, admin.cursor() as cursor:
                cursor.execute(table.format(schema=schema, body=body_type))
                sql = insert.format(schema=schema)
                with stopwatch() as watch:
                    for batch_rows in row_batches:
                        with admin.transaction():
                            cursor.executemany(sql, batch_rows)
            return watch.seconds

        def raw_copy() -> float:
            with scratch_schema() as schema, admin.cursor() as cursor:
                cursor.execute(table.format(schema=schema, body=body_type))
                sql = copy.format(schema=schema)
                with stopwatch() as watch:
                    for batch_rows in row_batches:
                        with admin.transaction(), cursor.copy(sql) as stream:
                            for row in batch_rows:
                                stream.write_row(row)
            return watch.seconds

        return {"store": store_insert, "executemany": raw_executemany, "copy": raw_copy}

    try:
        rates = compare(
            insert_runs(order_batches, row_batches),
            items=len(orders),
            repeat=repeat,
            warmups=insert_runs(order_batches[:1], row_batches[:1]),
        )
    except Exception as exc:  # any failure of a plugin being built must not fail the run
        report.notes.append(f"PostgreSQL: skipped, a run failed: {type(exc).__name__}: {exc}")
        report.figures["postgres_skipped"] = "a run failed"
        return
    store = rates["store"]
    method = max(("executemany", "copy"), key=lambda name: rates[name].median)
    floor = rates[method]
    report.section(f"PostgreSQL insert, batches of {BATCH:,}, scratch schema (body {body_type})")
    report.contender(f"{backend.__name__}.put_many", store)
    for name in ("executemany", "copy"):
        label = "raw executemany" if name == "executemany" else "raw COPY"
        report.contender(f"{label}{' (floor)' if name == method else ''}", rates[name], ours=store)
    report.figures.update(
        {
            "postgres_insert_per_s": per_s(store),
            "raw_postgres_insert_per_s": per_s(floor),
            "postgres_ratio_vs_raw": ratio(store, floor),
            "raw_postgres_method": method,
        }
    )


# -- main --------------------------------------------------------------------------------------


def fifteen_field_texts(count: int) -> list[str]:
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
    return texts


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer orders and repetitions")
    parser.add_argument("--orders", type=int, help="orders per run (default 2,000 / 10,000)")
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
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = sys.stderr if args.json_only else sys.stdout

    orders = list(OrderFactory(seed=SEED).orders(args.orders))
    texts = [order.model_dump_json() for order in orders]
    small_texts = fifteen_field_texts(args.orders)
    differences = mirror_differences()
    same_shape = not differences and same_json(texts[:200]) and same_json(small_texts[:50])

    print(
        f"ordercore {ordercore.__version__} schema benchmark: {args.orders:,} orders "
        f"(mean {sum(map(len, texts)) // len(texts):,} bytes of JSON), "
        f"median of {args.repeat} runs after a warm-up; Python {platform.python_version()}, "
        f"pydantic {pydantic.VERSION}, SQLite {sqlite3.sqlite_version}",
        file=out,
    )
    if not same_shape:
        where = "; ".join(differences) or "the JSON it writes differs"
        print(f"WARNING: the plain model no longer mirrors the canonical Order ({where})", file=out)

    report = Report()
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
        }
    )
    bench_validation(report, "factory mix (1-4 lines, raw payload)", "", texts, args.repeat)
    bench_validation(
        report, "15-field order with 3 lines", "_15_fields_3_lines", small_texts, args.repeat
    )
    bench_roundtrip(report, texts, args.repeat)
    small_orders = [Order.model_validate_json(text) for text in small_texts]
    with tempfile.TemporaryDirectory(prefix="ordercore-bench-") as workdir:
        folder = Path(workdir)
        bench_sqlite_insert(report, "factory mix", "", orders, texts, args.repeat, folder)
        bench_sqlite_insert(
            report,
            "15-field order with 3 lines",
            "_15_fields_3_lines",
            small_orders,
            [order.model_dump_json() for order in small_orders],
            args.repeat,
            folder,
        )
        bench_sqlite_get(report, orders, texts, args.repeat, folder)
    bench_postgres(report, orders, texts, args.repeat)

    for note in report.notes:
        print(note, file=out)
    if not args.json_only:
        print(report.table())
    print(json.dumps(report.figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
