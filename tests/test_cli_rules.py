"""``ordercore rules check | explain | dry-run`` on real rule files, orders and SQLite stores."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ordercore.cli import _EXIT_ERROR, _EXIT_OK, _EXIT_PROBLEMS, _EXIT_USAGE, main
from ordercore.rules import ACTIONS, PACKS, RuleContext, load_rules, pack_text
from ordercore.rules._cli import (
    EXIT_CHANGED,
    EXIT_INVALID,
    RULES_ACTIONS,
    ActionFactory,
    rules_action,
)
from ordercore.schema import Order, load_order_json
from ordercore.storage import SQLiteStore
from ordercore.testing import OrderFactory

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rules" / "cli"
ACTIVE = FIXTURES / "active.yaml"
CANDIDATE = FIXTURES / "candidate.yaml"
BROKEN = FIXTURES / "broken.yaml"
CONFLICT = FIXTURES / "conflict.json"
ORDER = FIXTURES / "order.json"


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, list[Order]]:
    """A SQLite store with 120 factory orders placed over November 2026, closed again."""
    path = tmp_path / "shop.db"
    with SQLiteStore(path) as store:
        stored = [store.put(order) for order in OrderFactory(seed=4).orders(120)]
    return path, sorted(stored, key=Order.sort_key)


def _changed(orders: list[Order], now: datetime | None = None) -> list[Order]:
    """The orders whose matched rules differ between the fixture versions."""
    active, candidate = load_rules(ACTIVE), load_rules(CANDIDATE)
    context = RuleContext(now=now)
    return [
        order
        for order in orders
        if set(active.evaluate(order, context).matched)
        != set(candidate.evaluate(order, context).matched)
    ]


class TestCheck:
    def test_a_valid_file_prints_each_rule_and_exits_0(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each rule is shown with its priority, group, mode, condition and actions."""
        assert main(["rules", "check", str(ACTIVE)]) == _EXIT_OK
        out = capsys.readouterr().out
        lines = out.splitlines()
        assert lines[0] == (
            f"{ACTIVE}: valid rule set fulfilment v3: 6 rules (1 disabled), 2 groups"
        )
        assert "groups: default (all), routing (first)" in out
        numbered = [line.strip() for line in lines if re.match(r"\s+\d+\. ", line)]
        assert numbered == [
            "1. big-order  (priority 10, group default, mode all)",
            "2. east-china  (priority 0, group routing, mode first)",
            "3. pillow-short  (priority 0, group default, mode all)",
            "4. vip-phone  (priority 0, group default, mode all)",
            "5. retired  (priority 0, group default, mode all, disabled)",
            "6. anywhere  (priority -1, group routing, mode first)",
        ]
        block = out[out.index("2. east-china") : out.index("3. pillow-short")]
        assert 'when:  order.receiver.province in ["浙江省", "上海市"]' in block
        assert "then:  route warehouse=WH-HZ" in block
        assert "about: Orders worth a closer look." in out

    def test_personal_data_in_a_condition_is_masked(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A phone number written in a condition is echoed masked."""
        main(["rules", "check", str(ACTIVE)])
        out = capsys.readouterr().out
        assert "13800138000" not in out
        assert 'order.receiver.phone == "138****8000"' in out

    def test_show_code_prints_the_generated_source(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--show-code adds the Python generated from the syntax trees."""
        assert main(["rules", "check", str(ACTIVE), "--show-code"]) == _EXIT_OK
        out = capsys.readouterr().out
        code = out[out.index("generated code") :]
        assert "def rule_0(o, e):" in code
        assert "def traced_0(o, e, T):" in code
        assert load_rules(ACTIVE).generated_source in out

    def test_json_prints_the_rule_set(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--json gives the rule set in the file's shape and the evaluation order."""
        assert main(["rules", "check", str(ACTIVE), "--json"]) == _EXIT_OK
        document = json.loads(capsys.readouterr().out)
        assert document["valid"] is True
        assert document["ruleset"]["ruleset"] == "fulfilment"
        assert document["evaluation_order"][0] == "big-order"
        assert document["evaluation_order"][-1] == "anywhere"
        assert "generated_source" not in document

    def test_an_invalid_file_prints_every_problem_with_its_place(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Every problem is a line with file:line:column; the status says the file is invalid."""
        assert main(["rules", "check", str(BROKEN)]) == EXIT_INVALID == _EXIT_PROBLEMS == 4
        captured = capsys.readouterr()
        assert captured.out.splitlines() == [
            f"{BROKEN}:5:25: rule 'typo': unknown field 'payd' of OrderAmounts; expected one "
            "of: adjustment, balances, currency, discount_total, discounts, expected_paid, "
            "goods, paid, service_fee, shipping, tax",
            f"{BROKEN}:9:12: rule 'bad-action': unknown action 'teleport'; expected one of: "
            + ", ".join(sorted(ACTIONS)),
            f"{BROKEN}:11:15: rule 'bad-priority': priority must be a whole number, not 'high'",
        ]
        (error,) = captured.err.splitlines()
        assert error.startswith(
            f"error: {BROKEN} is not a valid rule set: 3 problems [rule-invalid]"
        )

    def test_an_invalid_file_as_json(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--json lists the problems too, with the same status."""
        assert main(["rules", "check", str(BROKEN), "--json"]) == EXIT_INVALID
        document = json.loads(capsys.readouterr().out)
        assert document["valid"] is False
        assert document["code"] == "rule-invalid"
        assert [problem.split(": ")[0] for problem in document["problems"]] == [
            f"{BROKEN}:5:25",
            f"{BROKEN}:9:12",
            f"{BROKEN}:11:15",
        ]

    def test_a_missing_file_is_a_problem_too(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A file that cannot be read is reported, not a traceback."""
        missing = tmp_path / "nope.yaml"
        assert main(["rules", "check", str(missing)]) == EXIT_INVALID
        captured = capsys.readouterr()
        assert "cannot read the rule set" in captured.out
        assert "Traceback" not in captured.err


class TestExplain:
    def test_the_decision_and_each_rule_trace_are_printed(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """explain prints the actions, then why each rule matched or not."""
        args = ["rules", "explain", str(ACTIVE), str(ORDER), "--stock", "PIL-001=0"]
        assert main([*args, "--now", "2026-11-11T10:00:00+08:00"]) == _EXIT_OK
        out = capsys.readouterr().out
        order = load_order_json(ORDER.read_bytes())
        assert out.splitlines()[0] == f"rule set fulfilment v3 on order {order.id}:"
        assert "  -> route warehouse=WH-HZ (rule east-china)" in out
        assert "  -> tag tags=['gift_short'] (rule pillow-short)" in out
        assert 'true  stock("PIL-001") = 0 < 1' in out
        assert "order.amounts.paid = 568.80 >= 299" in out
        assert "anywhere: shadowed (rule east-china won group routing)" in out
        assert "retired: disabled" in out
        assert "13800138000" not in out and "138****8000" in out
        assert out.rstrip().endswith("(evaluated with now = 2026-11-11T02:00:00+00:00)")

    def test_without_stock_the_stock_rule_does_not_match(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """stock() is null without --stock, so the rule comparing it is false."""
        assert main(["rules", "explain", str(ACTIVE), str(ORDER)]) == _EXIT_OK
        out = capsys.readouterr().out
        assert "pillow-short: not_matched" in out
        assert "gift_short" not in out

    def test_stock_per_location_is_accepted(self, capsys: pytest.CaptureFixture[str]) -> None:
        """SKU@LOCATION=N gives one location's units; stock(sku) sums them."""
        args = ["rules", "explain", str(ACTIVE), str(ORDER), "--stock", "PIL-001@WH-HZ=0"]
        assert main(args) == _EXIT_OK
        assert 'stock("PIL-001") = 0 < 1' in capsys.readouterr().out

    @pytest.mark.parametrize(
        ("option", "value", "message"),
        [
            ("--stock", "PIL-001", "expected SKU=N"),
            ("--stock", "PIL-001=-1", "expected SKU=N"),
            ("--now", "2026-11-11T10:00", "give the UTC offset"),
            ("--now", "yesterday", "not an ISO 8601 time"),
        ],
    )
    def test_bad_values_are_usage_errors(
        self, option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A malformed --stock or --now exits 2 with argparse's message."""
        with pytest.raises(SystemExit) as caught:
            main(["rules", "explain", str(ACTIVE), str(ORDER), option, value])
        assert caught.value.code == _EXIT_USAGE
        assert message in capsys.readouterr().err

    def test_an_evaluation_error_is_one_error_line(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A conflict under conflicts: error is reported as an error (status 1)."""
        assert main(["rules", "explain", str(CONFLICT), str(ORDER)]) == _EXIT_ERROR
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith("error: rules 'hz' and 'gz' of fulfilment both set the route")
        assert "[rule-conflict]" in line

    def test_an_order_file_that_is_not_an_order(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """ORDER.json must hold a canonical order."""
        bad = tmp_path / "order.json"
        bad.write_text('{"id": "x"}', encoding="utf-8")
        assert main(["rules", "explain", str(ACTIVE), str(bad)]) == _EXIT_ERROR
        assert capsys.readouterr().err.startswith("error: ")


class TestDryRun:
    def test_changes_are_reported_with_status_1(
        self, shop: tuple[Path, list[Order]], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The totals and the per-rule table agree with evaluating both files directly."""
        path, orders = shop
        now = "2026-12-01T00:00:00+00:00"
        args = ["rules", "dry-run", "--store", _url(path), "--candidate", str(CANDIDATE)]
        status = main([*args, "--active", str(ACTIVE), "--now", now, "--show", "2"])
        assert status == EXIT_CHANGED == _EXIT_PROBLEMS
        captured = capsys.readouterr()
        out = captured.out
        changed = _changed(orders, datetime(2026, 12, 1, tzinfo=UTC))
        assert f"120 orders evaluated, {len(changed)} orders changed" in out
        assert f"changed orders (the first 2 of {len(changed)}):" in out
        assert f"... and {len(changed) - 2} more changed orders" in out
        assert changed[0].id in out and changed[2].id not in out
        candidate, active = load_rules(CANDIDATE), load_rules(ACTIVE)
        row = next(line.split() for line in out.splitlines() if line.startswith("  big-order "))
        before = sum("big-order" in active.evaluate(o).matched for o in orders)
        after = sum("big-order" in candidate.evaluate(o).matched for o in orders)
        assert row == ["big-order", str(before), str(after), f"{after - before:+d}"]
        assert any(line.split()[-1] == "new" for line in out.splitlines() if "douyin-live" in line)
        assert "rules evaluated at 2026-12-01T00:00:00+00:00" in out

    def test_a_progress_line_goes_to_standard_error(
        self, shop: tuple[Path, list[Order]], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Off a terminal the progress is plain lines on stderr; --quiet silences it."""
        path, _ = shop
        args = ["rules", "dry-run", "--store", _url(path), "--candidate", str(CANDIDATE)]
        main(args)
        captured = capsys.readouterr()
        assert captured.err.splitlines()[-1].startswith("120/120 orders evaluated 100%")
        assert "orders evaluated" not in captured.out.split("\n")[0]
        main([*args, "--quiet"])
        assert capsys.readouterr().err == ""

    def test_the_same_rules_exit_0(
        self, shop: tuple[Path, list[Order]], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """No order changes: status 0 and a line saying so."""
        path, _ = shop
        args = ["rules", "dry-run", "--store", _url(path), "--candidate", str(ACTIVE)]
        assert main([*args, "--active", str(ACTIVE), "--quiet"]) == _EXIT_OK
        out = capsys.readouterr().out
        assert "120 orders evaluated, 0 orders changed" in out
        assert "no order's decision changes" in out

    def test_json_report(
        self, shop: tuple[Path, list[Order]], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--json prints the whole report as JSON, with the same status."""
        path, orders = shop
        args = ["rules", "dry-run", "--store", _url(path), "--candidate", str(CANDIDATE)]
        now = "2026-12-01T00:00:00Z"
        status = main([*args, "--active", str(ACTIVE), "--json", "--quiet", "--now", now])
        assert status == EXIT_CHANGED
        report = json.loads(capsys.readouterr().out)
        changed = _changed(orders, datetime(2026, 12, 1, tzinfo=UTC))
        assert report["orders_evaluated"] == 120
        assert report["orders_changed"] == len(changed)
        assert [c["order_id"] for c in report["changes"]] == [o.id for o in changed]
        assert report["active"]["version"] == 3 and report["candidate"]["version"] == 4
        assert {row["action"] for row in report["actions"]} == {"route", "tag"}

    def test_since_until_and_limit(
        self, shop: tuple[Path, list[Order]], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Dates without an offset are days in the candidate's timezone; limit caps the run."""
        path, orders = shop
        zone = ZoneInfo("Asia/Shanghai")
        since = datetime(2026, 11, 5, tzinfo=zone)
        until = datetime(2026, 11, 10, tzinfo=zone)
        inside = [o for o in orders if since <= o.created_at.utc < until]
        args = ["rules", "dry-run", "--store", _url(path), "--candidate", str(CANDIDATE)]
        window = ["--since", "2026-11-05", "--until", "2026-11-10", "--json", "--quiet"]
        main([*args, *window])
        report = json.loads(capsys.readouterr().out)
        assert report["orders_evaluated"] == len(inside) > 0
        assert datetime.fromisoformat(report["since"]) == since
        assert datetime.fromisoformat(report["until"]) == until
        main([*args, "--limit", "7", "--json", "--quiet"])
        capped = json.loads(capsys.readouterr().out)
        assert capped["orders_evaluated"] == 7 and capped["limited"] is True

    def test_the_store_is_not_changed(
        self, shop: tuple[Path, list[Order]], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A dry run writes nothing: the orders and the outbox are as they were."""
        path, orders = shop

        def digest() -> str:
            return hashlib.sha256(path.read_bytes()).hexdigest()

        before = digest()
        args = ["rules", "dry-run", "--store", _url(path), "--candidate", str(CANDIDATE)]
        assert main([*args, "--quiet"]) == EXIT_CHANGED
        capsys.readouterr()
        assert digest() == before  # (SQLite may add its -shm and an empty -wal beside it)
        with SQLiteStore(path) as store:
            assert store.query(limit=500) == orders

    def test_a_missing_store_file_is_an_error_and_is_not_created(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A store URL naming no file fails with one error line; no file appears."""
        missing = tmp_path / "nope.db"
        args = ["rules", "dry-run", "--store", _url(missing), "--candidate", str(CANDIDATE)]
        assert main(args) == _EXIT_ERROR
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith("error: cannot open") and "no database file" in line
        assert not missing.exists()

    def test_an_in_memory_store_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        """memory:// would be empty in a new process."""
        args = ["rules", "dry-run", "--store", "memory://", "--candidate", str(CANDIDATE)]
        assert main(args) == _EXIT_ERROR
        assert "in-memory store" in capsys.readouterr().err

    def test_a_broken_candidate_is_an_error(
        self, shop: tuple[Path, list[Order]], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A candidate that does not load stops the run before any order is read."""
        path, _ = shop
        args = ["rules", "dry-run", "--store", _url(path), "--candidate", str(BROKEN)]
        assert main(args) == _EXIT_ERROR
        err = capsys.readouterr().err
        assert err.startswith(f"error: 3 problems in {BROKEN}")

    def test_the_help_documents_the_statuses(self, capsys: pytest.CaptureFixture[str]) -> None:
        """dry-run --help says what 0, 4 and 1 mean."""
        with pytest.raises(SystemExit) as caught:
            main(["rules", "dry-run", "--help"])
        assert caught.value.code == 0
        out = " ".join(capsys.readouterr().out.split())
        assert "0 no order's decision changes" in out
        assert "4 the decision of at least one order changes" in out
        assert "1 it could not run" in out


class TestExplainContext:
    def test_a_pack_with_carrier_rates(self, capsys: pytest.CaptureFixture[str]) -> None:
        """pack:carriers explains the D19 switch from the rates given on the command line."""
        args = ["rules", "explain", "pack:carriers", str(ORDER), "--carrier", "SF=0.61"]
        assert main([*args, "--carrier", "ZTO=0.9"]) == _EXIT_OK
        out = capsys.readouterr().out
        assert "-> ZTO (SF 0.61, ZTO 0.9, YTO ?)" in out
        assert 'carrier_success("SF", 24h) = 0.61 < 0.65' in out
        assert main(["rules", "explain", "pack:carriers", str(ORDER)]) == _EXIT_OK
        assert "-> set_carrier carrier=SF" in capsys.readouterr().out

    def test_history_counters(self, capsys: pytest.CaptureFixture[str]) -> None:
        order = load_order_json(ORDER.read_bytes())
        phone = order.receiver.phone.reveal()  # type: ignore[union-attr]
        args = ["rules", "explain", "pack:risk", str(ORDER), "--history"]
        assert main([*args, f"returns:{phone}=6/3"]) == _EXIT_OK
        out = capsys.readouterr().out
        assert "many-returns-same-phone: matched" in out and "-> freeze" in out
        assert phone not in out  # the trace masks it
        assert main([*args, f"returns:{phone}=6"]) == _EXIT_OK  # 6 returns, 6 orders
        assert "many-returns-same-phone: matched" in capsys.readouterr().out
        assert main([*args, f"returns:{phone}=6/2"]) == _EXIT_OK
        assert "many-returns-same-phone: not_matched" in capsys.readouterr().out

    @pytest.mark.parametrize(
        ("option", "value"),
        [
            ("--carrier", "SF"),
            ("--carrier", "SF=1.5"),
            ("--carrier", "SF=nan"),
            ("--history", "returns=6"),
            ("--history", "returns:x=six"),
        ],
    )
    def test_bad_values_are_usage_errors(
        self, option: str, value: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as caught:
            main(["rules", "explain", "pack:risk", str(ORDER), option, value])
        assert caught.value.code == _EXIT_USAGE
        assert "expected" in capsys.readouterr().err

    def test_an_unknown_pack_is_an_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["rules", "explain", "pack:nope", str(ORDER)]) == _EXIT_ERROR
        assert "no built-in rule pack 'nope'" in capsys.readouterr().err

    def test_check_takes_a_pack(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["rules", "check", "pack:review"]) == _EXIT_OK
        assert "valid rule set ordercore.review v1: 3 rules" in capsys.readouterr().out


class TestPacks:
    def test_the_list_names_every_pack_and_its_rules(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["rules", "packs"]) == _EXIT_OK
        out = capsys.readouterr().out
        for name in ("gifts", "shipping", "fulfilment", "review", "risk", "carriers"):
            assert f"  {name} " in out
        assert "many-returns-same-phone" in out and "D18" in out

    def test_json_lists_the_same_packs(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["rules", "packs", "--json"]) == _EXIT_OK
        rows = json.loads(capsys.readouterr().out)
        assert [row["name"] for row in rows][:2] == ["gifts", "shipping"]
        assert rows[0]["rules"] == ["douyin-sofa-pillow"]

    def test_show_prints_a_pack_that_check_accepts(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["rules", "packs", "--show", "risk"]) == _EXIT_OK
        path = tmp_path / "risk.yaml"
        path.write_text(capsys.readouterr().out, encoding="utf-8")
        assert main(["rules", "check", str(path)]) == _EXIT_OK
        assert "valid rule set ordercore.risk v1" in capsys.readouterr().out

    def test_an_unknown_pack_is_an_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["rules", "packs", "--show", "gift"]) == _EXIT_ERROR
        assert "no built-in rule pack 'gift'" in capsys.readouterr().err

    def test_write_copies_them_and_refuses_to_overwrite(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        target = tmp_path / "rules"
        assert main(["rules", "packs", "--write", str(target)]) == _EXIT_OK
        written = sorted(path.name for path in target.iterdir())
        assert written == sorted(f"{name}.yaml" for name in PACKS)
        (target / "gifts.yaml").write_text("# mine\n", encoding="utf-8")
        assert main(["rules", "packs", "--write", str(target)]) == _EXIT_ERROR
        assert "already exist" in capsys.readouterr().err
        assert (target / "gifts.yaml").read_text(encoding="utf-8") == "# mine\n"
        assert main(["rules", "packs", "--write", str(target), "--force"]) == _EXIT_OK
        assert (target / "gifts.yaml").read_text(encoding="utf-8") == pack_text("gifts")


class TestRegistry:
    def test_the_subcommands_are_registered_in_order(self) -> None:
        """check, explain, dry-run and packs are the registered rules subcommands."""
        assert list(RULES_ACTIONS)[:4] == ["check", "explain", "dry-run", "packs"]

    def test_a_registered_subcommand_joins_the_command_line(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A function registered with rules_action adds its subcommand to `ordercore rules`."""

        def run(args: argparse.Namespace) -> int:
            print(f"packs for {args.name}")
            return _EXIT_OK

        @rules_action("packs-test")
        def _add(action: ActionFactory) -> None:
            sub = action("packs-test", "a test subcommand", "A test subcommand.", {0: "done"})
            sub.add_argument("name")
            sub.set_defaults(run=run)

        try:
            assert main(["rules", "packs-test", "gifts"]) == _EXIT_OK
            assert capsys.readouterr().out == "packs for gifts\n"
        finally:
            del RULES_ACTIONS["packs-test"]

    def test_rules_is_listed_in_the_top_help(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`ordercore --help` lists the rules command."""
        with pytest.raises(SystemExit):
            main(["--help"])
        assert re.search(r"^\s+rules\s+check, explain or dry-run", capsys.readouterr().out, re.M)


def test_the_fixture_order_is_a_canonical_order() -> None:
    """The order file the explain tests use loads and is placed in 2026."""
    order = load_order_json(ORDER.read_bytes())
    assert order.channel == "taobao"
    assert order.created_at.utc > datetime(2026, 1, 1, tzinfo=UTC) - timedelta(days=1)
