"""``ordercore rules check | explain | dry-run | packs``: validate, explain and try rule sets.

::

    ordercore rules check FILE [--show-code] [--json]
    ordercore rules explain FILE|pack:NAME ORDER.json [--now ISO] [--stock SKU=N ...]
                            [--carrier CARRIER=RATE ...] [--history COUNTER:KEY=N[/ORDERS] ...]
    ordercore rules dry-run --store URL --candidate FILE [--active FILE] [--since ISO]
                            [--until ISO] [--now ISO] [--limit N] [--show N] [--json] [--quiet]
    ordercore rules packs [--show NAME | --write DIR [--force]] [--json]

Each subcommand registers itself in :data:`RULES_ACTIONS`.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol
from zoneinfo import ZoneInfo

from ordercore.cli import (
    _EXIT_ERROR,
    _EXIT_OK,
    _EXIT_PROBLEMS,
    _count,
    _error,
    _exit_status_help,
    _paragraph,
)
from ordercore.errors import DOCS_URL, ConfigurationError, RuleLoadError
from ordercore.pii import redact

if TYPE_CHECKING:
    from ordercore.progress import Progress
    from ordercore.rules import RuleSet
    from ordercore.storage import OrderStore

__all__ = ["RULES_ACTIONS", "add_rules_command", "rules_action"]

#: ``rules check``: the file is not a valid rule set (every problem is printed).
EXIT_INVALID: Final = _EXIT_PROBLEMS
#: ``rules dry-run``: the candidate changes the decision of at least one order.
EXIT_CHANGED: Final = _EXIT_PROBLEMS
#: The longest a condition or an action is echoed by ``rules check``.
_ECHO_LIMIT: Final = 4000


class ActionFactory(Protocol):
    """Adds one ``rules`` subcommand and returns its parser (see :func:`add_rules_command`)."""

    def __call__(
        self, name: str, summary: str, description: str, statuses: dict[int, str]
    ) -> argparse.ArgumentParser: ...


#: Subcommand name -> the function adding it to ``ordercore rules``, in help order.
RULES_ACTIONS: dict[str, Callable[[ActionFactory], None]] = {}


def rules_action(
    name: str,
) -> Callable[[Callable[[ActionFactory], None]], Callable[[ActionFactory], None]]:
    """Register the function that adds the ``ordercore rules NAME`` subcommand.

    The function gets a factory ``action(name, summary, description, statuses)``
    returning the subcommand's parser; it adds the arguments and sets ``run``.
    """

    def register(build: Callable[[ActionFactory], None]) -> Callable[[ActionFactory], None]:
        RULES_ACTIONS[name] = build
        return build

    return register


def _epilog(statuses: dict[int, str]) -> str:
    rows = [
        textwrap.fill(meaning, width=79, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7)
        for code, meaning in statuses.items()
    ]
    return "this command exits with:\n" + "\n".join(rows) + "\n\n" + _exit_status_help()


def add_rules_command(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    """Add ``ordercore rules`` and every registered subcommand to the command line."""
    rules = command(
        "rules",
        "check, explain or dry-run a rule set",
        "Validate a rule set file (YAML or JSON) and print its rules, explain the decision "
        "of a rule set on one order, or try a candidate version on the orders of a store "
        "against the active version and print which decisions would change. Nothing is "
        "written anywhere.",
    )
    actions = rules.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(
        name: str, summary: str, description: str, statuses: dict[int, str]
    ) -> argparse.ArgumentParser:
        return actions.add_parser(
            name,
            help=summary,
            description=_paragraph(description),
            epilog=_epilog(statuses),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    for build in RULES_ACTIONS.values():
        build(action)


# -- check ------------------------------------------------------------------------------


def _echo(text: str) -> str:
    return redact(" ".join(text.split()), limit=_ECHO_LIMIT)


def _describe_rules(rules: RuleSet) -> list[str]:
    """``rules check``'s text: the set's settings, then each rule in evaluation order."""
    disabled = sum(not rule.enabled for rule in rules.rules)
    groups = sorted({rule.group for rule in rules.rules} | set(rules.groups))
    head = (
        f"{rules.source}: valid rule set {rules.name} v{rules.version}: "
        f"{_count(len(rules.rules), 'rule')}"
        + (f" ({disabled} disabled)" if disabled else "")
        + f", {_count(len(groups), 'group')}"
    )
    lines = [head]
    if rules.description:
        lines.append(textwrap.fill(_echo(rules.description), width=79))
    lines.append(
        f"conflicts: {rules.conflicts}; on_error: {rules.on_error}; timezone: {rules.timezone}; "
        f"default mode: {rules.default_mode}"
    )
    if groups:
        lines.append(
            "groups: " + ", ".join(f"{group} ({rules.mode_of(group)})" for group in groups)
        )
    lines += ["", "rules, in evaluation order (priority, then file order):"]
    if not rules.rules:
        lines.append("  (none)")
    for number, rule in enumerate(rules.rules, start=1):
        state = "" if rule.enabled else ", disabled"
        lines.append(
            f"  {number}. {rule.name}  (priority {rule.priority}, group {rule.group}, "
            f"mode {rules.mode_of(rule.group)}{state})"
        )
        if rule.description:
            lines.append(f"     about: {_echo(rule.description)}")
        lines.append(f"     when:  {_echo(rule.when)}")
        if rule.actions:
            lines.append(f"     then:  {_echo(rule.actions[0].describe())}")
            lines += [f"            {_echo(action.describe())}" for action in rule.actions[1:]]
        else:
            lines.append("     then:  (no action)")
    return lines


def _cmd_check(args: argparse.Namespace) -> int:
    try:
        rules = _load_named(args.file)
    except RuleLoadError as error:
        if args.json:
            document = {
                "source": args.file,
                "valid": False,
                "code": error.code,
                "problems": list(error.problems),
            }
            print(json.dumps(document, indent=2, ensure_ascii=False))
        else:
            for problem in error.problems:
                print(problem)
        _error(
            f"{args.file} is not a valid rule set: {_count(len(error.problems), 'problem')} "
            f"[{error.code}] (see {DOCS_URL}#{error.code})"
        )
        return EXIT_INVALID
    if args.json:
        valid: dict[str, Any] = {
            "source": rules.source,
            "valid": True,
            "evaluation_order": rules.names(),
            "ruleset": rules.to_dict(),
        }
        if args.show_code:
            valid["generated_source"] = rules.generated_source
        print(json.dumps(valid, indent=2, ensure_ascii=False))
        return _EXIT_OK
    lines = _describe_rules(rules)
    if args.show_code:
        lines += ["", "generated code (compiled from the checked syntax tree):", ""]
        lines.append(rules.generated_source)
    print("\n".join(lines))
    return _EXIT_OK


@rules_action("check")
def _add_check(action: ActionFactory) -> None:
    check = action(
        "check",
        "validate a rule set; print its rules or every problem",
        "Load and validate a rule set file: fields, names, every condition (parsed and "
        "type-checked against the canonical order) and every action's parameters. A valid "
        "file prints its settings and each rule in evaluation order: name, priority, group "
        "and mode, condition and actions. A file that is not valid prints every problem, "
        "each with file:line:column, the rule and what was expected.",
        {
            _EXIT_OK: "the rule set is valid",
            EXIT_INVALID: "the rule set is not valid (or cannot be read): every problem "
            "is printed, one per line",
        },
    )
    check.add_argument("file", metavar="FILE", help="the rule set (.yaml, .yml, .json)")
    check.add_argument(
        "--show-code",
        action="store_true",
        help="also print the Python source generated from the rules' syntax trees",
    )
    check.add_argument(
        "--json", action="store_true", help="print the result as JSON (the rule set, or problems)"
    )
    check.set_defaults(run=_cmd_check)


# -- explain ----------------------------------------------------------------------------


def _instant(text: str) -> datetime:
    """An ISO 8601 time with its UTC offset (``2026-11-11T10:00:00+08:00``, ``...Z``)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time: {text!r} (e.g. 2026-11-11T10:00:00+08:00)"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"give the UTC offset in {text!r} (e.g. 2026-11-11T10:00:00+08:00 or ...Z)"
        )
    return value


def _local_time(text: str) -> datetime:
    """An ISO 8601 date or time; without an offset it is read later in the rule set's zone."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date or time: {text!r} (e.g. 2026-11-01 or 2026-11-01T08:00+08:00)"
        ) from None


def _stock_level(text: str) -> tuple[str | tuple[str, str], int]:
    """``SKU=N`` (all locations) or ``SKU@LOCATION=N``."""
    key, sep, units = text.rpartition("=")
    if not sep or not key or not units.strip().isdigit():
        raise argparse.ArgumentTypeError(
            f"expected SKU=N or SKU@LOCATION=N with N a whole number >= 0, got {text!r}"
        )
    sku, at, location = key.partition("@")
    if at and (not sku or not location):
        raise argparse.ArgumentTypeError(f"expected SKU@LOCATION=N, got {text!r}")
    return ((sku, location) if at else sku), int(units)


def _carrier_rate(text: str) -> tuple[str, Decimal]:
    """``CARRIER=RATE`` with RATE a delivery success rate from 0 to 1 (``SF=0.61``)."""
    carrier, sep, rate = text.partition("=")
    try:
        value = Decimal(rate.strip())
    except InvalidOperation:
        value = Decimal(-1)
    if not sep or not carrier or not value.is_finite() or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(
            f"expected CARRIER=RATE with RATE from 0 to 1 (e.g. SF=0.61), got {text!r}"
        )
    return carrier, value


def _history_count(text: str) -> tuple[str, str, tuple[int, int]]:
    """``COUNTER:KEY=N`` or ``COUNTER:KEY=N/ORDERS`` (``returns:13800138000=6/3``)."""
    head, sep, counts = text.rpartition("=")
    counter, colon, key = head.partition(":")
    count, slash, orders = counts.partition("/")
    numbers = [count, orders] if slash else [count]
    if (
        not sep
        or not colon
        or not counter
        or not key
        or not all(n.strip().isdigit() for n in numbers)
    ):
        raise argparse.ArgumentTypeError(
            f"expected COUNTER:KEY=N or COUNTER:KEY=N/ORDERS (e.g. returns:13800138000=6/3), "
            f"got {text!r}"
        )
    total = int(count)
    return counter, key, (total, int(orders) if slash else total)


def _load_named(file: str) -> RuleSet:
    """A rule set file, or ``pack:NAME`` for a built-in pack."""
    from ordercore.rules import load_pack, load_rules

    if file.startswith("pack:"):
        return load_pack(file.removeprefix("pack:"))
    return load_rules(file)


def _cmd_explain(args: argparse.Namespace) -> int:
    from ordercore.rules import RuleContext
    from ordercore.schema import load_order_json

    rules = _load_named(args.file)
    order = load_order_json(Path(args.order).read_bytes())
    stock: dict[Any, int] = dict(args.stock)
    history: dict[str, dict[str, tuple[int, int]]] = {}
    for counter, key, counts in args.history:
        history.setdefault(counter, {})[key] = counts
    context = RuleContext(
        now=args.now,
        stock=stock or None,
        carriers=dict(args.carrier) or None,
        history=history or None,
    )
    decision = rules.evaluate(order, context, explain=True)
    print(decision.explain())
    print(f"(evaluated with now = {decision.evaluated_at.astimezone(UTC).isoformat()})")
    return _EXIT_OK


@rules_action("explain")
def _add_explain(action: ActionFactory) -> None:
    explain = action(
        "explain",
        "evaluate a rule set on one order and say why each rule matched or not",
        "Evaluate the rule set on the order in ORDER.json (a canonical order as JSON, of any "
        "schema version this ordercore reads) and print the decision: the actions in order, "
        "what was overridden, then each rule's outcome with the values behind every test of "
        "its condition (personal data masked). FILE may be pack:NAME for a built-in pack. "
        "The context comes from the options: --stock for stock(...), --carrier for "
        "carrier_success(...), --history for history_count(...) and history_orders(...); "
        "without them, stock() and carrier_success() are null and counters are 0.",
        {_EXIT_OK: "the decision is printed"},
    )
    explain.add_argument(
        "file", metavar="FILE", help="the rule set (.yaml, .yml, .json), or pack:NAME"
    )
    explain.add_argument("order", metavar="ORDER.json", help="the order, as canonical JSON")
    explain.add_argument(
        "--now",
        type=_instant,
        metavar="ISO",
        help="the time the rules see as now, with its offset (default: the clock)",
    )
    explain.add_argument(
        "--stock",
        type=_stock_level,
        action="append",
        default=[],
        metavar="SKU=N",
        help="units available of a SKU (SKU@LOCATION=N for one location); repeatable",
    )
    explain.add_argument(
        "--carrier",
        type=_carrier_rate,
        action="append",
        default=[],
        metavar="CARRIER=RATE",
        help="a carrier's delivery success rate, 0 to 1 (SF=0.61); repeatable",
    )
    explain.add_argument(
        "--history",
        type=_history_count,
        action="append",
        default=[],
        metavar="COUNTER:KEY=N[/ORDERS]",
        help="a history counter: N returns or orders for KEY (a phone, an address), over "
        "ORDERS different orders (default N); e.g. returns:13800138000=6/3; repeatable",
    )
    explain.set_defaults(run=_cmd_explain)


# -- dry-run ----------------------------------------------------------------------------


def _open_orders(url: str) -> OrderStore:
    """Open the store a dry run reads, read-only where the backend can.

    Raises:
        ConfigurationError: an in-memory URL (empty in a new process).
        StoreError: the store cannot be opened (a SQLite file that does not exist).
    """
    from ordercore.storage import open_store, store_scheme
    from ordercore.storage._sqlite import parse_sqlite_url

    scheme = store_scheme(url)
    if scheme == "memory" or (scheme == "sqlite" and parse_sqlite_url(url) == ":memory:"):
        raise ConfigurationError(
            f"{url} names an in-memory store, which is empty in a new process; "
            "give a database URL such as sqlite:///shop.db"
        )
    if scheme == "sqlite":
        return open_store(url, read_only=True)
    return open_store(url)


def _in_zone(value: datetime | None, zone: str) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=ZoneInfo(zone))


def _cmd_dry_run(args: argparse.Namespace) -> int:
    from ordercore.progress import Progress
    from ordercore.rules import RuleContext
    from ordercore.rules._versions import dry_run

    candidate = _load_named(args.candidate)
    active = _load_named(args.active) if args.active else None
    since = _in_zone(args.since, candidate.timezone)
    until = _in_zone(args.until, candidate.timezone)
    bar: Progress | None = None

    def progress(done: int, total: int | None) -> None:
        nonlocal bar
        if bar is None:
            bar = Progress(
                total or 0, "orders evaluated", stream=sys.stderr, enabled=not args.quiet
            )
        if total is not None and total > bar.total:
            bar.total = total
        bar.advance(done - bar.done)

    try:
        with _open_orders(args.store) as store:
            report = dry_run(
                candidate,
                store,
                active=active,
                since=since,
                until=until,
                limit=args.limit,
                context=RuleContext(now=args.now) if args.now is not None else None,
                progress=progress,
            )
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.render(max_orders=args.show))
    return EXIT_CHANGED if report.has_changes else _EXIT_OK


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _non_negative(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


@rules_action("dry-run")
def _add_dry_run(action: ActionFactory) -> None:
    run = action(
        "dry-run",
        "try a candidate rule set on stored orders; print which decisions change",
        "Evaluate the candidate rule set and the active one (--active; without it, no rules) "
        "on every order of the store placed in the window, oldest first, reading a page at a "
        "time, and compare the decisions order by order: rules that match under one version "
        "only, and actions only one asks for. Prints the totals, the matches per rule and "
        "the actions per kind under each version, then the first changed orders (--show) "
        "and how many more there are; personal data is masked. Both versions see the same "
        "time as now. Nothing is written; a SQLite store is opened read-only. A progress "
        "line goes to standard error.",
        {
            _EXIT_OK: "no order's decision changes",
            EXIT_CHANGED: "the decision of at least one order changes (the report says which)",
            _EXIT_ERROR: "it could not run (one line on standard error says why)",
        },
    )
    run.add_argument(
        "--store", required=True, metavar="URL", help="the order store, e.g. sqlite:///shop.db"
    )
    run.add_argument("--candidate", required=True, metavar="FILE", help="the rule set to try")
    run.add_argument(
        "--active",
        metavar="FILE",
        help="the rule set in use to compare with (default: none, so every match is new)",
    )
    zone_note = "without an offset, in the candidate's timezone"
    run.add_argument(
        "--since",
        type=_local_time,
        metavar="ISO",
        help=f"only orders placed at or after this date or time ({zone_note})",
    )
    run.add_argument(
        "--until",
        type=_local_time,
        metavar="ISO",
        help=f"only orders placed before this date or time ({zone_note})",
    )
    run.add_argument(
        "--now",
        type=_instant,
        metavar="ISO",
        help="the time both versions see as now, with its offset (default: the clock)",
    )
    run.add_argument(
        "--limit", type=_positive, metavar="N", help="evaluate at most N orders (oldest first)"
    )
    run.add_argument(
        "--show",
        type=_non_negative,
        default=20,
        metavar="N",
        help="list at most N changed orders in the text report (default 20)",
    )
    run.add_argument("--json", action="store_true", help="print the report as JSON")
    run.add_argument("--quiet", action="store_true", help="no progress line on standard error")
    run.set_defaults(run=_cmd_dry_run)


# -- packs ------------------------------------------------------------------------------


def _cmd_packs(args: argparse.Namespace) -> int:
    from ordercore.rules import PACKS, load_pack, pack_text

    try:
        if args.show is not None:
            sys.stdout.write(pack_text(args.show))
            return _EXIT_OK
        if args.write is not None:
            return _write_packs(Path(args.write), force=args.force)
    except ConfigurationError as error:
        _error(str(error))
        return _EXIT_ERROR
    rows: list[dict[str, Any]] = []
    for pack in PACKS.values():
        rules = load_pack(pack.name)
        rows.append(
            {
                "name": pack.name,
                "ruleset": rules.name,
                "version": rules.version,
                "scenarios": pack.scenarios,
                "summary": pack.summary,
                "rules": rules.names(),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return _EXIT_OK
    width = max(len(row["name"]) for row in rows)
    scenarios = max(len(row["scenarios"]) for row in rows)
    print(f"{_count(len(rows), 'built-in rule pack')} (ordercore rules packs --show NAME):")
    for row in rows:
        print(f"  {row['name']:<{width}}  {row['scenarios']:<{scenarios}}  {row['summary']}")
        print(f"  {'':<{width}}  {'':<{scenarios}}  rules: {', '.join(row['rules'])}")
    return _EXIT_OK


def _write_packs(directory: Path, *, force: bool) -> int:
    from ordercore.rules import PACKS, pack_text

    targets = [directory / pack.filename for pack in PACKS.values()]
    existing = [str(path) for path in targets if path.exists()]
    if existing and not force:
        verb = "exists" if len(existing) == 1 else "exist"
        _error(
            f"{_count(len(existing), 'file')} already {verb}, left untouched: "
            f"{', '.join(existing)} (add --force to overwrite)"
        )
        return _EXIT_ERROR
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for pack, path in zip(PACKS.values(), targets, strict=True):
            path.write_text(pack_text(pack.name), encoding="utf-8")
            print(path)
    except OSError as error:
        raise ConfigurationError(f"cannot write the packs to {directory}: {error}") from None
    return _EXIT_OK


@rules_action("packs")
def _add_packs(action: ActionFactory) -> None:
    packs = action(
        "packs",
        "list the built-in rule packs (D13-D19); print or copy one",
        "List the rule packs shipped with ordercore: gifts, free shipping, splitting and "
        "routing, review holds, risk freezes and carrier health. Each is an ordinary rule "
        "set file: print one with --show, or copy all of them with --write DIR, then edit "
        "the copies and load them with load_rules().",
        {
            _EXIT_OK: "the packs were listed, printed or written",
            _EXIT_ERROR: "no such pack, or a file to write already exists (without --force)",
        },
    )
    choice = packs.add_mutually_exclusive_group()
    choice.add_argument("--show", metavar="NAME", help="print the pack NAME's YAML")
    choice.add_argument("--write", metavar="DIR", help="write every pack's YAML into DIR")
    packs.add_argument(
        "--force", action="store_true", help="with --write: overwrite files that exist"
    )
    packs.add_argument("--json", action="store_true", help="list the packs as JSON")
    packs.set_defaults(run=_cmd_packs)
