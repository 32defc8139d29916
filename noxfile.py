"""The one entry point for checks: ``nox -s tests lint typecheck`` is what CI runs.

Each session installs what it needs into its own virtual environment, so these
commands work on a fresh machine with only Python and ``pip install nox``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.error_on_missing_interpreters = True
nox.options.default_venv_backend = "venv"

ROOT = Path(__file__).parent
PLUGINS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
PYTHON = ["3.11"] if os.environ.get("CI") else None


def install_everything(session: nox.Session, *extra: str) -> None:
    """Core (editable, with test extras) and every plugin distribution under plugins/."""
    session.install("-e", ".[test]", *extra)
    for plugin in PLUGINS:
        session.install("-e", str(plugin))


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the whole test suite, core and plugins (PostgreSQL: set ORDERCORE_TEST_POSTGRES_URL)."""
    install_everything(session)
    paths = ["tests", *(str(p / "tests") for p in PLUGINS if (p / "tests").exists())]
    session.run("pytest", *(session.posargs or paths))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the library and plugins, then on the README's code and examples/ as users.

    The user code is checked from a scratch directory with tests/typing/mypy.ini (what
    examples/README.md tells users to configure), not with the repository's [tool.mypy].
    """
    install_everything(session, "mypy==2.4.1", "types-PyYAML==6.0.12.20261122")
    session.run("mypy", "src", *(str(p / "src") for p in PLUGINS))
    user_project = Path(tempfile.mkdtemp(prefix="ordercore-user-code-"))
    typing_dir = ROOT / "tests" / "typing"
    session.run(
        "python", str(typing_dir / "extract_readme.py"), str(ROOT / "README.md"), str(user_project)
    )
    with session.chdir(user_project):
        session.run(
            "mypy",
            "--config-file",
            str(typing_dir / "mypy.ini"),
            str(user_project),
            str(ROOT / "examples"),
        )


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site strictly and run the examples in docstrings."""
    install_everything(session, "mkdocs>=1.6", "mkdocstrings[python]>=0.26")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(Path(tempfile.mkdtemp()) / "site"))
    session.run("pytest", "--doctest-modules", "src/ordercore", "-q", "-p", "no:randomly")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks (``nox -s bench -- --full`` for the long versions)."""
    install_everything(session, "-e", ".[bench]")
    quick = [] if "--full" in session.posargs else ["--quick"]
    for script in sorted((ROOT / "benchmarks").glob("[a-z]*.py")):
        session.run("python", str(script), *quick)


@nox.session(python=PYTHON)
def battery(session: nox.Session) -> None:
    """The long reliability runs: kill -9 crash trials (200 on SQLite, 50 on PostgreSQL), the
    inventory's hot-SKU race (8 processes x 2,500 operations, on SQLite and PostgreSQL) and
    ledger crash trials (200 on SQLite, 50 on PostgreSQL), then PostgreSQL restarted under open
    stores (needs ORDERCORE_TEST_POSTGRES_URL)."""
    install_everything(session)
    session.run(
        "pytest", "tests/storage", "-q", *session.posargs, env={"ORDERCORE_CRASH_TRIALS": "200"}
    )
    # -s shows the measured figures (operations/s, samples, kills checked).
    session.run(
        "pytest",
        "tests/inventory/test_r1_hot_sku.py",
        "tests/inventory/test_inventory_crash.py",
        "-q",
        "-s",
        *session.posargs,
        env={
            "ORDERCORE_R1_PROCESSES": "8",
            "ORDERCORE_R1_OPS": "2500",
            "ORDERCORE_INVENTORY_CRASH_TRIALS": "200",
        },
    )
    session.run(
        "pytest",
        "plugins/ordercore-postgres/tests/test_postgres_crash.py",
        "-q",
        *session.posargs,
        env={"ORDERCORE_CRASH_TRIALS": "50"},
    )
    session.run(
        "pytest",
        "plugins/ordercore-postgres/tests/test_postgres_inventory.py",
        "-k",
        "r1_processes",
        "-q",
        "-s",
        *session.posargs,
        env={"ORDERCORE_R1_PROCESSES": "8", "ORDERCORE_R1_OPS": "2500"},
    )
    session.run(
        "pytest",
        "plugins/ordercore-postgres/tests/test_postgres_inventory_crash.py",
        "-q",
        "-s",
        *session.posargs,
        env={"ORDERCORE_INVENTORY_PG_CRASH_TRIALS": "50"},
    )
    # Restarting the server disturbs every other test using it, so this runs alone, last.
    session.run(
        "pytest",
        "plugins/ordercore-postgres/tests/test_postgres_restart.py",
        "-q",
        *session.posargs,
        env={"ORDERCORE_TEST_PG_RESTART": "1"},
    )


@nox.session(python=PYTHON)
def package(session: nox.Session) -> None:
    """Build the wheels of core and plugins, install them in a clean venv, and use them."""
    session.install("build>=1.2")
    dist = Path(tempfile.mkdtemp(prefix="ordercore-dist-"))
    for project in (ROOT, *PLUGINS):
        session.run("python", "-m", "build", "--wheel", "--outdir", str(dist), str(project))
    wheels = sorted(str(wheel) for wheel in dist.glob("*.whl"))
    session.install(*wheels)
    with session.chdir(dist):  # away from src/, so only the installed wheels can be imported
        session.run("ordercore", "version")
        session.run(
            "python",
            "-c",
            "import ordercore, ordercore_template; "
            "print(ordercore.open_store('template://'), ordercore.open_store('sqlite://'))",
        )


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Run ``ordercore demo`` in a scratch directory."""
    session.install("-e", ".")
    workdir = tempfile.mkdtemp(prefix="ordercore-demo-")
    with session.chdir(workdir):
        session.run("ordercore", "demo", *session.posargs)
