"""``ordercore lifecycle show|validate|diagram``: tables, JSON, Mermaid, and where errors are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ordercore.cli import _EXIT_ERROR, _EXIT_USAGE, main
from ordercore.lifecycle import default_spec, load_lifecycle, spec_to_mermaid

DOCS = (
    "(see https://github.com/ordercore/ordercore/blob/main/docs/errors.md#lifecycle-spec-invalid)"
)

TINY = """\
name: tiny
version: 2
initial: [pending_payment]
states:
  pending_payment: {}
  paid:
    nodes:
      waiting:
        sla:
          limit: 2h
          owner: lead
          escalation:
            - {after: 1h, notify: boss, level: 2}
  cancelled: {}
transitions:
  - trigger: pay
    sources: pending_payment
    dest: paid
    guards: reason_given
  - trigger: wait
    sources: paid
    dest: paid.waiting
  - trigger: cancel
    sources: [pending_payment, paid]
    dest: cancelled
    effects: stamp_cancelled_at
"""

EXTENSION = """\
states:
  paid:
    nodes:
      gift_wrapping:
        description: Being wrapped.
        sla: {limit: 1h, owner: packer}
transitions:
  - trigger: wrap_gift
    sources: paid
    dest: paid.gift_wrapping
guards:
  cancel: [person_actor]
"""


def write(tmp_path: Path, text: str, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the command in this process; return its status, standard output and error."""
    status = main(["lifecycle", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def failed(capsys: pytest.CaptureFixture[str], path: Path) -> str:
    """Validate ``path``, check it failed as one error line, and return the message."""
    status, out, err = run(capsys, "validate", str(path))
    assert status == _EXIT_ERROR
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(("error: lifecycle spec ", "error: lifecycle spec file "))
    assert str(path) in err
    assert err.rstrip().endswith(f"[lifecycle-spec-invalid] {DOCS}")
    return err.removeprefix("error: ").rstrip()


class TestValidate:
    def test_a_valid_file_is_one_summary_line_and_status_0(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The summary names the file and counts states, nodes, transitions, routes and SLAs."""
        path = write(tmp_path, TINY)
        assert run(capsys, "validate", str(path)) == (
            0,
            f"{path}: valid lifecycle 'tiny' v2: 3 states, 1 node, 3 transitions "
            "(3 triggers, 6 routes), 1 SLA\n",
            "",
        )

    def test_the_default_lifecycle_file_is_valid(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The packaged default.yaml passes, with its counts read off the spec."""
        spec = default_spec()
        status, out, _ = run(capsys, "validate", spec.source)
        assert status == 0
        assert out.startswith(f"{spec.source}: valid lifecycle 'default' v{spec.version}: ")
        assert f"{len(spec.states)} states, " in out
        assert f"{len(spec.transitions)} transitions ({len(spec.triggers)} triggers" in out

    def test_a_yaml_syntax_error_names_its_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An unclosed flow sequence is reported at the line where the parser gave up."""
        path = write(
            tmp_path, TINY.replace("    dest: paid.waiting\n", "    dest: [paid.waiting\n")
        )
        message = failed(capsys, path)
        assert message.startswith(f"lifecycle spec {path}, line 23: YAML syntax error: ")
        assert "started at line 22" in message

    def test_an_unreachable_state_names_the_state_and_its_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A state no transition leads to is reported at its key, with the initial states."""
        path = write(
            tmp_path, TINY.replace("  cancelled: {}\n", "  cancelled: {}\n  completed: {}\n")
        )
        assert failed(capsys, path).startswith(
            f"lifecycle spec {path}, line 15, states.completed: state 'completed' is "
            "unreachable: no transition leads to it from the initial states (pending_payment)"
        )

    def test_a_duplicate_trigger_names_both_transitions(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The same trigger from the same source twice points at the second and names the first."""
        path = write(tmp_path, TINY.replace("  - trigger: cancel\n", "  - trigger: wait\n"))
        assert failed(capsys, path).startswith(
            f"lifecycle spec {path}, line 24, transitions.2.sources.1: duplicate trigger "
            "'wait' from 'paid': already defined by transitions.1"
        )

    def test_a_transition_to_a_missing_state_names_the_dest(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A dest naming an undeclared node is reported at that dest, with the nodes there are."""
        path = write(tmp_path, TINY.replace("dest: paid.waiting", "dest: paid.sleeping"))
        assert failed(capsys, path).startswith(
            f"lifecycle spec {path}, line 22, transitions.1.dest: transition 'wait' leads to "
            "a missing state: 'paid.sleeping' names node 'sleeping', which state 'paid' does "
            "not have (its nodes: waiting)"
        )

    def test_a_transition_to_an_undeclared_state_names_the_dest(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A dest naming a canonical status the spec does not declare is an error too."""
        path = write(tmp_path, TINY.replace("    dest: cancelled\n", "    dest: completed\n"))
        message = failed(capsys, path)
        assert message.startswith(f"lifecycle spec {path}, line 25, transitions.2.dest: ")
        assert "'completed', which this lifecycle does not declare" in message

    def test_an_unknown_guard_names_the_guard_and_its_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A guard that is neither built in nor given with --guard is refused at its line."""
        path = write(tmp_path, TINY.replace("guards: reason_given", "guards: has_coupon"))
        message = failed(capsys, path)
        assert message.startswith(
            f"lifecycle spec {path}, line 19, transitions.0.guards.0: transition 'pay' names "
            "guard 'has_coupon', which is not registered (registered: b2b_pooled, "
        )

    def test_guards_and_effects_of_the_application_are_declared_with_options(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--guard and --effect add names an application registers in code."""
        text = TINY.replace("guards: reason_given", "guards: has_coupon").replace(
            "effects: stamp_cancelled_at", "effects: [stamp_cancelled_at, release_stock]"
        )
        path = write(tmp_path, text)
        status, _, err = run(capsys, "validate", str(path), "--guard", "has_coupon")
        assert status == _EXIT_ERROR
        assert "transitions.2.effects.1: transition 'cancel' names effect 'release_stock'" in err
        status, out, _ = run(
            capsys, "validate", str(path), "--guard", "has_coupon", "--effect", "release_stock"
        )
        assert status == 0
        assert out.startswith(f"{path}: valid lifecycle 'tiny'")

    def test_a_missing_file_is_one_error_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A file that is not there is an ordercore error (status 1), not a traceback."""
        path = tmp_path / "nothing.yaml"
        assert failed(capsys, path).startswith(f"lifecycle spec file {path} does not exist")

    def test_validate_needs_a_file(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Validate without FILE is a usage mistake (status 2), and says FILE is missing."""
        with pytest.raises(SystemExit) as caught:
            main(["lifecycle", "validate"])
        assert caught.value.code == _EXIT_USAGE
        assert "FILE" in capsys.readouterr().err

    def test_a_real_process_prints_one_line_and_exits_1(self, tmp_path: Path) -> None:
        """The installed command reports a bad spec as one line on stderr, without a traceback."""
        path = write(tmp_path, TINY.replace("dest: paid.waiting", "dest: paid.sleeping"))
        done = subprocess.run(
            [sys.executable, "-m", "ordercore.cli", "lifecycle", "validate", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == _EXIT_ERROR
        assert done.stdout == ""
        assert done.stderr.startswith(f"error: lifecycle spec {path}, line 22, transitions.1.dest")
        assert done.stderr.count("\n") == 1
        assert "Traceback" not in done.stderr
        valid = subprocess.run(
            [
                sys.executable,
                "-m",
                "ordercore.cli",
                "lifecycle",
                "validate",
                str(write(tmp_path, TINY)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert (valid.returncode, valid.stderr) == (0, "")
        assert "valid lifecycle 'tiny' v2" in valid.stdout


class TestExtend:
    def test_an_extension_adds_nodes_transitions_and_guards(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--extend applies a LifecycleExtension: a node with an SLA, a transition, a guard."""
        path = write(tmp_path, TINY)
        extension = write(tmp_path, EXTENSION, "gift.yaml")
        status, out, _ = run(capsys, "validate", str(path), "--extend", str(extension))
        assert status == 0
        assert out.startswith(f"{path} extended by {extension}: valid lifecycle 'tiny' v2: ")
        assert "2 nodes, 4 transitions" in out
        status, out, _ = run(capsys, "show", str(path), "--extend", str(extension), "--json")
        shown = load_lifecycle(out)
        assert "paid.gift_wrapping" in shown.state_refs()
        cancel = next(t for t in shown.transitions if t.trigger == "cancel")
        assert cancel.guards == ("person_actor",)

    def test_extensions_apply_in_order(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A second --extend sees the first one's node."""
        path = write(tmp_path, TINY)
        first = write(tmp_path, EXTENSION, "gift.yaml")
        second = write(
            tmp_path,
            "transitions:\n  - {trigger: unwrap, sources: paid.gift_wrapping, dest: paid}\n",
            "unwrap.yaml",
        )
        status, out, _ = run(
            capsys, "show", str(path), "--extend", str(first), "--extend", str(second)
        )
        assert status == 0
        assert any(
            line.split()[:3] == ["unwrap", "paid.gift_wrapping", "paid"]
            for line in out.splitlines()
        )
        status, _, err = run(capsys, "show", str(path), "--extend", str(second))
        assert status == _EXIT_ERROR
        assert "unwrap.yaml, line 2, transitions.0.sources.0" in err
        assert "names 'paid.gift_wrapping', a state neither the spec nor the extension has" in err

    def test_a_bad_extension_file_names_its_own_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A mistake inside the extension is reported in the extension's file, at its line."""
        path = write(tmp_path, TINY)
        extension = write(tmp_path, EXTENSION.replace("limit: 1h", "limit: soon"), "gift.yaml")
        status, _, err = run(capsys, "validate", str(path), "--extend", str(extension))
        assert status == _EXIT_ERROR
        field = "states.paid.nodes.gift_wrapping.sla.limit"
        assert err.startswith(f"error: lifecycle spec {extension}, line 6, {field}: ")
        assert "a duration such as" in err

    def test_guards_added_to_a_missing_trigger_are_refused(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An extension adding guards to a trigger the spec does not have names that field."""
        path = write(tmp_path, TINY)
        extension = write(tmp_path, "guards:\n  refund: [person_actor]\n", "refund.yaml")
        status, _, err = run(capsys, "validate", str(path), "--extend", str(extension))
        assert status == _EXIT_ERROR
        assert err.startswith(f"error: lifecycle spec {extension}, line 2, guards.refund: ")
        assert "no transition has it" in err


class TestShow:
    def test_the_default_lifecycle_is_shown_without_a_file(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Every state, node, trigger and SLA of the default lifecycle is in the tables."""
        spec = default_spec()
        status, out, err = run(capsys, "show")
        assert (status, err) == (0, "")
        lines = out.splitlines()
        assert lines[0] == f"lifecycle default v{spec.version} ({spec.source})"
        assert f"initial: {', '.join(spec.initial)}" in lines
        first_words = {line.split()[0] for line in lines if line.startswith("  ") and line.split()}
        for status_value, state in spec.states.items():
            assert status_value.value in first_words
            for node in state.nodes:
                assert f".{node}" in first_words
        for trigger in spec.triggers:
            assert trigger in first_words
        sla = next(line.split() for line in lines if line.startswith("  packed.awaiting_outbound "))
        assert sla == [
            "packed.awaiting_outbound",
            "4h",
            "warehouse_lead",
            "+2h",
            "->",
            "warehouse_manager_phone",
            "(level",
            "2)",
        ]

    def test_a_transition_row_has_its_sources_guards_effects_and_alert(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A guarded transition spreads its sources and guards over lines under its trigger."""
        _, out, _ = run(capsys, "show")
        lines = out.splitlines()
        start = next(
            i
            for i, line in enumerate(lines)
            if line.split()[:2] == ["request_refund_only", "allocated"]
        )
        assert lines[start].split() == [
            "request_refund_only",
            "allocated",
            "after_sale.refund_only",
            "stock_locked",
            "-",
            "warehouse_lead",
        ]
        assert lines[start + 1].split() == ["picking", "parcel_not_picked_up"]
        assert lines[start + 2].split() == ["packed", "not_custom_made"]

    def test_a_file_is_shown_with_its_sla_and_escalation(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A file's own spec is shown: its name, its node's SLA and the escalation step."""
        path = write(tmp_path, TINY)
        status, out, _ = run(capsys, "show", str(path))
        assert status == 0
        lines = out.splitlines()
        assert lines[0] == f"lifecycle tiny v2 ({path})"
        assert "  paid.waiting  2h     lead   +1h -> boss (level 2)" in lines
        pay = next(line.split() for line in lines if line.startswith("  pay "))
        assert pay == ["pay", "pending_payment", "paid", "reason_given", "-", "-"]

    def test_json_is_the_whole_spec_and_loads_again(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--json prints every field; loading that JSON gives the same spec."""
        status, out, _ = run(capsys, "show", "--json")
        assert status == 0
        data = json.loads(out)
        assert data["name"] == "default"
        assert data["states"]["packed"]["nodes"]["awaiting_outbound"]["sla"]["limit"] == "4h"
        assert load_lifecycle(out) == default_spec()

    def test_show_of_an_invalid_file_is_the_same_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Show refuses a spec validate refuses, with the same message."""
        path = write(tmp_path, TINY.replace("dest: paid.waiting", "dest: paid.sleeping"))
        message = failed(capsys, path)
        status, out, err = run(capsys, "show", str(path))
        assert (status, out) == (_EXIT_ERROR, "")
        assert err == f"error: {message}\n"


class TestDiagram:
    def test_the_diagram_goes_to_standard_output(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The Mermaid text is exactly spec_to_mermaid's, for the default and for a file."""
        assert run(capsys, "diagram") == (0, spec_to_mermaid(default_spec()), "")
        path = write(tmp_path, TINY)
        status, out, _ = run(capsys, "diagram", str(path))
        assert status == 0
        assert out == spec_to_mermaid(load_lifecycle(path))
        assert "    pending_payment --> paid : pay [reason_given]" in out.splitlines()

    def test_output_writes_a_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--output writes the diagram (with an extension applied) and says so on stderr."""
        path = write(tmp_path, TINY)
        extension = write(tmp_path, EXTENSION, "gift.yaml")
        target = tmp_path / "tiny.mmd"
        status, out, err = run(
            capsys, "diagram", str(path), "--extend", str(extension), "--output", str(target)
        )
        assert (status, out) == (0, "")
        assert err == f"wrote the Mermaid diagram of lifecycle 'tiny' to {target}\n"
        text = target.read_text(encoding="utf-8")
        assert text == spec_to_mermaid(load_lifecycle(path).extend(extension))
        assert "    paid --> paid__gift_wrapping : wrap_gift" in text.splitlines()

    def test_an_unwritable_output_is_one_error_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A directory that does not exist is reported with the path, status 1."""
        target = tmp_path / "missing" / "d.mmd"
        status, out, err = run(capsys, "diagram", "--output", str(target))
        assert (status, out) == (_EXIT_ERROR, "")
        assert err.startswith(f"error: cannot write the diagram to {target}: No such file")


class TestHelp:
    def test_help_lists_the_actions_and_options(self, capsys: pytest.CaptureFixture[str]) -> None:
        """lifecycle --help names the three actions; each action's help names its options."""
        with pytest.raises(SystemExit) as caught:
            main(["lifecycle", "--help"])
        assert caught.value.code == 0
        text = capsys.readouterr().out
        for action in ("show", "validate", "diagram"):
            assert action in text
        for action, options in (
            ("show", ("--extend", "--json", "--guard", "--effect")),
            ("validate", ("--extend", "--guard", "--effect")),
            ("diagram", ("--extend", "--output")),
        ):
            with pytest.raises(SystemExit):
                main(["lifecycle", action, "--help"])
            helped = capsys.readouterr().out
            for option in options:
                assert option in helped
