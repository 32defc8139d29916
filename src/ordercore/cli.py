"""The ``ordercore`` command.

::

    ordercore demo [--orders N] [--db PATH] [--seed N] [--quiet]
    ordercore schema [--model Order|OrderEvent] [--output FILE]
    ordercore plugins
    ordercore version

Exit status: 0 on success, 1 when ordercore reports an error (the message goes
to standard error), 2 for a usage mistake.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

from ordercore import plugins
from ordercore._version import __version__
from ordercore.errors import OrderCoreError

__all__ = ["main"]


def _cmd_demo(args: argparse.Namespace) -> int:
    from ordercore.demo import format_summary, run_demo

    summary = run_demo(args.db, orders=args.orders, seed=args.seed, progress=not args.quiet)
    print(format_summary(summary))
    return 0 if summary.ok else 1


def _cmd_schema(args: argparse.Namespace) -> int:
    from ordercore import schema

    models: dict[str, type[schema.CanonicalModel]] = {
        "Order": schema.Order,
        "OrderEvent": schema.OrderEvent,
    }
    text = schema.json_schema_text(models[args.model], indent=args.indent)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
        print(f"wrote the {args.model} JSON Schema to {args.output}", file=sys.stderr)
    else:
        print(text)
    return 0


def _cmd_plugins(args: argparse.Namespace) -> int:
    for group in plugins.GROUPS:
        print(group)
        entries = plugins.registered(group)
        if not entries:
            print("  (none installed)")
        for info in entries:
            origin = "built in" if info.builtin else (info.distribution or "registered in code")
            print(f"  {info.name:<18} {info.target or '<object>'}  [{origin}]")
    return 0


def _cmd_version(args: argparse.Namespace) -> int:
    import pydantic

    print(f"ordercore {__version__}")
    print(f"python {platform.python_version()} ({platform.python_implementation()})")
    print(f"pydantic {pydantic.VERSION}")
    extra = sorted(
        {
            info.distribution
            for group in plugins.GROUPS
            for info in plugins.registered(group)
            if info.distribution and not info.builtin
        }
    )
    print(f"plugins: {', '.join(extra) if extra else 'none'}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ordercore", description="The order core for multi-channel e-commerce."
    )
    parser.add_argument("--version", action="version", version=f"ordercore {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="store a realistic multi-channel batch in SQLite and summarise it",
        description="Build a realistic batch of orders from seven channels plus POS, store "
        "them in a SQLite file, read them back and print per-channel counts and money totals.",
    )
    demo.add_argument("--orders", type=int, default=1000, help="how many orders (default 1000)")
    demo.add_argument(
        "--db", default="ordercore-demo.db", help="SQLite file to write (default ordercore-demo.db)"
    )
    demo.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(run=_cmd_demo)

    schema = commands.add_parser("schema", help="print the canonical JSON Schema")
    schema.add_argument("--model", choices=["Order", "OrderEvent"], default="Order")
    schema.add_argument("--indent", type=int, default=2)
    schema.add_argument("--output", "-o", help="write to this file instead of standard output")
    schema.set_defaults(run=_cmd_schema)

    listing = commands.add_parser("plugins", help="list the registered plugins per group")
    listing.set_defaults(run=_cmd_plugins)

    version = commands.add_parser("version", help="print versions of ordercore and its plugins")
    version.set_defaults(run=_cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ordercore`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except OrderCoreError as exc:
        print(f"ordercore: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ordercore: interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
