"""The ``ordercore`` command.

::

    ordercore demo [--orders N] [--db PATH] [--seed N] [--quiet]
    ordercore schema [--model Order|OrderEvent] [--output FILE]
    ordercore lifecycle show [FILE] [--extend EXT_FILE] [--json]
    ordercore lifecycle validate FILE [--extend EXT_FILE]
    ordercore lifecycle diagram [FILE] [--extend EXT_FILE] [--output PATH]
    ordercore inventory verify URL
    ordercore inventory repair URL [--yes]
    ordercore inventory show URL [--sku SKU] [--location LOC] [--json]
    ordercore rules check FILE [--show-code] [--json]
    ordercore rules explain FILE|pack:NAME ORDER.json [--now ISO] [--stock SKU=N ...] ...
    ordercore rules dry-run --store URL --candidate FILE [--active FILE] [--since ISO] ...
    ordercore rules packs [--show NAME | --write DIR [--force]] [--json]
    ordercore plugins
    ordercore version

Errors go to standard error as one line, ``error: <message>``, never as a
traceback. The exit statuses are listed in ``ordercore --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

from ordercore import plugins
from ordercore._version import __version__
from ordercore.errors import ConfigurationError, OrderCoreError

if TYPE_CHECKING:
    from ordercore.inventory import Drift, Inventory, StockLevel
    from ordercore.lifecycle import SLA, LifecycleSpec

__all__ = ["main"]

_DISTRIBUTION: Final = "ordercore-oms"
#: The unrelated PyPI project whose distribution installs a top-level ``ordercore`` too.
_CLASHING_DISTRIBUTION: Final = "ordercore"

_EXIT_OK: Final = 0
_EXIT_ERROR: Final = 1
_EXIT_USAGE: Final = 2
_EXIT_DEMO_REFUSED: Final = 3
_EXIT_PROBLEMS: Final = 4
_EXIT_CLASH: Final = 5
_EXIT_INTERRUPTED: Final = 130
_EXIT_BROKEN_PIPE: Final = 141

#: Every exit status of the command and what it means.
_EXIT_STATUSES: Final[dict[int, str]] = {
    _EXIT_OK: "success",
    _EXIT_ERROR: "ordercore reported an error (one line on standard error)",
    _EXIT_USAGE: "usage mistake (unknown command or option, bad value)",
    _EXIT_DEMO_REFUSED: "demo: --db names an existing file the demo did not make; left untouched",
    _EXIT_PROBLEMS: (
        "demo: the checks found problems (result: PROBLEMS FOUND); inventory verify, "
        "inventory repair: stock counters drift from the ledger (the drift is printed); "
        "rules check: the rule set is not valid (every problem is printed); rules dry-run: "
        "the candidate changes some decisions (the differences are printed)"
    ),
    _EXIT_CLASH: (
        "version, plugins: the unrelated distribution 'ordercore' is installed beside "
        f"{_DISTRIBUTION}; the report is printed, and the warning says how to fix it"
    ),
    _EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
    _EXIT_BROKEN_PIPE: "standard output was closed early (e.g. piped into head)",
}


def _exit_status_help() -> str:
    rows = [
        textwrap.fill(meaning, width=79, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7)
        for code, meaning in _EXIT_STATUSES.items()
    ]
    return "exit status:\n" + "\n".join(rows)


def _paragraph(text: str) -> str:
    """A description for the raw help formatter, wrapped as argparse would."""
    return textwrap.fill(text, width=79)


def _error(message: str) -> None:
    with contextlib.suppress(OSError):
        print(f"error: {message}", file=sys.stderr)


# -- installed distributions --------------------------------------------------------------


def _normalise(name: str) -> str:
    """A distribution name as pip compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class _Installed:
    name: str
    version: str
    location: str


def _describe(dist: metadata.Distribution) -> _Installed:
    return _Installed(dist.metadata["Name"] or "?", dist.version, str(dist.locate_file("")))


def _clashing() -> list[_Installed]:
    """The installed distributions of the unrelated ``ordercore`` project."""
    found = []
    for name in plugins.conflicting_distributions():
        try:
            found.append(_describe(metadata.distribution(name)))
        except metadata.PackageNotFoundError:  # pragma: no cover - uninstalled meanwhile
            continue
    return found


def _plugin_distributions() -> list[_Installed]:
    """Installed distributions that declare ordercore entry points, other than ordercore's."""
    found: dict[str, _Installed] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or _normalise(name) in {_DISTRIBUTION, _CLASHING_DISTRIBUTION}:
            continue
        if any(ep.group in plugins.GROUPS for ep in dist.entry_points):
            found.setdefault(_normalise(name), _describe(dist))
    return [found[key] for key in sorted(found)]


def _warn_about_clashes(clashes: list[_Installed]) -> int:
    """Explain each clashing distribution on standard error; return the exit status."""
    for clash in clashes:
        _error(
            f"the installed distribution {clash.name!r} {clash.version} (in "
            f"{clash.location}) is a different project, not this ordercore (distribution "
            f"{_DISTRIBUTION!r}); both install the module 'ordercore' and overwrite each "
            "other's files."
        )
        _error(
            f"uninstall it with: pip uninstall {_CLASHING_DISTRIBUTION}  (then reinstall "
            f"{_DISTRIBUTION}; from a clone: pip install -e .)"
        )
    return _EXIT_CLASH if clashes else _EXIT_OK


# -- commands ---------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    from ordercore.demo import _check_demo_path, format_summary, run_demo

    try:
        _check_demo_path(args.db)
    except ConfigurationError as exc:
        _error(str(exc))
        return _EXIT_DEMO_REFUSED
    summary = run_demo(args.db, orders=args.orders, seed=args.seed, progress=not args.quiet)
    print(format_summary(summary))
    return _EXIT_OK if summary.ok else _EXIT_PROBLEMS


def _cmd_schema(args: argparse.Namespace) -> int:
    from ordercore import schema

    models: dict[str, type[schema.CanonicalModel]] = {
        "Order": schema.Order,
        "OrderEvent": schema.OrderEvent,
    }
    text = schema.json_schema_text(models[args.model], indent=args.indent)
    if args.output:
        try:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot write the schema to {args.output}: {exc.strerror or exc}"
            ) from None
        print(f"wrote the {args.model} JSON Schema to {args.output}", file=sys.stderr)
    else:
        print(text)
    return _EXIT_OK


# -- lifecycle ----------------------------------------------------------------------------

#: The widest a description gets in ``lifecycle show``'s table (``--json`` has it whole).
_DESCRIPTION_WIDTH: Final = 60


def _load_spec(args: argparse.Namespace) -> LifecycleSpec:
    """The spec a ``lifecycle`` command works on: FILE (or the default), then each --extend.

    Every guard and effect the result names must be built in or given with
    ``--guard`` / ``--effect``.

    Raises:
        LifecycleSpecError: a file is missing or not valid, or the result is not.
    """
    from ordercore.lifecycle import BUILTIN_EFFECTS, BUILTIN_GUARDS, default_spec, load_lifecycle

    spec = default_spec() if args.file is None else load_lifecycle(args.file)
    for extension in args.extend:
        spec = spec.extend(Path(extension))
    spec.check_names(
        guards=[*BUILTIN_GUARDS, *args.guard], effects=[*BUILTIN_EFFECTS, *args.effect]
    )
    return spec


def _plain_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Collection[int] = ()
) -> list[str]:
    """A text table: a header line, a rule, then each row.

    Columns are left-aligned, but those whose index is in ``right`` (numbers). A
    cell holding line breaks spreads its row over as many lines.
    """
    split = [[cell.split("\n") for cell in row] for row in rows]
    widths = [
        max([len(header), *(len(part) for row in split for part in row[index])])
        for index, header in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return f"  {'  '.join(padded)}".rstrip()

    lines = [line(headers), line(["-" * width for width in widths])]
    for row in split:
        height = max(len(cell) for cell in row)
        for index in range(height):
            lines.append(line([cell[index] if index < len(cell) else "" for cell in row]))
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _shortened(text: str, width: int = _DESCRIPTION_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def _sla_cells(sla: SLA) -> tuple[str, str, str]:
    from ordercore.lifecycle import format_duration

    limit = format_duration(sla.limit) if sla.limit is not None else f"deadline {sla.deadline}"
    steps = "\n".join(
        f"+{format_duration(step.after)} -> {step.notify} (level {step.level})"
        for step in sla.escalation
    )
    return limit, sla.owner, steps or "-"


def _describe_spec(spec: LifecycleSpec) -> str:
    """``lifecycle show``'s text: the spec's states, nodes, SLAs and transitions as tables."""
    from ordercore.lifecycle._spec import expand_transitions

    nodes = sum(len(state.nodes) for state in spec.states.values())
    lines = [f"lifecycle {spec.name} v{spec.version} ({spec.source})"]
    if spec.description:
        lines.append(textwrap.fill(" ".join(spec.description.split()), width=79))
    lines += ["", f"initial: {', '.join(spec.initial)}", ""]

    state_rows = []
    sla_rows = []
    for status, state in spec.states.items():
        entries = [(status.value, state.description, state.sla)]
        entries += [
            (f"{status.value}.{name}", node.description, node.sla)
            for name, node in state.nodes.items()
        ]
        for ref, description, sla in entries:
            shown = ref if "." not in ref else f"  .{ref.partition('.')[2]}"
            state_rows.append((shown, _shortened(description) or "-"))
            if sla is not None:
                sla_rows.append((ref, *_sla_cells(sla)))
    lines.append(f"states ({len(spec.states)}) and nodes ({nodes}):")
    lines += _plain_table(("state / node", "description"), state_rows)

    lines += ["", f"transitions ({len(spec.transitions)}, triggers {len(spec.triggers)}):"]
    transition_rows = [
        (
            transition.trigger,
            "\n".join(transition.sources),
            transition.dest,
            "\n".join(transition.guards) or "-",
            "\n".join(transition.effects) or "-",
            transition.alert or "-",
        )
        for transition in spec.transitions
    ]
    lines += _plain_table(("trigger", "from", "to", "guards", "effects", "alert"), transition_rows)

    lines += ["", f"SLAs ({len(sla_rows)}; a node's SLA replaces its state's):"]
    if sla_rows:
        lines += _plain_table(
            ("state / node", "limit", "owner", "escalation (after the limit)"), sla_rows
        )
    else:
        lines.append("  (none)")
    routes = sum(1 for _ in expand_transitions(spec))
    lines += [
        "",
        f"{routes} routes: (state or node, trigger) pairs once status-level transitions "
        "apply at their nodes",
    ]
    return "\n".join(lines)


def _cmd_lifecycle_show(args: argparse.Namespace) -> int:
    import json

    spec = _load_spec(args)
    if args.json:
        print(json.dumps(spec.model_dump(mode="json"), indent=2, ensure_ascii=False))
    else:
        print(_describe_spec(spec))
    return _EXIT_OK


def _cmd_lifecycle_validate(args: argparse.Namespace) -> int:
    from ordercore.lifecycle._spec import expand_transitions

    spec = _load_spec(args)
    nodes = sum(len(state.nodes) for state in spec.states.values())
    slas = sum(
        (state.sla is not None) + sum(node.sla is not None for node in state.nodes.values())
        for state in spec.states.values()
    )
    routes = sum(1 for _ in expand_transitions(spec))
    print(
        f"{spec.source}: valid lifecycle {spec.name!r} v{spec.version}: "
        f"{_count(len(spec.states), 'state')}, {_count(nodes, 'node')}, "
        f"{_count(len(spec.transitions), 'transition')} ({_count(len(spec.triggers), 'trigger')}, "
        f"{_count(routes, 'route')}), {_count(slas, 'SLA')}"
    )
    return _EXIT_OK


def _cmd_lifecycle_diagram(args: argparse.Namespace) -> int:
    from ordercore.lifecycle import spec_to_mermaid

    spec = _load_spec(args)
    text = spec_to_mermaid(spec)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot write the diagram to {args.output}: {exc.strerror or exc}"
            ) from None
        print(
            f"wrote the Mermaid diagram of lifecycle {spec.name!r} to {args.output}",
            file=sys.stderr,
        )
    else:
        print(text, end="")
    return _EXIT_OK


# -- inventory ----------------------------------------------------------------------------

#: The counters of a stock level, in the order the commands show them.
_COUNTERS: Final = ("on_hand", "reserved", "in_transfer", "damaged")


def _check_inventory_file(path: Path, url: str) -> None:
    """Make sure ``path`` is a SQLite file that already holds an inventory, without writing.

    Raises:
        ConfigurationError: it does not exist, is not a SQLite file, or has no stock tables.
    """
    import sqlite3

    if not path.exists():
        raise ConfigurationError(
            f"{path} does not exist (from {url}); the inventory commands never create a database"
        )
    if not path.is_file():
        raise ConfigurationError(f"{path} is not a file (from {url})")
    try:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            found = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ordercore_stock'"
            ).fetchone()
    except sqlite3.Error as exc:
        raise ConfigurationError(f"{path} is not a SQLite database ({exc})") from None
    if found is None:
        raise ConfigurationError(
            f"{path} holds no ordercore inventory (no table ordercore_stock); it was left untouched"
        )


def _open_stock(url: str) -> Inventory:
    """Open the inventory an ``inventory`` command works on.

    A ``sqlite://`` URL must name an existing file that holds the inventory's
    tables already: the commands never create a database, nor add tables to one.

    Raises:
        ConfigurationError: an in-memory URL (empty in a new process), or a SQLite
            file that is missing, not a database or holds no inventory.
        StoreURLError: a malformed URL.
        PluginNotFound: no inventory backend for the URL's scheme.
        StoreError: the backend could not open the database.
    """
    from ordercore.inventory import open_inventory
    from ordercore.storage._sqlite import parse_sqlite_url

    scheme = url.partition("://")[0].split("+")[0]
    path = parse_sqlite_url(url) if scheme == "sqlite" else None
    if scheme == "memory" or path == ":memory:":
        raise ConfigurationError(
            f"{url} names an in-memory inventory, which is empty in a new process; "
            "give a database URL such as sqlite:///shop.db"
        )
    if path is not None:
        _check_inventory_file(Path(path), url)
    return open_inventory(url)


def _all_levels(
    inventory: Inventory, sku: str | None = None, location: str | None = None
) -> list[StockLevel]:
    """Every stock level (of ``sku``, at ``location``), by SKU then location."""
    if sku is not None:
        return inventory.stock(sku, location)
    return inventory.stock_levels(location=location)


def _open_reservations(
    inventory: Inventory, sku: str | None, location: str | None
) -> Counter[tuple[str, str]]:
    """Reservations still holding units, per (SKU, location), summed from the ledger."""
    held: Counter[tuple[str, str, str]] = Counter()
    after = 0
    while entries := inventory.ledger(sku=sku, location=location, after_seq=after, limit=5000):
        for entry in entries:
            if entry.reservation_id is not None and entry.reserved:
                held[(entry.sku, entry.location, entry.reservation_id)] += entry.reserved
        after = entries[-1].seq
    found: Counter[tuple[str, str]] = Counter()
    for (held_sku, held_at, _), units in held.items():
        if units > 0:
            found[(held_sku, held_at)] += 1
    return found


def _drift_table(drifts: Sequence[Drift]) -> list[str]:
    rows = [
        (d.sku, d.location, d.field, str(d.counter), str(d.ledger), f"{d.difference:+d}")
        for d in drifts
    ]
    return _plain_table(
        ("sku", "location", "counter", "stored", "ledger", "difference"), rows, right={3, 4, 5}
    )


def _drifted_keys(drifts: Sequence[Drift]) -> int:
    return len({(d.sku, d.location) for d in drifts})


def _cmd_inventory_verify(args: argparse.Namespace) -> int:
    with _open_stock(args.url) as inventory:
        drifts = inventory.verify()
        if not drifts:
            rows = len(_all_levels(inventory))
            print(
                f"{args.url}: no drift: every counter of {_count(rows, 'stock level')} "
                "matches the sum of its ledger entries"
            )
            return _EXIT_OK
    print(
        f"{args.url}: {_count(len(drifts), 'counter')} at "
        f"{_count(_drifted_keys(drifts), 'stock level')} drift from the ledger "
        "(stored = the counter, ledger = the sum of its entries, difference = stored - ledger)"
    )
    print("\n".join(_drift_table(drifts)))
    print(f"rebuild them from the ledger with: ordercore inventory repair {args.url}")
    return _EXIT_PROBLEMS


def _confirmed(question: str) -> bool:
    """Ask a yes/no question on the terminal; anything but yes (or end of input) is no."""
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        print()
        return False
    return answer.strip().lower() in {"y", "yes"}


def _stdin_is_a_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, OSError, ValueError):
        return False


def _cmd_inventory_repair(args: argparse.Namespace) -> int:
    with _open_stock(args.url) as inventory:
        drifts = inventory.repair(dry_run=True)
        if not drifts:
            print(f"{args.url}: no drift: every counter matches the ledger; nothing to repair")
            return _EXIT_OK
        print(
            f"{args.url}: {_count(len(drifts), 'counter')} at "
            f"{_count(_drifted_keys(drifts), 'stock level')} would be set to the ledger's "
            "value (stored -> ledger):"
        )
        print("\n".join(_drift_table(drifts)))
        if not args.yes:
            if not _stdin_is_a_terminal():
                _error(
                    "not repairing without --yes: standard input is not a terminal to confirm "
                    "on; nothing was changed"
                )
                return _EXIT_USAGE
            if not _confirmed(f"rebuild these {_count(len(drifts), 'counter')} from the ledger?"):
                _error("repair not confirmed; nothing was changed")
                return _EXIT_ERROR
        repaired = inventory.repair(dry_run=False)
        left = inventory.verify()
    print(
        f"repaired {_count(len(repaired), 'counter')} at "
        f"{_count(_drifted_keys(repaired), 'stock level')} from the ledger"
    )
    if left:
        print(
            f"still drifting after the repair (changed meanwhile?): {_count(len(left), 'counter')}"
        )
        print("\n".join(_drift_table(left)))
        return _EXIT_PROBLEMS
    print("verify: no drift")
    return _EXIT_OK


def _cmd_inventory_show(args: argparse.Namespace) -> int:
    import json

    from ordercore.errors import UnknownLocation

    with _open_stock(args.url) as inventory:
        if args.location is not None:
            known = [location.id for location in inventory.locations()]
            if args.location not in known:
                raise UnknownLocation(
                    f"unknown location {args.location!r} in {args.url} "
                    f"(known: {', '.join(known) or 'none'})",
                    location=args.location,
                )
        levels = _all_levels(inventory, args.sku, args.location)
        held = _open_reservations(inventory, args.sku, args.location)
        waiting = [
            (reservation, line)
            for reservation in inventory.backorders(args.sku)
            for line in reservation.waiting
            if (args.sku is None or line.sku == args.sku)
            and (args.location is None or line.location == args.location)
        ]
    backordered: Counter[tuple[str, str | None]] = Counter()
    for _, line in waiting:
        backordered[(line.sku, line.location)] += line.quantity
    if args.json:
        document = {
            "url": args.url,
            "stock": [
                {
                    "sku": level.sku,
                    "location": level.location,
                    **{name: getattr(level, name) for name in _COUNTERS},
                    "available": level.available,
                    "open_reservations": held[(level.sku, level.location)],
                    "backordered": backordered[(level.sku, level.location)],
                }
                for level in levels
            ],
            "backorders": [
                {
                    "reservation_id": reservation.id,
                    "sku": line.sku,
                    "location": line.location,
                    "quantity": line.quantity,
                    "channel": reservation.channel,
                    "since": reservation.created_at.isoformat(),
                }
                for reservation, line in waiting
            ],
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return _EXIT_OK
    scope = "".join(
        f", {name} {value}"
        for name, value in (("SKU", args.sku), ("location", args.location))
        if value is not None
    )
    print(f"{args.url}: {_count(len(levels), 'stock level')} (SKU at location){scope}")
    if not levels:
        print("  (no stock)")
    else:
        rows = [
            (
                level.sku,
                level.location,
                *(f"{getattr(level, name):,}" for name in _COUNTERS),
                f"{level.available:,}",
                f"{held[(level.sku, level.location)]:,}",
                f"{backordered[(level.sku, level.location)]:,}",
            )
            for level in levels
        ]
        headers = (
            "sku",
            "location",
            "on hand",
            "reserved",
            "in transfer",
            "damaged",
            "available",
            "open reservations",
            "backordered",
        )
        print("\n".join(_plain_table(headers, rows, right=set(range(2, len(headers))))))
    if waiting:
        requests = len({reservation.id for reservation, _ in waiting})
        units = sum(line.quantity for _, line in waiting)
        print(
            f"\nbackorders: {_count(requests, 'request')} waiting for {units:,} units, oldest first"
        )
        queue_rows = [
            (
                reservation.id,
                line.sku,
                line.location or "-",
                f"{line.quantity:,}",
                reservation.channel or "-",
                f"{reservation.created_at:%Y-%m-%d %H:%M:%S} UTC",
            )
            for reservation, line in waiting
        ]
        queue_headers = ("reservation", "sku", "location", "units", "channel", "since")
        print("\n".join(_plain_table(queue_headers, queue_rows, right={3})))
    else:
        print("\nbackorders: none")
    return _EXIT_OK


def _add_inventory(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    """The ``inventory`` command and its ``verify``, ``repair`` and ``show`` subcommands."""
    inventory = command(
        "inventory",
        "check, repair or show the stock of an inventory",
        "Check the stock counters of an inventory against its ledger, rebuild them from "
        "the ledger, or show the stock per SKU and location. URL names the inventory: "
        "sqlite:///shop.db (a relative path; four slashes before an absolute one) or "
        "postgresql://... with the ordercore-postgres plugin. A SQLite file must exist and "
        "hold an inventory already: these commands never create a database or add tables "
        f"to one (exit status {_EXIT_ERROR}).",
    )
    actions = inventory.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(
            name,
            help=summary,
            description=_paragraph(description),
            epilog=_exit_status_help(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("url", metavar="URL", help="the inventory, e.g. sqlite:///shop.db")
        return sub

    verify = action(
        "verify",
        "recompute the counters from the ledger and print any drift",
        "Recompute every stock counter (on hand, reserved, in transfer, damaged) from the "
        "ledger. Prints one line and exits "
        f"{_EXIT_OK} when all match; otherwise prints a table of each drifting counter per "
        "SKU and location (the stored value, the ledger's and the difference) and exits "
        f"{_EXIT_PROBLEMS}. Changes nothing.",
    )
    verify.set_defaults(run=_cmd_inventory_verify)

    repair = action(
        "repair",
        "rebuild drifting counters from the ledger",
        "Show which counters drift from the ledger and what they would be set to, then, "
        "once confirmed, set them to the ledger's sums in one transaction (publishing a stock "
        "message for every availability that changes) and verify again. Without --yes it asks "
        "on the terminal; when standard input is not a terminal it refuses and exits "
        f"{_EXIT_USAGE} without changing anything. A declined confirmation exits {_EXIT_ERROR}. "
        f"Exits {_EXIT_OK} when nothing drifts (any more).",
    )
    repair.add_argument(
        "--yes", "-y", action="store_true", help="repair without asking for confirmation"
    )
    repair.set_defaults(run=_cmd_inventory_repair)

    show = action(
        "show",
        "print the stock per SKU and location",
        "Print the stock per SKU and location: on hand, reserved, in transfer, damaged and "
        "available (on hand - reserved - in transfer), the open reservations holding units "
        "there (counted from the ledger) and the units backordered there, then the backorder "
        "queue, oldest first (--json: all of it as JSON).",
    )
    show.add_argument("--sku", metavar="SKU", help="only this SKU")
    show.add_argument("--location", metavar="LOC", help="only this location (its id)")
    show.add_argument("--json", action="store_true", help="print the stock as JSON")
    show.set_defaults(run=_cmd_inventory_show)


def _cmd_plugins(args: argparse.Namespace) -> int:
    for group in plugins.GROUPS:
        print(group)
        entries = plugins.registered(group)
        if not entries:
            print("  (none installed)")
        for info in entries:
            origin = "built in" if info.builtin else (info.distribution or "registered in code")
            print(f"  {info.name:<18} {info.target or '<object>'}  [{origin}]")
    return _warn_about_clashes(_clashing())


def _cmd_version(args: argparse.Namespace) -> int:
    import pydantic

    try:
        metadata.distribution(_DISTRIBUTION)
        where = ""
    except metadata.PackageNotFoundError:
        where = " (not installed: running from a source tree)"
    print(f"{_DISTRIBUTION} {__version__} (import name ordercore){where}")
    print(f"python {platform.python_version()} ({platform.python_implementation()})")
    print(f"pydantic {pydantic.VERSION}")
    extensions = _plugin_distributions()
    if extensions:
        print("plugins:")
        for extension in extensions:
            print(f"  {extension.name} {extension.version}")
    else:
        print("plugins: none")
    return _warn_about_clashes(_clashing())


def _add_lifecycle(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    """The ``lifecycle`` command and its ``show``, ``validate`` and ``diagram`` subcommands."""
    lifecycle = command(
        "lifecycle",
        "show, validate or draw a lifecycle spec",
        "Show, validate or draw an order lifecycle spec (YAML or JSON), or the default "
        "lifecycle that ships with ordercore. A spec that is not valid is one error line "
        "naming the file, the line and the field, and exit status "
        f"{_EXIT_ERROR}.",
    )
    actions = lifecycle.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, summary: str, description: str, *, file_required: bool) -> None:
        sub = actions.add_parser(
            name,
            help=summary,
            description=_paragraph(
                f"{description} Guards and effects a transition names must be built in "
                "or given with --guard / --effect (the ones your application registers)."
            ),
            epilog=_exit_status_help(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if file_required:
            sub.add_argument("file", metavar="FILE", help="the lifecycle spec (.yaml, .yml, .json)")
        else:
            sub.add_argument(
                "file",
                metavar="FILE",
                nargs="?",
                default=None,
                help="the lifecycle spec (.yaml, .yml, .json); default: the default lifecycle",
            )
        sub.add_argument(
            "--extend",
            action="append",
            default=[],
            metavar="EXT_FILE",
            help="apply this lifecycle extension to the spec (repeat to apply several, in order)",
        )
        sub.add_argument(
            "--guard",
            action="append",
            default=[],
            metavar="NAME",
            help="a guard your application registers (repeatable)",
        )
        sub.add_argument(
            "--effect",
            action="append",
            default=[],
            metavar="NAME",
            help="an effect your application registers (repeatable)",
        )
        if name == "show":
            sub.add_argument(
                "--json",
                action="store_true",
                help="print the spec as JSON (every field; loadable again)",
            )
            sub.set_defaults(run=_cmd_lifecycle_show)
        elif name == "validate":
            sub.set_defaults(run=_cmd_lifecycle_validate)
        else:
            sub.add_argument(
                "--output",
                "-o",
                metavar="PATH",
                help="write the diagram to this file instead of standard output",
            )
            sub.set_defaults(run=_cmd_lifecycle_diagram)

    action(
        "show",
        "print the states, nodes, transitions and SLAs as tables",
        "Print the lifecycle's states and nodes, its transitions with their guards, effects "
        "and alerts, and its SLAs with owners and escalation, as tables (--json: as JSON).",
        file_required=False,
    )
    action(
        "validate",
        "check a lifecycle spec; one line either way",
        "Check a lifecycle spec: fields, states each transition names, duplicate triggers, "
        "reachability, and that every guard and effect is known. Prints a one-line summary "
        f"and exits {_EXIT_OK} when it is valid; otherwise prints the error (file, line, field) "
        f"and exits {_EXIT_ERROR}.",
        file_required=True,
    )
    action(
        "diagram",
        "print the lifecycle as a Mermaid state diagram",
        "Print the lifecycle as a Mermaid stateDiagram-v2 (the same text for the same spec), "
        "or write it to --output.",
        file_required=False,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ordercore",
        description="The order core for multi-channel e-commerce.",
        epilog=_exit_status_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{_DISTRIBUTION} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=_paragraph(description),
            epilog=_exit_status_help(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    demo = command(
        "demo",
        "store a realistic multi-channel batch in SQLite, run its lifecycle and summarise it",
        "Build a realistic batch of orders from seven channels plus POS, store them in a new "
        "SQLite file, move them through the default lifecycle over a simulated day (some "
        "cancelled, held for review or in after-sale) and run their SLA timers, then read them "
        "back and print counts per canonical status, channel and lifecycle state, the SLA "
        "breaches by escalation level, and money totals per channel. Their stock lives in the "
        "same file: three warehouses reserve it by region, shipping commits it, cancellations "
        "release it, unpaid holds expire on payment timeout, and a live-stream burst on one hot "
        "SKU is refused once its stock runs out; the summary shows the stock per warehouse, the "
        "reservations, the burst and the ledger check. The file is marked as "
        "the demo's (a table ordercore_demo); "
        "a later run replaces only such a file and refuses any other existing one (a store, an "
        "application database, an empty or non-SQLite file) without touching it.",
    )
    demo.add_argument(
        "--orders", type=int, default=1000, metavar="N", help="how many orders (default 1000)"
    )
    demo.add_argument(
        "--db",
        default="ordercore-demo.db",
        metavar="PATH",
        help="SQLite file to create, or an earlier demo file to replace "
        "(default ordercore-demo.db in the working directory)",
    )
    demo.add_argument(
        "--seed", type=int, default=2026, metavar="N", help="random seed (default 2026)"
    )
    demo.add_argument(
        "--quiet",
        action="store_true",
        help="print only the summary: no progress on standard error",
    )
    demo.set_defaults(run=_cmd_demo)

    schema = command(
        "schema",
        "print the canonical JSON Schema",
        "Print the JSON Schema (draft 2020-12) of the canonical order or event.",
    )
    schema.add_argument("--model", choices=["Order", "OrderEvent"], default="Order")
    schema.add_argument("--indent", type=int, default=2)
    schema.add_argument(
        "--output", "-o", metavar="FILE", help="write to this file instead of standard output"
    )
    schema.set_defaults(run=_cmd_schema)

    _add_lifecycle(command)
    _add_inventory(command)
    from ordercore.rules._cli import add_rules_command

    add_rules_command(command)

    clash_note = (
        f"Exits with status {_EXIT_CLASH} (after printing the report) when the unrelated PyPI "
        f"distribution '{_CLASHING_DISTRIBUTION}' is installed: it installs a module "
        "'ordercore' too, so what gets imported may be a mix of both projects; "
        f"'pip uninstall {_CLASHING_DISTRIBUTION}', then reinstall {_DISTRIBUTION}."
    )
    listing = command(
        "plugins",
        "list the registered plugins per group",
        f"List the registered plugins per entry-point group. {clash_note}",
    )
    listing.set_defaults(run=_cmd_plugins)

    version = command(
        "version",
        "print versions of ordercore and its plugins",
        "Print the distribution name and version of ordercore and of each installed plugin "
        f"distribution, and the Python and pydantic versions. {clash_note}",
    )
    version.set_defaults(run=_cmd_version)
    return parser


def _settle_output() -> int | None:
    """Flush standard output and error; if a reader went away, silence the stream.

    Returns the broken-pipe status (141) when a stream was closed, else ``None``.
    """
    status = None
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            status = _EXIT_BROKEN_PIPE
            _point_at_devnull(stream)
        except (OSError, ValueError):
            pass  # a stream that is already closed has nothing left to lose
    return status


def _point_at_devnull(stream: TextIO) -> None:
    # What is still buffered goes nowhere at exit, instead of into an
    # "Exception ignored ... BrokenPipeError" message.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ordercore`` command; returns the exit status (listed in ``--help``)."""
    try:
        args = _parser().parse_args(argv)
        status: int = args.run(args)
    except BrokenPipeError:
        _settle_output()
        return _EXIT_BROKEN_PIPE
    except SystemExit:
        # argparse's --help and usage errors; their text may meet a closed pipe too.
        if _settle_output() is not None:
            return _EXIT_BROKEN_PIPE
        raise
    except OrderCoreError as exc:
        _error(str(exc))
        status = _EXIT_ERROR
    except OSError as exc:
        # The environment refused something (a full disk, a permission): say what.
        target = f" ({exc.filename})" if exc.filename else ""
        _error(f"{exc.strerror or exc}{target}")
        status = _EXIT_ERROR
    except KeyboardInterrupt:
        _error("interrupted")
        status = _EXIT_INTERRUPTED
    broken = _settle_output()
    return broken if broken is not None else status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
