"""Rule books hold versions, swap them atomically, follow a file on disk, and dry-run candidates."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ordercore.errors import (
    ConfigurationError,
    RuleLoadError,
    RuleVersionConflict,
    RuleVersionNotFound,
)
from ordercore.rules import (
    ReloadResult,
    ReloadStatus,
    RuleBook,
    RuleContext,
    RuleSet,
    dry_run,
    ruleset_digest,
)
from ordercore.schema import Order
from ordercore.storage import OrderQuery, SQLiteStore
from ordercore.testing import OrderFactory


def _rules(version: int, tag: str = "", *, threshold: int = 299, name: str = "fulfilment") -> str:
    """A small rule set whose version number and tag show which version decided."""
    return f"""\
ruleset: {name}
version: {version}
rules:
  - name: big
    when: order.amounts.paid >= {threshold}
    then: [{{tag: big}}]
  - name: marker
    when: "true"
    then: [{{tag: {tag or f"v{version}"}}}]
"""


def _set(version: int, tag: str = "", **kwargs: Any) -> RuleSet:
    return RuleSet.from_text(_rules(version, tag, **kwargs), source=f"v{version}.yaml")


def _order() -> Order:
    return OrderFactory(seed=3).order(channel="taobao", lines=1)


def _write(path: Path, text: str, *, mtime_ns: int | None = None) -> None:
    """Write the file as an editor saves it (whole, by renaming a temporary file over it),
    optionally pinning its modification time; a poller never sees it half-written."""
    temporary = path.with_name(f".{path.name}.swp")
    temporary.write_text(text, encoding="utf-8")
    if mtime_ns is not None:
        os.utime(temporary, ns=(mtime_ns, mtime_ns))
    os.replace(temporary, path)


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


class TestAdd:
    def test_the_first_set_names_the_book(self) -> None:
        """A book without a name takes the name of the first rule set added."""
        book = RuleBook()
        book.add(_set(1))
        assert book.name == "fulfilment"
        assert book.versions() == [1]
        assert book.active is None

    def test_adding_the_same_rules_again_changes_nothing(self) -> None:
        """The same version with the same rules (even from another file) is a no-op."""
        book = RuleBook()
        first = book.add(_set(1))
        again = RuleSet.from_text(_rules(1), source="copy.yaml")
        assert book.add(again) is first
        assert book.versions() == [1]
        assert ruleset_digest(first) == ruleset_digest(again)

    def test_a_held_version_with_other_rules_is_refused(self) -> None:
        """Reusing a version number for different rules raises a typed error naming both files."""
        book = RuleBook()
        book.add(_set(1), activate=True)
        changed = RuleSet.from_text(_rules(1, threshold=500), source="edited.yaml")
        with pytest.raises(RuleVersionConflict) as caught:
            book.add(changed)
        assert caught.value.version == 1
        assert caught.value.ruleset == "fulfilment"
        assert "edited.yaml" in caught.value.message and "v1.yaml" in caught.value.message
        assert book.get(1).rules[0].when == "order.amounts.paid >= 299"

    def test_another_rule_set_is_refused(self) -> None:
        """A book holds the versions of one rule set; another name is refused."""
        book = RuleBook("fulfilment")
        with pytest.raises(RuleVersionConflict) as caught:
            book.add(_set(1, name="gifts"))
        assert caught.value.ruleset == "gifts"
        assert "rule book of 'fulfilment'" in caught.value.message
        assert len(book) == 0

    def test_the_conflict_is_a_load_error(self) -> None:
        """A reload can report the conflict as it reports any file that cannot be used."""
        assert issubclass(RuleVersionConflict, RuleLoadError)
        assert RuleVersionConflict.code == "rule-version-conflict"


class TestActivateAndRollback:
    def test_activate_makes_evaluate_use_that_version(self) -> None:
        """evaluate() uses the active version; activating another switches it."""
        book = RuleBook()
        book.add(_set(1))
        book.add(_set(2))
        book.activate(1)
        assert book.evaluate(_order()).version == 1
        book.activate(2, by="li")
        decision = book.evaluate(_order())
        assert decision.version == 2
        assert "marker" in decision.matched

    def test_an_unknown_version_is_not_found(self) -> None:
        """Activating a version the book does not hold raises RuleVersionNotFound with it."""
        book = RuleBook()
        book.add(_set(1), activate=True)
        with pytest.raises(RuleVersionNotFound) as caught:
            book.activate(9)
        assert caught.value.version == 9
        assert "held: v1" in caught.value.message
        assert book.active_version == 1

    def test_rollback_walks_back_through_the_activations(self) -> None:
        """Each rollback returns to the version active before the current one."""
        book = RuleBook()
        for version in (1, 2, 3):
            book.add(_set(version), activate=True)
        assert book.rollback().version == 2
        assert book.rollback(by="ops").version == 1
        with pytest.raises(RuleVersionNotFound) as caught:
            book.rollback()
        assert caught.value.version is None
        assert book.active_version == 1

    def test_rollback_with_nothing_before_is_not_found(self) -> None:
        """A book with one activation has nothing to roll back to."""
        book = RuleBook()
        book.add(_set(1), activate=True)
        with pytest.raises(RuleVersionNotFound):
            book.rollback()

    def test_history_records_who_and_why(self) -> None:
        """Each change of the active version is in the history, with its reason and actor."""
        moments = iter(datetime(2026, 11, 11, hour, tzinfo=UTC) for hour in range(10))
        book = RuleBook(clock=lambda: next(moments))
        book.add(_set(1), activate=True, by="li")
        book.add(_set(2), activate=True)
        book.activate(2)  # already active: not a change
        book.rollback(by="wang")
        rows = [(a.version, a.previous, a.reason, a.by, a.at.hour) for a in book.history]
        assert rows == [
            (1, None, "activate", "li", 0),
            (2, 1, "activate", None, 1),
            (1, 2, "rollback", "wang", 2),
        ]

    def test_evaluate_without_an_active_version_is_not_found(self) -> None:
        """A book with versions but none active refuses to evaluate."""
        book = RuleBook()
        book.add(_set(1))
        with pytest.raises(RuleVersionNotFound, match="no active version"):
            book.evaluate(_order())


class TestAtomicSwap:
    def test_readers_never_see_a_mix_of_versions(self) -> None:
        """While versions swap hundreds of times, every decision is wholly one version's."""
        book = RuleBook()
        book.add(_set(1, "one"))
        book.add(_set(2, "two"), activate=True)
        order = _order()
        stop = threading.Event()
        bad: list[tuple[int, tuple[str, ...]]] = []
        seen: set[int] = set()

        def read() -> None:
            while not stop.is_set():
                decision = book.evaluate(order)
                tags = decision.apply(order).tags
                seen.add(decision.version)
                expected = "one" if decision.version == 1 else "two"
                if expected not in tags or ("two" if expected == "one" else "one") in tags:
                    bad.append((decision.version, tags))

        readers = [threading.Thread(target=read) for _ in range(3)]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 10
        turn = 0
        try:
            while turn < 60 or (seen != {1, 2} and time.monotonic() < deadline):
                book.activate(1 if turn % 2 else 2)
                turn += 1
                time.sleep(0.0002)  # let the readers run between swaps
        finally:
            stop.set()
            for reader in readers:
                reader.join(10)
        assert not bad
        assert seen == {1, 2}


class TestReload:
    def test_a_file_edited_on_disk_becomes_the_active_version(self, tmp_path: Path) -> None:
        """watch() loads the file; an edit on disk is picked up by reload() and activated."""
        path = tmp_path / "rules.yaml"
        _write(path, _rules(1))
        book = RuleBook()
        first = book.watch(path)
        assert first.status is ReloadStatus.ACTIVATED
        assert (first.active, first.previous) == (1, None)
        assert book.reload().status is ReloadStatus.UNCHANGED
        _write(path, _rules(2, threshold=500))
        result = book.reload()
        assert result.status is ReloadStatus.ACTIVATED
        assert (result.version, result.active, result.previous) == (2, 2, 1)
        assert result.switched and result.ok
        assert book.versions() == [1, 2]
        assert book.evaluate(_order()).version == 2
        assert book.history[-1].reason == "reload"

    def test_a_broken_edit_keeps_the_old_version_and_says_why(self, tmp_path: Path) -> None:
        """A file that fails validation is rejected with its RuleLoadError; nothing raises."""
        path = tmp_path / "rules.yaml"
        _write(path, _rules(1))
        book = RuleBook()
        book.watch(path)
        _write(path, _rules(2).replace("order.amounts.paid", "order.amounts.payd"))
        result = book.reload()
        assert result.status is ReloadStatus.REJECTED
        assert not result.ok and not result.switched
        assert result.active == 1
        assert isinstance(result.error, RuleLoadError)
        assert result.error.line == 5
        assert "unknown field 'payd'" in result.error.message
        assert "v1 stays active" in result.describe()
        assert book.active_version == 1
        assert book.evaluate(_order()).version == 1
        assert book.last_reload == result
        # the same broken file is not reported again (unless forced); the fix is activated
        assert book.reload().status is ReloadStatus.UNCHANGED
        assert book.reload(force=True).status is ReloadStatus.REJECTED
        _write(path, _rules(2))
        assert book.reload().active == 2

    def test_a_reused_version_number_is_rejected(self, tmp_path: Path) -> None:
        """Editing the rules without bumping the version is rejected; the old rules stay."""
        path = tmp_path / "rules.yaml"
        _write(path, _rules(1))
        book = RuleBook()
        book.watch(path)
        _write(path, _rules(1, threshold=9999))
        result = book.reload()
        assert result.status is ReloadStatus.REJECTED
        assert isinstance(result.error, RuleVersionConflict)
        assert book.active is not None
        assert book.active.rules[0].when == "order.amounts.paid >= 299"

    def test_a_file_put_back_to_an_earlier_version_activates_it(self, tmp_path: Path) -> None:
        """The file says which version runs: reverting it to v1's rules activates v1."""
        path = tmp_path / "rules.yaml"
        book = RuleBook()
        _write(path, _rules(1))
        book.watch(path)
        _write(path, _rules(2))
        book.reload()
        _write(path, _rules(1))
        result = book.reload()
        assert (result.status, result.active, result.previous) == (ReloadStatus.ACTIVATED, 1, 2)
        assert book.versions() == [1, 2]

    def test_a_missing_file_is_rejected_until_it_is_back(self, tmp_path: Path) -> None:
        """A file that cannot be read is a rejection; the active version stays."""
        path = tmp_path / "rules.yaml"
        _write(path, _rules(1))
        book = RuleBook()
        book.watch(path)
        path.unlink()
        result = book.reload()
        assert result.status is ReloadStatus.REJECTED
        assert result.error is not None and "cannot read the rule set" in result.error.message
        assert book.reload().status is ReloadStatus.UNCHANGED
        _write(path, _rules(1))
        back = book.reload()
        assert back.status is ReloadStatus.ACTIVATED and not back.switched
        assert "it already was" in back.describe()

    def test_a_broken_json_file_says_where(self, tmp_path: Path) -> None:
        """JSON files get JSON's own error place, as load_rules gives it."""
        path = tmp_path / "rules.json"
        _write(path, '{"ruleset": "fulfilment", "version": 1,\n "rules": [}')
        result = RuleBook().watch(path)
        assert result.status is ReloadStatus.REJECTED
        assert result.error is not None and (result.error.line, result.error.column) == (2, 12)
        assert result.active is None

    def test_a_same_size_edit_in_the_same_tick_is_seen(self, tmp_path: Path) -> None:
        """A recently written file is hashed again even if its time and size look the same."""
        path = tmp_path / "rules.yaml"
        tick = time.time_ns()
        _write(path, _rules(1), mtime_ns=tick)
        book = RuleBook()
        book.watch(path)
        _write(path, _rules(2), mtime_ns=tick)  # same length, same modification time
        assert path.stat().st_size == len(_rules(1))
        assert book.reload().active == 2

    def test_an_old_file_with_its_time_and_size_unchanged_is_not_read(self, tmp_path: Path) -> None:
        """Once a file has settled, an unchanged time and size mean unchanged; force reads it."""
        path = tmp_path / "rules.yaml"
        settled = time.time_ns() - 3600 * 10**9
        _write(path, _rules(1), mtime_ns=settled)
        book = RuleBook()
        book.watch(path)
        _write(path, _rules(2), mtime_ns=settled)
        assert book.reload().status is ReloadStatus.UNCHANGED
        assert book.reload(force=True).active == 2

    def test_reload_without_a_watched_file_is_a_configuration_error(self) -> None:
        """reload() needs watch() first."""
        with pytest.raises(ConfigurationError, match="watch"):
            RuleBook("fulfilment").reload()


class TestPolling:
    def test_the_thread_picks_up_edits_and_keeps_the_old_version_on_a_broken_one(
        self, tmp_path: Path
    ) -> None:
        """start() polls the real file: a good edit is activated, a broken one reported."""
        path = tmp_path / "rules.yaml"
        _write(path, _rules(1))
        book = RuleBook()
        book.watch(path)
        results: list[ReloadResult] = []
        book.start(0.02, callback=results.append)
        running = book.polling
        try:
            assert running
            _write(path, _rules(2, threshold=500))
            assert _eventually(lambda: book.active_version == 2)
            assert _eventually(lambda: len(results) == 1)
            _write(path, _rules(3).replace("then: [{tag: big}]", "then: [{teleport: x}]"))
            assert _eventually(lambda: len(results) == 2)
            assert results[1].status is ReloadStatus.REJECTED
            assert results[1].error is not None and "teleport" in results[1].error.message
            time.sleep(0.1)
            assert book.active_version == 2
            assert len(results) == 2  # a broken file is reported once
        finally:
            book.stop()
        assert not book.polling
        assert [r.status for r in results] == [ReloadStatus.ACTIVATED, ReloadStatus.REJECTED]

    def test_a_failing_callback_does_not_stop_polling(self, tmp_path: Path) -> None:
        """What the callback raises is logged; the next change is still picked up."""
        path = tmp_path / "rules.yaml"
        _write(path, _rules(1))
        calls: list[int | None] = []

        def fail(result: ReloadResult) -> None:
            calls.append(result.active)
            raise RuntimeError("the pager is down")

        with RuleBook() as book:
            book.watch(path)
            book.start(0.02, callback=fail)
            _write(path, _rules(2, threshold=400))
            assert _eventually(lambda: calls == [2])
            _write(path, _rules(3, threshold=600))
            assert _eventually(lambda: calls == [2, 3])
        assert not book.polling

    def test_start_needs_a_file_and_runs_once(self, tmp_path: Path) -> None:
        """start() without watch(), twice, or with a bad interval is refused."""
        book = RuleBook("fulfilment")
        with pytest.raises(ConfigurationError, match="watch"):
            book.start(1)
        path = tmp_path / "rules.yaml"
        _write(path, _rules(1))
        book.watch(path)
        with pytest.raises(ConfigurationError, match="positive"):
            book.start(0)
        book.start(5)
        try:
            with pytest.raises(ConfigurationError, match="polling already"):
                book.start(5)
        finally:
            book.stop()


# -- dry runs -----------------------------------------------------------------------------

ACTIVE = RuleSet.from_text(
    """\
ruleset: fulfilment
version: 3
rules:
  - name: big
    when: order.amounts.paid >= 299
    then: [{tag: big}]
  - name: douyin
    when: order.channel == "douyin"
    then: [{route: WH-HZ}]
  - name: same
    when: order.channel == "taobao"
    then: [{tag: tb}]
""",
    source="active.yaml",
)

CANDIDATE = RuleSet.from_text(
    """\
ruleset: fulfilment
version: 4
rules:
  - name: big
    when: order.amounts.paid >= 1000
    then: [{tag: big}]
  - name: same
    when: order.channel == "taobao"
    then: [{tag: tb}]
  - name: call-back
    when: order.channel == "pdd"
    then: [{tag: call-13800138000}]
""",
    source="candidate.yaml",
)


def _orders(count: int = 150, seed: int = 21) -> list[Order]:
    return list(OrderFactory(seed=seed).orders(count))


def _matches(rules: RuleSet, orders: list[Order], rule: str) -> int:
    return sum(rule in rules.evaluate(order).matched for order in orders)


def _changed(orders: list[Order]) -> list[str]:
    return [
        order.id
        for order in orders
        if set(ACTIVE.evaluate(order).matched) != set(CANDIDATE.evaluate(order).matched)
    ]


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[tuple[SQLiteStore, list[Order]]]:
    """A real SQLite store holding 150 factory orders (as stored, sorted by placement)."""
    with SQLiteStore(tmp_path / "shop.db") as store:
        stored = [store.put(order) for order in _orders()]
        yield store, sorted(stored, key=Order.sort_key)


class _CountingStore(SQLiteStore):
    """A SQLite store that records the limit and cursor of every query."""

    pages: list[tuple[int, object]]

    def query(self, query: OrderQuery | None = None, /, **filters: Any) -> list[Order]:
        assert query is not None
        self.pages.append((query.limit, query.after))
        return super().query(query, **filters)


class TestDryRun:
    def test_totals_per_rule_and_action_match_evaluating_each_version(
        self, filled: tuple[SQLiteStore, list[Order]]
    ) -> None:
        """Orders evaluated and changed, and matches per rule, agree with direct evaluation."""
        store, orders = filled
        report = dry_run(CANDIDATE, store, active=ACTIVE)
        assert report.evaluated == 150
        assert report.changed == len(_changed(orders)) > 0
        assert report.has_changes
        by_rule = {delta.rule: delta for delta in report.rules}
        assert list(by_rule) == ["big", "same", "call-back", "douyin"]
        for name in ("big", "same", "douyin", "call-back"):
            assert by_rule[name].before == _matches(ACTIVE, orders, name)
            assert by_rule[name].after == _matches(CANDIDATE, orders, name)
        assert by_rule["big"].change < 0
        assert by_rule["same"].change == 0
        assert (by_rule["douyin"].in_active, by_rule["douyin"].in_candidate) == (True, False)
        assert (by_rule["call-back"].in_active, by_rule["call-back"].in_candidate) == (False, True)
        kinds = {delta.kind: (delta.before, delta.after) for delta in report.actions}
        assert kinds["route"] == (by_rule["douyin"].before, 0)
        assert kinds["tag"] == (
            by_rule["big"].before + by_rule["same"].before,
            by_rule["big"].after + by_rule["same"].after + by_rule["call-back"].after,
        )

    def test_each_changed_order_lists_what_was_added_and_removed(
        self, filled: tuple[SQLiteStore, list[Order]]
    ) -> None:
        """A changed order names the rules and described actions gained and lost."""
        store, orders = filled
        report = dry_run(CANDIDATE, store, active=ACTIVE)
        assert [change.order_id for change in report.changes] == _changed(orders)
        douyin = next(c for c in report.changes if c.channel == "douyin")
        assert "douyin" in douyin.matched_removed
        assert "route warehouse=WH-HZ" in douyin.actions_removed
        pdd = next(c for c in report.changes if c.channel == "pdd")
        assert pdd.matched_added == ("call-back",) or "call-back" in pdd.matched_added

    def test_orders_are_read_a_page_at_a_time(self, tmp_path: Path) -> None:
        """A store is read by keyset pages of page_size, never all at once."""
        with _CountingStore(tmp_path / "shop.db") as store:
            store.pages = []
            for order in _orders(45):
                store.put(order)
            store.pages.clear()
            report = dry_run(CANDIDATE, store, active=ACTIVE, page_size=10)
        assert report.evaluated == 45
        assert [limit for limit, _ in store.pages] == [10] * 5
        cursors = [after for _, after in store.pages]
        assert cursors[0] is None and all(after is not None for after in cursors[1:])

    def test_a_list_and_a_store_give_the_same_report(
        self, filled: tuple[SQLiteStore, list[Order]]
    ) -> None:
        """The same orders as an iterable or from a store give the same totals."""
        store, orders = filled
        now = datetime(2026, 12, 1, tzinfo=UTC)
        context = RuleContext(now=now)
        from_store = dry_run(CANDIDATE, store, active=ACTIVE, context=context, page_size=7)
        from_list = dry_run(CANDIDATE, iter(orders), active=ACTIVE, context=context)
        assert from_store.to_dict() | {"source": ""} == from_list.to_dict() | {"source": ""}
        assert from_store.now == now

    def test_since_until_and_limit_choose_the_orders(
        self, filled: tuple[SQLiteStore, list[Order]]
    ) -> None:
        """The window is on placement time, start included, end excluded; limit caps it."""
        store, orders = filled
        since = orders[20].created_at.utc
        until = orders[90].created_at.utc
        inside = [o for o in orders if since <= o.created_at.utc < until]
        report = dry_run(CANDIDATE, store, active=ACTIVE, since=since, until=until)
        assert report.evaluated == len(inside)
        assert (report.since, report.until) == (since, until)
        capped = dry_run(CANDIDATE, store, active=ACTIVE, since=since, limit=5)
        assert capped.evaluated == 5 and capped.limited
        assert "stopped at the limit" in capped.render()
        listed = dry_run(CANDIDATE, orders, active=ACTIVE, since=since, until=until)
        assert listed.evaluated == len(inside)

    def test_a_query_narrows_the_store(self, filled: tuple[SQLiteStore, list[Order]]) -> None:
        """An OrderQuery picks the orders (its limit is not a cap on the run)."""
        store, orders = filled
        report = dry_run(CANDIDATE, store, active=ACTIVE, query=OrderQuery(channel="douyin"))
        douyin = [o for o in orders if o.channel == "douyin"]
        assert report.evaluated == len(douyin)
        assert report.changed == len(douyin)  # every douyin order loses its route

    def test_progress_is_reported_with_the_total(
        self, filled: tuple[SQLiteStore, list[Order]]
    ) -> None:
        """progress gets (done, total) from zero to the end."""
        store, _ = filled
        calls: list[tuple[int, int | None]] = []
        dry_run(CANDIDATE, store, active=ACTIVE, progress=lambda d, t: calls.append((d, t)))
        assert calls[0] == (0, 150)
        assert calls[-1] == (150, 150)
        assert [done for done, _ in calls] == sorted(done for done, _ in calls)

    def test_without_an_active_version_every_match_is_new(self) -> None:
        """active=None compares against no rules."""
        orders = _orders(30)
        report = dry_run(CANDIDATE, orders)
        assert report.active is None
        assert all(delta.before == 0 for delta in report.rules)
        assert report.changed == sum(bool(CANDIDATE.evaluate(o).matched) for o in orders)
        assert "no active rules (every match is new)" in report.render()

    def test_a_context_per_order(self) -> None:
        """A function of the order gives each order its own context (stock here)."""
        short = RuleSet.from_text(
            """\
ruleset: fulfilment
version: 6
rules:
  - name: pillow-short
    when: stock("PIL-001") < 1
    then: [{tag: gift_short}]
""",
            source="short.yaml",
        )
        orders = _orders(20)
        empty = {o.id for o in orders[::2]}

        def context(order: Order) -> RuleContext:
            return RuleContext(stock={"PIL-001": 0 if order.id in empty else 5})

        report = dry_run(short, orders, context=context)
        assert {change.order_id for change in report.changes} == empty
        assert report.rules[0].after == len(empty)

    def test_identical_versions_change_nothing(self) -> None:
        """A candidate with the active rules changes no decision."""
        report = dry_run(ACTIVE, _orders(40), active=ACTIVE)
        assert report.changed == 0 and not report.has_changes
        assert "no order's decision changes" in report.render()

    def test_evaluation_errors_are_counted_and_shown(self) -> None:
        """A candidate that raises (conflicts: error) is reported per order, not fatal."""
        strict = RuleSet.from_text(
            """\
ruleset: fulfilment
version: 5
conflicts: error
rules:
  - name: hz
    when: order.channel == "douyin"
    then: [{route: WH-HZ}]
  - name: gz
    when: order.channel == "douyin"
    then: [{route: WH-GZ}]
""",
            source="strict.yaml",
        )
        orders = _orders(40)
        report = dry_run(strict, orders, active=ACTIVE)
        douyin = sum(o.channel == "douyin" for o in orders)
        assert report.failed_after == douyin > 0
        assert report.failed_before == 0
        failing = [c for c in report.changes if c.error_after is not None]
        assert len(failing) == douyin
        assert "both set the route" in (failing[0].error_after or "")
        assert f"{douyin} under the candidate" in report.render()

    def test_the_text_lists_n_changed_orders_and_counts_the_rest(
        self, filled: tuple[SQLiteStore, list[Order]]
    ) -> None:
        """render(max_orders) lists that many changed orders, then how many more."""
        store, _ = filled
        report = dry_run(CANDIDATE, store, active=ACTIVE)
        text = report.render(max_orders=3)
        assert f"changed orders (the first 3 of {report.changed}):" in text
        assert f"... and {report.changed - 3} more changed orders" in text
        assert sum(change.order_id in text for change in report.changes) == 3
        assert "candidate fulfilment v4 (candidate.yaml) against active fulfilment v3" in text

    def test_keep_bounds_the_orders_held_and_json_says_how_many_were_left(self) -> None:
        """Only `keep` changed orders are held; all are counted."""
        report = dry_run(CANDIDATE, _orders(), active=ACTIVE, keep=4)
        assert len(report.changes) == 4
        data = json.loads(json.dumps(report.to_dict()))
        assert data["orders_changed"] == report.changed
        assert data["changes_not_listed"] == report.changed - 4
        assert data["candidate"] == {
            "ruleset": "fulfilment",
            "version": 4,
            "source": "candidate.yaml",
        }

    def test_personal_data_is_masked_in_text_and_json(self) -> None:
        """A phone number inside an action is masked wherever the report echoes it."""
        orders = [o for o in _orders() if o.channel == "pdd"]
        assert orders
        report = dry_run(CANDIDATE, orders, active=ACTIVE)
        rendered = report.render() + json.dumps(report.to_dict(), ensure_ascii=False)
        assert "13800138000" not in rendered
        assert "call-138****8000" in rendered

    def test_store_urls_lose_their_password(self) -> None:
        """A store URL is shown without its password."""
        from ordercore.rules._versions import _mask_url

        assert _mask_url("postgresql://shop:s3cret@db:5432/orders") == (
            "postgresql://shop:***@db:5432/orders"
        )
        assert _mask_url("sqlite:///shop.db") == "sqlite:///shop.db"

    def test_a_naive_or_reversed_window_is_refused(self) -> None:
        """since/until must be aware and in order."""
        with pytest.raises(ConfigurationError, match="timezone-aware"):
            dry_run(CANDIDATE, [], since=datetime(2026, 11, 1))
        start = datetime(2026, 11, 2, tzinfo=UTC)
        with pytest.raises(ConfigurationError, match="before until"):
            dry_run(CANDIDATE, [], since=start, until=start - timedelta(days=1))
        with pytest.raises(ConfigurationError, match="limit"):
            dry_run(CANDIDATE, [], limit=0)

    def test_the_book_dry_runs_a_held_version_against_its_active_one(self) -> None:
        """RuleBook.dry_run compares a version it holds with the active version."""
        book = RuleBook()
        book.add(ACTIVE, activate=True)
        book.add(CANDIDATE)
        report = book.dry_run(4, _orders(30))
        assert report.active is not None and report.active.version == 3
        assert report.candidate.version == 4
        with pytest.raises(RuleVersionNotFound):
            book.dry_run(7, [])
