"""The README and the guide tell a newcomer how to set up, which names to use, and what to avoid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
GUIDE = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
SETUP = "```bash\npip install -e . && ordercore demo\npip install nox && nox -s tests\n```\n"


def _flat(text: str) -> str:
    return " ".join(text.split())


def _after_setup() -> str:
    """The README's prose between the set-up block and the first section heading."""
    rest = README.split(SETUP, 1)[1]
    return _flat(rest.split("\n## ", 1)[0])


class TestReadmeOpening:
    def test_it_starts_with_exactly_the_two_setup_commands(self) -> None:
        """After the title comes one code block holding the two commands CI runs, nothing else."""
        assert README.startswith("# ordercore\n\n" + SETUP)

    @pytest.mark.parametrize(
        "needed",
        [
            "Python >= 3.11",
            "fresh virtual environment",
            "`python3 -m venv .venv && . .venv/bin/activate`",
            "downloads its tools",
            "takes a few minutes",
            "`ORDERCORE_TEST_POSTGRES_URL`",
        ],
    )
    def test_right_after_it_says_what_the_commands_need(self, needed: str) -> None:
        """The paragraph after the commands names Python, the venv, the wait and PostgreSQL."""
        assert needed in _after_setup()


class TestNames:
    def test_the_distribution_and_import_names_are_stated(self) -> None:
        """ordercore-oms is installed from a clone and imported as ordercore."""
        flat = _flat(README)
        assert (
            "The distribution is called **`ordercore-oms`**; the import name is `ordercore`."
            in (flat)
        )
        assert "not yet published on PyPI, so install it from a clone: `pip install -e .`" in flat

    def test_the_unrelated_distribution_is_warned_about(self) -> None:
        """The README says not to install PyPI's ordercore beside this one, and how to remove it."""
        flat = _flat(README)
        assert "The distribution named `ordercore` on PyPI is an unrelated project" in flat
        assert "never install it beside this one" in flat
        assert "`pip uninstall ordercore`" in flat

    def test_a_plugin_is_installed_from_the_clone(self) -> None:
        """The PostgreSQL plugin is installed by path, as it is not published yet."""
        assert "`pip install -e plugins/ordercore-postgres`" in README
        assert "pip install -e plugins/ordercore-postgres " in GUIDE

    @pytest.mark.parametrize("name", ["README.md", "docs/index.md"])
    def test_no_install_command_points_at_pypi(self, name: str) -> None:
        """Nothing tells a user to pip install a distribution that is not ours or not published."""
        text = (ROOT / name).read_text(encoding="utf-8")
        for command in re.findall(r"pip install [^`\n]*", text):
            assert command.split()[2] in {"-e", "nox"}, command


class TestGuide:
    def test_the_guide_installs_from_a_clone(self) -> None:
        """docs/index.md installs with pip install -e and names ordercore-oms."""
        flat = _flat(GUIDE)
        assert "Its distribution is `ordercore-oms` (the import name is `ordercore`)" in flat
        assert "pip install -e . # core" in flat

    def test_the_guide_lists_every_exit_status(self) -> None:
        """The command-line section has a row per exit status of the command."""
        from ordercore.cli import _EXIT_STATUSES

        rows = re.findall(r"^\| (\d+) \|", GUIDE, re.M)
        assert [int(code) for code in rows] == list(_EXIT_STATUSES)
