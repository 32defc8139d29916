"""The code in README.md, docs/ and examples/ runs as written and does what it says.

Blocks fenced as ```python must run on their own; fragments meant only to be read
are fenced as ```py. Each block runs in a scratch working directory, statement by
statement like a REPL, so the value of every top-level expression is kept and
checked below, together with what the block printed and what it left behind.
Every block needs an expectation: one registered with ``@expect(file, anchor)``,
where ``anchor`` is a piece of text found in that block only.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import re
import runpy
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ordercore import Money, OrderStatus, open_store, plugins
from ordercore.errors import PluginNotFound
from ordercore.ids import is_valid_id
from ordercore.storage import OrderStore, SQLiteStore, order_fingerprint
from ordercore.storage.kit import Outcome
from ordercore.testing import StoreConformance
from ordercore.timestamps import utc_now

ROOT = Path(__file__).resolve().parent.parent
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "examples").glob("*.md")),
]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
ULID = "[0-9A-HJKMNP-TV-Z]{26}"


@dataclass
class Run:
    """What running one code block produced."""

    stdout: str
    values: list[tuple[str, Any]]  # (source of a top-level expression, its value)
    namespace: dict[str, Any]
    folder: Path

    def value(self, source: str) -> Any:
        """The value of the one top-level expression written exactly as ``source``."""
        found = [value for text, value in self.values if text == source]
        assert len(found) == 1, f"{source!r} is not one top-level expression of the block"
        return found[0]

    def values_of(self, source: str) -> list[Any]:
        return [value for text, value in self.values if text == source]


def run_block(code: str, where: str, folder: Path) -> Run:
    """Execute ``code`` statement by statement in ``folder`` (the current directory)."""
    assert Path.cwd() == folder
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    values: list[tuple[str, Any]] = []
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for node in ast.parse(code, where).body:
            if isinstance(node, ast.Expr):
                value = eval(compile(ast.Expression(node.value), where, "eval"), namespace)
                values.append((ast.get_source_segment(code, node) or "", value))
            else:
                exec(compile(ast.Module([node], []), where, "exec"), namespace)
    return Run(out.getvalue(), values, namespace, folder)


def close_stores(run: Run) -> None:
    for value in run.namespace.values():
        if isinstance(value, OrderStore):
            value.close()


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _blocks() -> list[tuple[str, str, str]]:
    """(file, id, code) of every ```python block."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for index, match in enumerate(BLOCK.finditer(text), start=1):
            found.append((_relative(path), f"{_relative(path)}#{index}", match.group(1)))
    return found


Check = Callable[[Run], None]
EXPECTATIONS: dict[tuple[str, str], Check] = {}


def expect(file: str, anchor: str) -> Callable[[Check], Check]:
    """Register the checks for the block of ``file`` that contains ``anchor``."""

    def register(check: Check) -> Check:
        EXPECTATIONS[(file, anchor)] = check
        return check

    return register


#: Blocks whose documented results the code does not produce yet: (file, anchor) -> why.
KNOWN_WRONG: dict[tuple[str, str], str] = {}


def _block_params() -> list[object]:
    params: list[object] = []
    for file, block_id, code in _blocks():
        reasons = [why for (f, anchor), why in KNOWN_WRONG.items() if f == file and anchor in code]
        marks = [pytest.mark.xfail(raises=AssertionError, reason=why) for why in reasons]
        params.append(pytest.param(file, code, marks=marks, id=block_id))
    return params


def _expectation_for(file: str, code: str) -> Check:
    matching = [
        check for (f, anchor), check in EXPECTATIONS.items() if f == file and anchor in code
    ]
    assert len(matching) == 1, (
        f"{len(matching)} expectations match this block of {file}; "
        "register exactly one with @expect(file, anchor)"
    )
    return matching[0]


# README.md -----------------------------------------------------------------------------

README_ORDER = ("douyin", "6919254847512345678")


def check_readme(run: Run, *, first: bool) -> None:
    """orders.db holds the one order, allocated, with its history and an empty outbox.

    The first run publishes the order's two changes; a later run finds the order
    stored and allocated already, so it stores and publishes nothing.
    """
    lines = run.stdout.splitlines()
    assert lines[0].startswith("name=PersonName('王**') phone=PhoneNumber('138****8000') ")
    assert " province='浙江省' city='杭州市' district='西湖区' " in lines[0]
    assert " detail=AddressText('文三****') " in lines[0]
    for plaintext in ("13800138000", "王小明", "文三路"):
        assert plaintext not in run.stdout
    assert sorted(p.name for p in run.folder.iterdir() if not p.name.startswith("orders.db-")) == [
        "orders.db"
    ]
    with open_store("sqlite:///orders.db") as store:
        assert store.count() == 1
        order = store.find(*README_ORDER)
        assert order is not None
        assert (order.status, order.version) == (OrderStatus.ALLOCATED, 2)
        assert order.amounts.paid == Money("2999.00")
        assert [(line.sku, line.unit_price) for line in order.lines] == [
            ("SOF-2026-GREY", Money("2999.00"))
        ]
        assert order.created_at.utc == datetime(2025, 11, 22, 3, 0, tzinfo=UTC)
        assert order.receiver is not None and order.receiver.phone is not None
        assert order.receiver.phone.reveal() == "13800138000"
        assert [(e.type, e.order_version) for e in store.events(order.id)] == [
            ("order.created", 1),
            ("order.updated", 2),
        ]
        assert store.outbox_pending() == 0
    published = [
        f"publish order.created {order.id} version 1",
        f"publish order.updated {order.id} version 2",
    ]
    assert lines[1:] == [*(published if first else []), "6919254847512345678 allocated version 2"]


@expect("README.md", 'open_store("sqlite:///orders.db")')
def check_readme_first_run(run: Run) -> None:
    check_readme(run, first=True)


# docs/index.md -------------------------------------------------------------------------


@expect("docs/index.md", 'allocate(Money("10.00")')
def check_money_parsing_and_allocation(run: Run) -> None:
    """Every channel's money form reads exactly; the discount is spread to the fen."""
    assert run.value('parse_yuan("12.34")') == Money("12.34", "CNY")
    assert run.value('parse_yuan(payload["pay_amount"])') == Money("11.01", "CNY")
    assert run.value("parse_fen(1234)") == Money("12.34", "CNY")
    # 10.00 x 99/199 = 4.9749 twice and x 1/199 = 0.0503: 4.97 + 4.97 + 0.05 leaves one
    # fen, which goes to the largest remainder (the first of the tied lines).
    assert run.namespace["parts"] == [Money("4.98"), Money("4.97"), Money("0.05")]
    assert run.stdout == ""


@expect("docs/index.md", 'zone="Asia/Tokyo"')
def check_channel_times(run: Run) -> None:
    """Each form of channel time lands on the right UTC instant; sentinels become None."""
    expected = {
        'parse_channel_time("2026-11-11 00:00:05").utc': datetime(2026, 11, 10, 16, 0, 5),
        "parse_channel_time(1762790405).utc": datetime(2025, 11, 10, 16, 0, 5),
        "parse_channel_time(1762790405000).utc": datetime(2025, 11, 10, 16, 0, 5),
        'parse_channel_time("2026-11-10T11:00:05-05:00").utc': datetime(2026, 11, 10, 16, 0, 5),
    }
    for source, naive in expected.items():
        value = run.value(source)
        assert (value, value.tzinfo) == (naive.replace(tzinfo=UTC), UTC), source
    assert run.value('parse_channel_time("0001-01-01 00:00:00")') is None
    tokyo = run.value('parse_channel_time("2026-11-11 00:00:05", zone="Asia/Tokyo")')
    assert (tokyo.utc, tokyo.original, tokyo.zone) == (
        datetime(2026, 11, 10, 15, 0, 5, tzinfo=UTC),
        "2026-11-11 00:00:05",
        "Asia/Tokyo",
    )


@expect("docs/index.md", 'PhoneNumber("13800138000")')
def check_phone_masking(run: Run) -> None:
    """A phone number prints masked both ways and reveals its plaintext only on request."""
    assert run.stdout == "138****8000 PhoneNumber('138****8000')\n"
    assert run.value("phone.reveal()") == "13800138000"


# docs/plugins.md -----------------------------------------------------------------------


@expect("docs/plugins.md", 'plugins.registered("ordercore.storage")')
def check_plugin_registry(run: Run) -> None:
    """The built-in stores are listed as built-ins; a registration ends with its block."""
    infos = run.value('plugins.registered("ordercore.storage")')
    assert [i.name for i in infos] == sorted(i.name for i in infos)
    assert [(i.name, i.target, i.distribution) for i in infos if i.builtin] == [
        ("memory", "ordercore.storage._memory:MemoryStore", "ordercore-oms"),
        ("sqlite", "ordercore.storage._sqlite:SQLiteStore", "ordercore-oms"),
    ]
    assert run.value('plugins.load("ordercore.storage", "sqlite")') is SQLiteStore
    assert "test-scorer" not in [i.name for i in plugins.registered("ordercore.scorers")]
    with pytest.raises(PluginNotFound):
        plugins.load("ordercore.scorers", "test-scorer")
    assert run.stdout == ""


@expect("docs/plugins.md", "class TestMyStore(StoreConformance)")
def check_conformance_subclass(run: Run) -> None:
    """The backend's test class inherits the suite and supplies both fixtures itself."""
    cls = run.namespace["TestMyStore"]
    assert cls.__mro__[1] is StoreConformance
    assert {"store", "reopen"} <= set(vars(cls))
    assert run.stdout == ""


# docs/storage.md -----------------------------------------------------------------------


@expect("docs/storage.md", "synchronous=full")
def check_sqlite_url(run: Run) -> None:
    """The URL opens a SQLite file in the current directory, in WAL mode."""
    store = run.namespace["store"]
    assert type(store) is SQLiteStore
    assert store.path == "orders.db"
    assert (run.folder / "orders.db").is_file()
    with contextlib.closing(sqlite3.connect(run.folder / "orders.db")) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@expect("docs/storage.md", 'OrderFactory(seed=1).order(channel="jd"')
def check_put_update_put_many(run: Run) -> None:
    """put makes version 1, update version 2, put_many stores the whole batch."""
    stored, moved, store = run.namespace["stored"], run.namespace["moved"], run.namespace["store"]
    assert (stored.channel, stored.status, stored.version) == ("jd", OrderStatus.PAID, 1)
    assert (moved.id, moved.status, moved.version) == (stored.id, OrderStatus.ALLOCATED, 2)
    batch = run.value("store.put_many(OrderFactory(seed=2).orders(1000))")
    assert batch.counts() == {"created": 1000}
    assert {(o.outcome, o.order.version) for o in batch} == {(Outcome.CREATED, 1)}
    assert store.count() == 1001
    assert store.get(stored.id).version == 2


@expect("docs/storage.md", 'on_existing="replace_if_newer"')
def check_put_many_policies(run: Run) -> None:
    """skip leaves stored orders alone; replace_if_newer updates only the newer copy."""
    store, page = run.namespace["store"], run.namespace["page"]
    assert run.value("store.put_many(page)").counts() == {"created": 3}
    assert store.count() == 3
    shipped = store.get(page[0].id)
    assert (shipped.status, shipped.version) == (OrderStatus.SHIPPED, 2)
    assert shipped.channel_updated_at is not None
    assert shipped.channel_updated_at.utc == datetime(2026, 11, 11, 9, tzinfo=UTC)
    assert [e.type for e in store.events(page[0].id)] == ["order.created", "order.updated"]
    assert (store.get(page[1].id).version, store.get(page[2].id).version) == (1, 1)
    assert run.stdout.splitlines() == ["{'skipped': 3}", "[('updated', 2), ('unchanged', 1)]"]
    # skipped outcomes name what is stored (id, version 1) without reading it back
    assert [(o.outcome, o.stored_id, o.stored_version) for o in run.namespace["again"]] == [
        (Outcome.SKIPPED, order.id, 1) for order in page
    ]


@expect("docs/storage.md", "while page := store.query(OrderQuery(after=after, limit=500))")
def check_reads_and_paging(run: Run) -> None:
    """get and find return the order; the filters exclude it; paging ends after it."""
    order = run.namespace["order"]
    assert (order.channel, order.version) == ("pdd", 1)
    assert run.value("store.get(order.id)") == order
    assert run.value('store.find("pdd", order.channel_order_id)') == order
    assert run.value('store.query(channel="douyin", status=["paid", "allocated"], limit=100)') == []
    assert (
        run.value('store.query(tag="urgent", created_from=datetime(2026, 11, 11, tzinfo=UTC))')
        == []
    )
    assert run.value('store.count(channel="taobao")') == 0
    assert run.value('store.query(node="awaiting_outbound")') == []
    assert run.namespace["after"] == order.sort_key()
    assert run.namespace["page"] == []


@expect("docs/storage.md", "status_since_to=utc_now() - timedelta(hours=2)")
def check_status_since(run: Run) -> None:
    """An order paid just now is not yet stuck; it is found as paid within the last two hours."""
    assert run.stdout == "0\n"
    assert run.namespace["stuck"] == []
    store = run.namespace["store"]
    recent = store.query(status="paid", status_since_from=utc_now() - timedelta(hours=2))
    assert [order.channel for order in recent] == ["jd"]


@expect("docs/storage.md", 'TimerArm("sla:allocated", due)')
def check_timers(run: Run) -> None:
    """The timer is armed with the update, claimed with its order's state and moved a rung on."""
    store, order, due = run.namespace["store"], run.namespace["order"], run.namespace["due"]
    assert store.get(order.id).status is OrderStatus.ALLOCATED
    [timer] = store.timers(order.id)
    assert (timer.name, timer.level, timer.due_at) == ("sla:allocated", 2, due + timedelta(hours=2))
    assert store.claim_timers(due + timedelta(hours=1)) == []


@expect("docs/storage.md", "def publish(message)")
def check_outbox_relay(run: Run) -> None:
    """The relay loop ends with nothing pending (the block's store starts empty)."""
    assert run.stdout == ""
    assert run.namespace["store"].outbox_pending() == 0


@expect("docs/storage.md", 'topic="stock.reserved"')
def check_publish_other_streams(run: Run) -> None:
    """An entry published twice is one outbox message with the entry's fields."""
    assert run.stdout == "1\n"
    first, second = run.values_of("store.publish([entry])")
    assert first == second and len(first) == 1
    [message] = run.namespace["store"].claim_outbox(10)
    assert (
        message.id,
        message.stream,
        message.aggregate_id,
        message.aggregate_version,
        message.topic,
        dict(message.payload),
    ) == (first[0], "stock", "SOF-2026-GREY@WH-HZ", 7, "stock.reserved", {"available": 12})


@expect("docs/storage.md", 'idempotency_key="douyin:msg:7000000000000000000"')
def check_idempotent_put(run: Run) -> None:
    """The second put with the same key returns the stored order and stores nothing new."""
    store, order = run.namespace["store"], run.namespace["order"]
    first, second = run.values_of(
        'store.put(order, idempotency_key="douyin:msg:7000000000000000000")'
    )
    assert (first.id, first.version) == (order.id, 1)
    assert second == first
    assert store.count() == 1
    assert [e.type for e in store.events(order.id)] == ["order.created"]
    assert store.outbox_pending() == 1
    record = store.recall("douyin:msg:7000000000000000000")
    assert record is not None and record.fingerprint == order_fingerprint(order)


# the tests -----------------------------------------------------------------------------


@pytest.mark.parametrize(("file", "code"), _block_params())
def test_documentation_code_does_what_it_says(
    file: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each Python block runs in a scratch directory and produces the expected results."""
    check = _expectation_for(file, code)
    monkeypatch.chdir(tmp_path)
    run = run_block(code, file, tmp_path)
    try:
        check(run)
    finally:
        close_stores(run)


def test_every_expectation_belongs_to_one_block() -> None:
    """No expectation is left over from a block that was changed or removed."""
    blocks = _blocks()
    for file, anchor in EXPECTATIONS:
        hits = [block_id for f, block_id, code in blocks if f == file and anchor in code]
        assert len(hits) == 1, f"{anchor!r} matches {hits} in {file}"


def _readme_code() -> str:
    [code] = [code for file, _, code in _blocks() if file == "README.md"]
    return code


def test_readme_example_runs_twice_in_the_same_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Running the README example again in the same directory stores and publishes nothing."""
    monkeypatch.chdir(tmp_path)
    first = run_block(_readme_code(), "README.md", tmp_path)
    close_stores(first)
    check_readme(first, first=True)
    second = run_block(_readme_code(), "README.md", tmp_path)
    close_stores(second)
    check_readme(second, first=False)


def test_readme_blocks_are_extracted_for_type_checking(tmp_path: Path) -> None:
    """tests/typing/extract_readme.py writes each README block, keeping its line numbers."""
    spec = importlib.util.spec_from_file_location(
        "extract_readme", ROOT / "tests" / "typing" / "extract_readme.py"
    )
    assert spec is not None and spec.loader is not None
    extractor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extractor)
    written = extractor.extract(ROOT / "README.md", tmp_path)
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert [path.name for path in written] == ["readme_block_1.py"]
    lines = written[0].read_text(encoding="utf-8").splitlines()
    code = _readme_code().splitlines()
    start = readme.index(code[0])
    assert lines[start:] == code
    assert readme[start - 1] == "```python"
    assert set(lines[1:start]) == {""}
    with pytest.raises(SystemExit, match="has no ```python code block"):
        extractor.extract(ROOT / "CHANGELOG.md", tmp_path / "none")


# examples/ -----------------------------------------------------------------------------


def run_example(script: Path, *args: str) -> list[str]:
    """Run an example as ``python examples/<script> args...`` and return its output lines."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setattr(sys, "argv", [str(script), *args])
        runpy.run_path(str(script), run_name="__main__")
    return out.getvalue().splitlines()


def check_quickstart() -> None:
    lines = run_example(ROOT / "examples" / "quickstart.py")
    assert len(lines) == 8, lines
    match = re.fullmatch(f"Order\\(id='({ULID})', (.*)", lines[0])
    assert match is not None, lines[0]
    order_id = match.group(1)
    assert is_valid_id(order_id)
    assert match.group(2) == (
        "version=0, channel='douyin', channel_order_id='6919254847512345678', "
        "status=<OrderStatus.PAID: 'paid'>, lines=1, paid=Money('2979.00', 'CNY'))"
    )
    assert lines[1].startswith(
        "receiver: name=PersonName('王**') phone=PhoneNumber('138****8000') "
    )
    assert " detail=AddressText('文三****') " in lines[1]
    for plaintext in ("13800138000", "王小明", "文三路"):
        assert plaintext not in lines[1]
    assert lines[2:] == [
        "balances: True platform paid 20.00 CNY",
        "conflict: 1 -> 2",
        "now: allocated version 2",
        "history: [('order.created', 1), ('order.updated', 2)]",
        f"publish: order.created {order_id} 1",
        f"publish: order.updated {order_id} 2",
    ]


def check_outbox_relay_example(orders: int, workers: int, *args: str) -> None:
    lines = run_example(ROOT / "examples" / "outbox_relay.py", *args)
    assert len(lines) == 3, lines
    match = re.fullmatch(r"messages per worker: \[(\d+(?:, \d+)*)\]", lines[0])
    assert match is not None, lines[0]
    counts = [int(count) for count in match.group(1).split(", ")]
    assert (len(counts), sum(counts)) == (workers, orders)
    assert lines[1:] == [f"published: {orders} duplicates: 0", "still pending: 0"]


def check_bad_input() -> None:
    lines = run_example(ROOT / "examples" / "bad_input.py")
    assert lines == [
        "rejected: Order pdd:261121-691171878068122: 3 invalid fields",
        "  lines.0.unit_price: money-float",
        "  amounts.goods: money-float",
        "  amounts.paid: money-float",
        "personal data in the message: []",
        "accepted: pdd 261121-691171878068122 paid",
        # 2 x 299.00; 10:00 in Beijing is 02:00 UTC
        "paid: 598.00 CNY placed: 2026-11-21T02:00:00+00:00",
        "receiver phone: 138****8000",
    ]


EXAMPLE_CHECKS: dict[str, list[Callable[[], None]]] = {
    "bad_input.py": [check_bad_input],
    "quickstart.py": [check_quickstart],
    "outbox_relay.py": [
        lambda: check_outbox_relay_example(2000, 4),
        lambda: check_outbox_relay_example(300, 3, "--orders", "300", "--workers", "3"),
    ],
}


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_prints_what_it_promises_and_leaves_no_files(
    script: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each example prints its exact results and cleans up after itself."""
    assert script.name in EXAMPLE_CHECKS, f"add the expected output of examples/{script.name}"
    monkeypatch.chdir(tmp_path)
    for check in EXAMPLE_CHECKS[script.name]:
        check()
    assert list(tmp_path.iterdir()) == []


def test_every_example_check_has_its_script() -> None:
    """No expected output is kept for an example that no longer exists."""
    assert sorted(EXAMPLE_CHECKS) == sorted(p.name for p in EXAMPLES)
