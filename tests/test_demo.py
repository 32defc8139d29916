"""The demo: what it stores, what it sums, what it prints, and which files it may delete."""

from __future__ import annotations

import contextlib
import io
import re
import sqlite3
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import ordercore.demo
from ordercore import Money, OrderStatus
from ordercore.demo import DemoSummary, format_summary, run_demo
from ordercore.errors import ConfigurationError, ReservationNotFound
from ordercore.inventory import Inventory, open_inventory
from ordercore.lifecycle import BREACHED, TRANSITIONED, default_lifecycle
from ordercore.progress import Progress
from ordercore.schema import Order
from ordercore.storage import OrderQuery, SQLiteStore
from ordercore.testing import CATALOGUE

NOT_COLLECTED = {"pending_payment", "cancelled"}
_LIFECYCLE_TITLE = "Lifecycle: {:,} transitions over a simulated day, orders per state and node now"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoSummary, str]:
    """One default-sized demo run, shared by the read-only checks below."""
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    summary = run_demo(db, orders=1000, progress=False)
    return summary, format_summary(summary)


def _stored_orders(path: Path) -> list[Order]:
    """Every order in the demo's file, read through a store of its own."""
    with SQLiteStore(path) as store:
        found: list[Order] = []
        after = None
        while page := store.query(OrderQuery(after=after, limit=300)):
            found += page
            after = page[-1].sort_key()
        return found


def _section(text: str, title: str) -> list[list[str]]:
    """The rows (split into cells) of the table under ``title``: header, body, footer."""
    lines = text.splitlines()
    start = lines.index(title) + 1
    rules = [i for i in range(start, len(lines)) if lines[i] and set(lines[i]) == {"-"}][:2]
    chosen = [start, *range(rules[0] + 1, rules[1]), rules[1] + 1]
    return [[cell.strip() for cell in lines[i].split("  ") if cell.strip()] for i in chosen]


def _fen(cell: str) -> int:
    return int(Decimal(cell.replace(",", "")) * 100)


class TestStatuses:
    def test_every_status_shown_is_canonical_and_a_working_filter(
        self, demo: tuple[DemoSummary, str]
    ) -> None:
        """Each status row names an OrderStatus value whose store.query finds its total."""
        summary, text = demo
        rows = _section(text, "Orders per status (store.query(status=...)) and channel")
        header, body = rows[0], rows[1:-1]
        assert header[0] == "status" and header[-1] == "all"
        shown = [row[0] for row in body]
        assert shown == [s.value for s in OrderStatus if s.value in shown]
        assert len(shown) >= 10  # the default mix covers nearly every status
        with SQLiteStore(summary.path) as store:
            for row in body:
                found = store.query(status=row[0], limit=1000)
                assert len(found) == int(row[-1].replace(",", ""))
                assert {order.status.value for order in found} == {row[0]}
                per_channel = Counter(order.channel for order in found)
                assert [per_channel[c] for c in header[1:-1]] == [int(n) for n in row[1:-1]]

    def test_status_totals_match_the_stored_orders(self, demo: tuple[DemoSummary, str]) -> None:
        """The summary's counts are those of the orders in the file, and its own check agrees."""
        summary, text = demo
        stored = _stored_orders(summary.path)
        assert Counter((o.channel, o.status.value) for o in stored) == summary.by_channel_status
        assert summary.statuses_agree
        assert "store.count(status=...) gives the counts above for every status -> yes" in text


class TestMoney:
    def test_totals_add_up_to_the_fen_from_the_stored_orders(
        self, demo: tuple[DemoSummary, str]
    ) -> None:
        """Per-channel order value and collected money, recomputed in fen, match every row."""
        summary, text = demo
        value: defaultdict[str, int] = defaultdict(int)
        collected: defaultdict[str, int] = defaultdict(int)
        for order in _stored_orders(summary.path):
            fen = order.amounts.paid.minor
            value[order.channel] += fen
            if order.status.value not in NOT_COLLECTED:
                collected[order.channel] += fen
        rows = _section(text, "Money per channel (CNY)")
        header = rows[0]
        value_at, collected_at = header.index("order value"), header.index("paid (collected)")
        printed = {row[0]: (_fen(row[value_at]), _fen(row[collected_at])) for row in rows[1:]}
        assert printed.pop("all") == (sum(value.values()), sum(collected.values()))
        assert printed == {c: (value[c], collected[c]) for c in value}
        assert sum(v for v, _ in printed.values()) == summary.grand_total.order_value.minor
        assert sum(c for _, c in printed.values()) == summary.grand_total.collected.minor

    def test_collected_leaves_out_unpaid_and_cancelled_orders(
        self, demo: tuple[DemoSummary, str]
    ) -> None:
        """paid (collected) is below the order value by exactly the unpaid and cancelled orders."""
        summary, text = demo
        stored = _stored_orders(summary.path)
        left_out = [o for o in stored if o.status.value in NOT_COLLECTED]
        assert left_out  # the default mix has both
        grand = summary.grand_total
        gap = sum(o.amounts.paid.minor for o in left_out)
        assert grand.order_value.minor - grand.collected.minor == gap
        assert grand.collected_orders == len(stored) - len(left_out)
        assert f"the order value of the {grand.collected_orders:,} orders" in " ".join(text.split())

    def test_each_money_row_balances(self, demo: tuple[DemoSummary, str]) -> None:
        """goods + shipping - the discount columns = order value, on every printed row."""
        _, text = demo
        rows = _section(text, "Money per channel (CNY)")
        header = rows[0]
        discounts = [i for i, name in enumerate(header) if name.startswith("-")]
        assert [header[i] for i in discounts] == ["-platform", "-seller", "-coupon"]
        for row in rows[1:]:
            charged = _fen(row[header.index("goods")]) + _fen(row[header.index("shipping")])
            off = sum(_fen(row[i]) for i in discounts)
            assert charged - off == _fen(row[header.index("order value")]), row[0]

    def test_the_footnotes_say_what_each_column_counts(self, demo: tuple[DemoSummary, str]) -> None:
        """Two footnote lines explain order value and paid (collected)."""
        _, text = demo
        flat = " ".join(text.split())
        assert (
            "order value = goods + shipping - discounts (by who funds them), over all "
            "1,000 orders, unpaid and cancelled ones included." in flat
        )
        assert (
            "(every status but pending_payment and cancelled); after-sale refunds are not "
            "deducted." in flat
        )
        assert all(
            len(line) <= 100
            for line in text.splitlines()
            if line.startswith(("order value", "paid (collected)", "  "))
        )


class TestLifecycle:
    def test_orders_move_through_their_lifecycle_and_the_store_agrees(
        self, demo: tuple[DemoSummary, str]
    ) -> None:
        """The states shown are those of the stored orders, every transition is in their
        histories, and cancellations, after-sales and review holds all happen."""
        summary, text = demo
        lifecycle = default_lifecycle()
        stored = _stored_orders(summary.path)
        assert Counter(lifecycle.state_of(o) for o in stored) == summary.states
        rows = _section(text, _LIFECYCLE_TITLE.format(summary.transitions))
        assert {row[0]: int(row[1].replace(",", "")) for row in rows[1:-1]} == summary.states
        assert summary.transitions > summary.stored
        for state in ("cancelled.payment_timeout", "after_sale.return_refund"):
            assert summary.states[state] > 0
        assert any(state.startswith("under_review") for state in summary.states)
        with SQLiteStore(summary.path) as store:
            histories = [store.events(o.id) for o in stored]
        moves = [e for events in histories for e in events if e.type == TRANSITIONED]
        assert len(moves) == summary.transitions
        spec_states = set(lifecycle.spec.state_refs())
        for event in moves:
            assert event.actor.id == "demo-warehouse"
            to = event.to_status.value if event.to_status else None
            node = event.data["to_node"]
            assert (to if node is None else f"{to}.{node}") in spec_states

    def test_slas_breach_escalate_and_are_recorded_once_each(
        self, demo: tuple[DemoSummary, str]
    ) -> None:
        """Breaches happen at level 1 and escalate to level 2; each is one event on its order,
        told to the SLA's owner or escalation target from the spec."""
        summary, text = demo
        lifecycle = default_lifecycle()
        levels = Counter(level for (_, level, _), n in summary.breaches.items() for _ in range(n))
        assert levels[1] > 0 and levels[2] > 0
        with SQLiteStore(summary.path) as store:
            breaches = [
                e
                for o in _stored_orders(summary.path)
                for e in store.events(o.id)
                if e.type == BREACHED
            ]
            assert store.timer_count() == summary.open_timers
        assert len(breaches) == summary.breach_count
        told = Counter((e.data["state"], e.data["level"], e.data["notify"]) for e in breaches)
        assert told == summary.breaches
        for event in breaches:
            found = lifecycle.sla_of(str(event.data["state"]))
            assert found is not None
            notify, _, _ = lifecycle.escalation_after(found[1], int(str(event.data["level"])))
            assert event.data["notify"] == notify
            assert float(str(event.data["latency_ms"])) >= 0
        assert f"SLA breaches: {summary.breach_count:,} breaches handled" in text

    def test_the_same_seed_gives_the_same_day(self, tmp_path: Path) -> None:
        """The simulated day depends on the seed only, not on when the demo runs."""
        first = run_demo(tmp_path / "a.db", orders=150, seed=9, progress=False)
        second = run_demo(tmp_path / "b.db", orders=150, seed=9, progress=False)
        assert (first.states, first.breaches, first.transitions) == (
            second.states,
            second.breaches,
            second.transitions,
        )
        assert first.ok and second.ok


class TestWording:
    def test_one_order_is_singular(self, tmp_path: Path) -> None:
        """A one-order demo says "1 order" and "1 outbox message", never "1 orders"."""
        text = format_summary(run_demo(tmp_path / "one.db", orders=1, progress=False))
        assert text.startswith(f"ordercore demo: 1 order in {tmp_path / 'one.db'}\n")
        assert "1 of 1 order read back; integrity ok" in text
        assert "over the 1 order," in text
        for wrong in ("1 orders", "1 messages", "1 transitions", "1 breaches", "1 timers"):
            assert wrong not in text.replace(",", "")

    def test_several_orders_are_plural(self, demo: tuple[DemoSummary, str]) -> None:
        """A bigger run counts in plurals with thousands separators."""
        _, text = demo
        assert text.startswith("ordercore demo: 1,000 orders in ")
        assert "1,000 of 1,000 orders read back; integrity ok" in text
        assert " breaches handled, " in text and " timers still running" in text

    def test_a_failed_check_is_shown(self, demo: tuple[DemoSummary, str]) -> None:
        """Totals that disagree print DIFFERENT and PROBLEMS FOUND."""
        summary, _ = demo
        broken = DemoSummary(**{**summary.__dict__, "totals": dict(summary.totals)})
        channel = sorted(broken.totals)[0]
        damaged = ordercore.demo._MoneyTotals()
        damaged.merge(broken.totals[channel])
        damaged.collected += Money.from_fen(1)
        broken.totals[channel] = damaged
        text = format_summary(broken)
        assert not broken.ok
        assert "check: per-channel paid (collected) sums to " in text
        assert text.count("-> DIFFERENT") == 1
        assert text.endswith("result: PROBLEMS FOUND")


class TestRun:
    def test_the_summary_does_not_depend_on_what_put_many_returns(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The demo re-reads the store, so put_many may return anything (a result object)."""
        real = SQLiteStore.put_many

        def put_many(self: SQLiteStore, orders: Any, **kwargs: Any) -> object:
            real(self, orders, **kwargs)
            return object()

        monkeypatch.setattr(SQLiteStore, "put_many", put_many)
        summary = run_demo(tmp_path / "d.db", orders=120, progress=False)
        assert (summary.stored, summary.read_back, summary.ok) == (120, 120, True)

    def test_progress_moves_in_many_small_steps(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """1,000 orders are stored and read back in about fifty steps each, not two."""
        steps: dict[str, list[int]] = defaultdict(list)

        class Recording(Progress):
            def advance(self, count: int = 1) -> None:
                steps[self.unit].append(count)
                super().advance(count)

        monkeypatch.setattr(ordercore.demo, "Progress", Recording)
        run_demo(tmp_path / "d.db", orders=1000, stream=io.StringIO())
        for unit in ("orders stored", "orders read back"):
            assert sum(steps[unit]) == 1000
            assert len(steps[unit]) >= 40, unit

    def test_progress_off_a_terminal_is_plain_lines(self, tmp_path: Path) -> None:
        """Progress to a log is a few whole lines per phase, with rate and time."""
        out = io.StringIO()
        run_demo(tmp_path / "d.db", orders=200, stream=out)
        lines = out.getvalue().splitlines()
        assert "\r" not in out.getvalue()
        stored = [line for line in lines if " orders stored " in line]
        read_back = [line for line in lines if " orders read back " in line]
        assert len(stored) == len(read_back) == 4
        assert stored[-1].startswith("200/200 orders stored 100%")
        assert read_back[-1].startswith("200/200 orders read back 100%")
        assert all("/s  " in line for line in lines)

    def test_no_progress_when_disabled(self, tmp_path: Path) -> None:
        """progress=False (--quiet) writes nothing to the stream."""
        out = io.StringIO()
        run_demo(tmp_path / "d.db", orders=20, progress=False, stream=out)
        assert out.getvalue() == ""

    def test_a_foreign_file_is_refused_by_the_library_too(self, tmp_path: Path) -> None:
        """run_demo itself raises ConfigurationError and leaves the file as it was."""
        target = tmp_path / "app.db"
        target.write_bytes(b"SQLite format 3\x00 but not really")
        with pytest.raises(ConfigurationError, match="was not made by ordercore demo"):
            run_demo(target, orders=3, progress=False)
        assert target.read_bytes() == b"SQLite format 3\x00 but not really"

    def test_a_missing_directory_is_a_configuration_error(self, tmp_path: Path) -> None:
        """A --db in a directory that does not exist is reported, not a traceback."""
        with pytest.raises(ConfigurationError, match=r"cannot create .*No such file or directory"):
            run_demo(tmp_path / "nowhere" / "d.db", orders=3, progress=False)

    def test_an_interrupted_demo_can_be_run_again(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A run stopped half-way leaves a marked file that the next run replaces."""
        db = tmp_path / "d.db"
        real = SQLiteStore.put_many
        calls = []

        def put_many(self: SQLiteStore, orders: Any, **kwargs: Any) -> object:
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return real(self, orders, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(SQLiteStore, "put_many", put_many)
            with pytest.raises(KeyboardInterrupt):
                run_demo(db, orders=500, progress=False)
        assert ordercore.demo._is_demo_database(db)
        summary = run_demo(db, orders=30, progress=False)
        assert (summary.stored, summary.ok) == (30, True)

    @pytest.mark.parametrize("orders", [0, -5])
    def test_at_least_one_order_is_needed(self, tmp_path: Path, orders: int) -> None:
        """No orders is a ConfigurationError, and no file is made."""
        with pytest.raises(ConfigurationError, match="at least one order"):
            run_demo(tmp_path / "d.db", orders=orders, progress=False)
        assert list(tmp_path.iterdir()) == []


_STOCK_TITLE = "Stock per location at the end (inventory.stock(...), 11 SKUs)"


def _inventory(path: Path) -> Inventory:
    return open_inventory(f"sqlite:///{path}")


class TestStock:
    def test_the_stock_shown_is_the_stock_in_the_file(self, demo: tuple[DemoSummary, str]) -> None:
        """Each location's on hand, reserved and available are inventory.stock(...) read from
        the demo's file, summed over its SKUs; the three warehouses all hold stock."""
        summary, text = demo
        rows = _section(text, _STOCK_TITLE)
        assert rows[0] == ["location", "on hand", "reserved", "available"]
        printed = {
            row[0].split()[0]: [int(c.replace(",", "")) for c in row[1:]] for row in rows[1:]
        }
        with _inventory(summary.path) as inventory:
            locations = [location.id for location in inventory.locations()]
            skus = sorted({level.sku for level in summary.stock})
            levels = [level for sku in skus for level in inventory.stock(sku)]
        assert locations == ["WH-HZ", "WH-GZ", "WH-BJ"]
        assert sorted(levels, key=str) == sorted(summary.stock, key=str)
        expected = {
            loc: [
                sum(level.on_hand for level in levels if level.location == loc),
                sum(level.reserved for level in levels if level.location == loc),
                sum(level.available for level in levels if level.location == loc),
            ]
            for loc in locations
        }
        assert printed.pop("all") == [
            sum(column) for column in zip(*expected.values(), strict=True)
        ]
        assert printed == expected
        assert all(on_hand > 0 and reserved > 0 for on_hand, reserved, _ in expected.values())
        assert {level.sku for level in levels} >= {product.sku for product in CATALOGUE}

    def test_reservations_follow_the_lifecycle(self, demo: tuple[DemoSummary, str]) -> None:
        """Shipping commits, cancelling releases, payment timeouts expire, by region mostly
        from the order's own warehouse; and each count is what the ledger and the orders say."""
        summary, text = demo
        counts = summary.reservations
        assert counts.made > 0 and counts.committed > 0 and counts.released > 0
        assert counts.expired == summary.states["cancelled.payment_timeout"] > 0
        assert counts.own_region > counts.other_region > 0  # Beijing is short of sofas
        assert counts.own_region + counts.other_region + counts.split == counts.made
        assert counts.short == 0
        with _inventory(summary.path) as inventory:
            entries = []
            after = 0
            while page := inventory.ledger(after_seq=after, limit=5000):
                entries += page
                after = page[-1].seq
        kinds = Counter(
            (entry.kind.value, entry.reservation_id) for entry in entries if entry.reservation_id
        )
        per_kind = Counter(kind for kind, rid in kinds if not rid.startswith("live-"))
        assert per_kind["commit"] == counts.committed
        assert per_kind["release"] == counts.released
        assert per_kind["expire"] == counts.expired
        assert per_kind["reserve"] == counts.made
        timed_out = {o.id for o in _stored_orders(summary.path) if o.node == "payment_timeout"}
        assert timed_out == {rid for kind, rid in kinds if kind == "expire"}
        flat = " ".join(text.split())
        assert f"{counts.committed:,} committed on shipping" in flat
        assert f"{counts.expired:,} expired on payment timeout" in flat

    def test_the_burst_refuses_exactly_what_exceeds_the_stock(
        self, demo: tuple[DemoSummary, str]
    ) -> None:
        """The hot SKU's 200 units go to the first 200 buyers; the other 400 are refused and
        nothing is oversold: the file holds 200 reserved and none available."""
        summary, text = demo
        burst = summary.burst
        assert (burst.stock, burst.asked) == (200, 600)
        assert (burst.reserved, burst.refused, burst.oversold) == (200, 400, 0)
        with _inventory(summary.path) as inventory:
            (level,) = inventory.stock(burst.sku, burst.location)
            assert inventory.reservation("live-00200").status.value == "active"
            with pytest.raises(ReservationNotFound):
                inventory.reservation("live-00201")
        assert (level.on_hand, level.reserved, level.available) == (200, 200, 0)
        flat = " ".join(text.split())
        assert (
            f"live-stream burst: 600 buyers asked for 1 {burst.sku} each at {burst.location} "
            "(200 in stock): 200 reserved, 400 refused with InsufficientStock, 0 oversold" in flat
        )
        assert "check: the burst reserved 200 of the 200 in stock and oversold 0 -> yes" in text

    def test_the_ledger_check_passes_and_stock_messages_are_counted(
        self, demo: tuple[DemoSummary, str]
    ) -> None:
        """verify() is clean on the file, and the outbox holds the stock messages as well."""
        summary, text = demo
        assert summary.drift == [] and summary.ok
        with _inventory(summary.path) as inventory:
            assert inventory.verify() == []
        assert summary.stock_messages > 0
        expected = summary.stored + summary.transitions + summary.breach_count
        assert summary.outbox_pending == expected + summary.stock_messages
        assert (
            f"check: inventory.verify(): every stock counter equals the sum of its "
            f"{summary.ledger_entries:,} ledger entries -> yes" in text
        )

    def test_a_tampered_ledger_is_not_ok(self, tmp_path: Path) -> None:
        """A counter written behind the ledger's back makes verify() report drift, and a
        summary holding that drift is not OK and says what drifts."""
        summary = run_demo(tmp_path / "d.db", orders=60, progress=False)
        assert summary.ok
        with contextlib.closing(sqlite3.connect(summary.path)) as db, db:
            db.execute(
                "UPDATE ordercore_stock SET on_hand = on_hand + 5 "
                "WHERE sku = 'TEA-LJ-GIFT' AND location = 'WH-HZ'"
            )
        with _inventory(summary.path) as inventory:
            drift = inventory.verify()
        assert [(d.sku, d.location, d.field, d.difference) for d in drift] == [
            ("TEA-LJ-GIFT", "WH-HZ", "on_hand", 5)
        ]
        tampered = DemoSummary(**{**summary.__dict__, "drift": drift})
        assert not tampered.ok
        text = format_summary(tampered)
        assert "-> NO, 1 counter drift: TEA-LJ-GIFT@WH-HZ on_hand 17 vs 12" in text
        assert text.endswith("result: PROBLEMS FOUND")

    def test_oversold_stock_is_not_ok(self, demo: tuple[DemoSummary, str]) -> None:
        """A burst that oversold fails the summary."""
        summary, _ = demo
        oversold = ordercore.demo._Burst(**{**summary.burst.__dict__, "oversold": 1})
        assert not DemoSummary(**{**summary.__dict__, "burst": oversold}).ok


class TestRules:
    def _title(self, summary: DemoSummary) -> str:
        found = summary.decisions
        return (
            f"Rules: the built-in packs ({found.ruleset}, {found.rules} rules) on "
            f"{found.evaluated:,} orders; SF at 0.61 delivered in 24 h"
        )

    def test_every_order_read_back_was_decided(self, demo: tuple[DemoSummary, str]) -> None:
        summary, text = demo
        assert summary.decisions.evaluated == summary.read_back == 1000
        assert summary.decisions.errors == [] and summary.decisions.unbalanced_after == []
        assert "-> yes" in next(line for line in text.splitlines() if "the rules decided" in line)

    def test_the_rule_counts_are_what_the_packs_decide_on_the_stored_orders(
        self, demo: tuple[DemoSummary, str]
    ) -> None:
        """Re-evaluating the packs on the orders in the file gives the printed counts."""
        from ordercore.rules import RuleContext, load_packs

        summary, text = demo
        rules = load_packs()
        stock: Counter[str] = Counter()
        for level in summary.stock:
            stock[level.sku] += level.available
        context = RuleContext(stock=dict(stock), carriers={"SF": "0.61", "ZTO": "0.93"})
        matched: Counter[str] = Counter()
        for order in _stored_orders(summary.path):
            matched.update(rules.evaluate(order, context).matched)
        assert matched == summary.decisions.matched
        assert matched["unhealthy-carrier-switch"] > 0 and matched["douyin-sofa-pillow"] > 0
        rows = _section(text, self._title(summary))
        shown = {row[0]: int(row[1].replace(",", "")) for row in rows[1:-1]}
        assert shown == dict(matched)

    def test_explained_decisions_show_their_traces_with_pii_masked(
        self, demo: tuple[DemoSummary, str]
    ) -> None:
        summary, text = demo
        assert 1 <= len(summary.decisions.explained) <= 3
        first = summary.decisions.explained[0]
        assert "-> add_gift sku=PIL-001" in first
        assert "douyin-sofa-pillow: matched" in first
        assert re.search(r'true +line\.sku = "SOF-2026-\w+" contains "SOF-2026"', first)
        assert first in text
        for order in _stored_orders(summary.path):
            phone = (
                order.receiver.phone.reveal() if order.receiver and order.receiver.phone else None
            )
            if phone:
                assert phone not in text

    def test_a_rule_error_fails_the_summary(self, demo: tuple[DemoSummary, str]) -> None:
        summary, _ = demo
        broken = ordercore.demo._Decisions(
            **{**summary.decisions.__dict__, "errors": [("high-value", "boom")]}
        )
        assert not DemoSummary(**{**summary.__dict__, "decisions": broken}).ok
