"""Lifecycle specs load from YAML, JSON and dicts; every mistake names its file, line, field."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ordercore.errors import LifecycleSpecError
from ordercore.lifecycle import (
    BUILTIN_EFFECTS,
    BUILTIN_GUARDS,
    DEFAULT_LIFECYCLE,
    LifecycleSpec,
    default_spec,
    format_duration,
    load_lifecycle,
    parse_duration,
)
from ordercore.schema import OrderStatus

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
  - trigger: wait
    sources: paid
    dest: paid.waiting
  - trigger: cancel
    sources: [pending_payment, paid]
    dest: cancelled
"""


def tiny(tmp_path: Path, text: str = TINY, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def spec_error(source: Any, **options: Any) -> LifecycleSpecError:
    with pytest.raises(LifecycleSpecError) as caught:
        load_lifecycle(source, **options)
    return caught.value


class TestLoading:
    def test_a_yaml_file_loads_with_its_states_nodes_and_transitions(self, tmp_path: Path) -> None:
        """A YAML file becomes a spec that remembers the file and each field's line."""
        path = tiny(tmp_path)
        spec = load_lifecycle(path)
        assert (spec.name, spec.version, spec.source) == ("tiny", 2, str(path))
        assert spec.state_refs() == ["pending_payment", "paid", "paid.waiting", "cancelled"]
        assert spec.triggers == ("cancel", "pay", "wait")
        assert spec.transitions[0].sources == ("pending_payment",)
        assert spec.line_of("transitions.1.dest") == 21
        sla = spec.sla_of("paid", "waiting")
        assert sla is not None and sla.limit == timedelta(hours=2) and sla.owner == "lead"
        assert sla.escalation[0].after == timedelta(hours=1)
        assert spec.sla_of("paid") is None

    def test_yaml_text_json_text_json_file_and_dict_give_the_same_spec(
        self, tmp_path: Path
    ) -> None:
        """Every way of giving a spec yields an equal spec."""
        from_text = load_lifecycle(TINY)
        data = from_text.to_dict()
        assert data["states"]["paid"]["nodes"]["waiting"]["sla"]["limit"] == "2h"
        json_path = tiny(tmp_path, json.dumps(data, indent=2), "tiny.json")
        assert load_lifecycle(json_path) == from_text
        assert load_lifecycle(json.dumps(data)) == from_text
        assert load_lifecycle(data) == from_text
        assert from_text.source == "<text>"
        assert load_lifecycle(data).source == "<dict>"

    def test_a_json_file_error_names_its_line(self, tmp_path: Path) -> None:
        """Field lines are known in JSON files too."""
        data = load_lifecycle(TINY).to_dict()
        data["transitions"][1]["dest"] = "paid.nowhere"
        path = tiny(tmp_path, json.dumps(data, indent=2), "tiny.json")
        error = spec_error(path)
        text = path.read_text().splitlines()
        assert error.field == "transitions.1.dest"
        assert error.line is not None and '"dest": "paid.nowhere"' in text[error.line - 1]

    def test_the_default_spec_loads_from_the_package_and_is_cached(self) -> None:
        """The packaged default names only registered guards and effects and is loaded once."""
        spec = default_spec()
        assert spec is default_spec()
        assert spec.source == str(DEFAULT_LIFECYCLE)
        assert set(spec.states) == set(OrderStatus)
        spec.check_names(guards=BUILTIN_GUARDS, effects=BUILTIN_EFFECTS)

    def test_the_default_spec_covers_the_domain_nodes(self) -> None:
        """The default has the nodes of D7-D12 under the right states."""
        refs = set(default_spec().state_refs())
        for ref in (
            "pending_payment.deposit_due",
            "pending_payment.balance_due",
            "paid.balance_paid",
            "paid.awaiting_pool",
            "under_review.risk_review",
            "under_review.cs_review",
            "under_review.finance_review",
            "under_review.address_check",
            "allocated.custom_made",
            "allocated.engraving",
            "packed.awaiting_outbound",
            "shipped.partially_shipped",
            "in_transit.logistics_stuck",
            "in_transit.qc_failed",
            "in_transit.rejected_delivery",
            "cancelled.payment_timeout",
            "after_sale.refund_only",
            "after_sale.return_refund",
            "after_sale.exchange",
        ):
            assert ref in refs
        sla = default_spec().sla_of("packed", "awaiting_outbound")
        assert sla is not None and sla.limit == timedelta(hours=4)
        assert [(s.after, s.level) for s in sla.escalation] == [(timedelta(hours=2), 2)]
        assert default_spec().sla_of("pending_payment", "deposit_due").deadline == "pay_by"  # type: ignore[union-attr]


class TestErrors:
    def test_a_yaml_syntax_error_names_the_file_and_line(self, tmp_path: Path) -> None:
        """Broken YAML is a LifecycleSpecError with the line of the problem."""
        path = tiny(tmp_path, TINY.replace("  cancelled: {}\n", "  cancelled: {\n"))
        error = spec_error(path)
        assert (error.source, error.line, error.field) == (str(path), 16, None)
        assert "YAML syntax error" in error.message and str(path) in error.message

    def test_a_json_syntax_error_names_the_line(self, tmp_path: Path) -> None:
        """Broken JSON is a LifecycleSpecError with the line json reports."""
        path = tiny(tmp_path, '{\n  "name": "x",\n  "initial": [\n}\n', "broken.json")
        error = spec_error(path)
        assert (error.source, error.line) == (str(path), 4)
        assert "JSON syntax error" in error.message

    def test_an_unknown_state_names_its_key(self, tmp_path: Path) -> None:
        """A state that is not a canonical status is refused at its line."""
        path = tiny(tmp_path, TINY.replace("  cancelled: {}\n", "  canceled: {}\n"))
        error = spec_error(path)
        assert (error.source, error.line, error.field) == (str(path), 14, "states.canceled")
        assert "unknown state 'canceled'" in error.message and "cancelled" in error.message

    def test_a_transition_to_a_missing_state_names_the_dest(self, tmp_path: Path) -> None:
        """A dest naming an undeclared state is refused at the dest's line."""
        path = tiny(tmp_path, TINY.replace("    dest: cancelled\n", "    dest: completed\n"))
        error = spec_error(path)
        assert (error.line, error.field) == (24, "transitions.2.dest")
        assert "leads to a missing state" in error.message and "'completed'" in error.message

    def test_a_transition_to_a_missing_node_names_the_dest(self, tmp_path: Path) -> None:
        """A dest naming a node its state does not have is refused."""
        path = tiny(tmp_path, TINY.replace("dest: paid.waiting", "dest: paid.wating"))
        error = spec_error(path)
        assert (error.line, error.field) == (21, "transitions.1.dest")
        assert "node 'wating'" in error.message and "waiting" in error.message

    def test_a_missing_source_state_names_the_source(self, tmp_path: Path) -> None:
        """A source naming no canonical status is refused at its list item."""
        path = tiny(tmp_path, TINY.replace("[pending_payment, paid]", "[pending_payment, payed]"))
        error = spec_error(path)
        assert (error.line, error.field) == (23, "transitions.2.sources.1")
        assert "starts from a missing state" in error.message

    def test_a_duplicate_trigger_from_one_source_names_the_second(self, tmp_path: Path) -> None:
        """The same trigger twice from the same source is refused where it repeats."""
        text = (
            TINY + "  - trigger: pay\n    sources: [paid, pending_payment]\n    dest: cancelled\n"
        )
        error = spec_error(tiny(tmp_path, text))
        assert (error.line, error.field) == (26, "transitions.3.sources.1")
        assert "duplicate trigger 'pay' from 'pending_payment'" in error.message
        assert "transitions.0" in error.message

    def test_an_unreachable_state_names_the_state(self, tmp_path: Path) -> None:
        """A declared state no transition leads to is refused."""
        path = tiny(tmp_path, TINY.replace("  cancelled: {}\n", "  cancelled: {}\n  shipped: {}\n"))
        error = spec_error(path)
        assert (error.line, error.field) == (15, "states.shipped")
        assert "state 'shipped' is unreachable" in error.message

    def test_an_unreachable_node_names_the_node(self, tmp_path: Path) -> None:
        """A node no transition leads to is refused, even when its state is reachable."""
        text = TINY.replace("  cancelled: {}\n", "  cancelled:\n    nodes:\n      lost: {}\n")
        error = spec_error(tiny(tmp_path, text))
        assert (error.line, error.field) == (16, "states.cancelled.nodes.lost")
        assert "node 'cancelled.lost' is unreachable" in error.message

    def test_an_initial_node_needs_no_incoming_transition(self, tmp_path: Path) -> None:
        """States and nodes listed as initial are reachable by definition."""
        text = TINY.replace("  cancelled: {}\n", "  cancelled:\n    nodes:\n      lost: {}\n")
        text = text.replace(
            "initial: [pending_payment]", "initial: [pending_payment, cancelled.lost]"
        )
        assert "cancelled.lost" in load_lifecycle(text).state_refs()

    def test_an_unregistered_guard_names_the_guard(self, tmp_path: Path) -> None:
        """With registries given, a guard nobody registered is refused at its line."""
        text = TINY.replace(
            "    dest: paid.waiting\n", "    dest: paid.waiting\n    guards: [a, b]\n"
        )
        path = tiny(tmp_path, text)
        load_lifecycle(path)  # no registry: not checked
        error = spec_error(path, guards={"a"})
        assert (error.line, error.field) == (22, "transitions.1.guards.1")
        assert "guard 'b', which is not registered (registered: a)" in error.message

    def test_an_unregistered_effect_names_the_effect(self, tmp_path: Path) -> None:
        """The same holds for effects."""
        text = TINY.replace("    dest: paid\n", "    dest: paid\n    effects: notify\n")
        error = spec_error(tiny(tmp_path, text), effects=())
        assert (error.line, error.field) == (19, "transitions.0.effects.0")

    def test_a_bad_duration_names_the_field_and_what_is_expected(self, tmp_path: Path) -> None:
        """A duration that is not like 30m/2h/3d is refused with the expected form."""
        error = spec_error(tiny(tmp_path, TINY.replace("limit: 2h", "limit: 2 hours")))
        assert (error.line, error.field) == (10, "states.paid.nodes.waiting.sla.limit")
        assert 'expected a duration such as "30m", "2h", "3d"' in error.message

    def test_a_missing_field_names_the_entry(self, tmp_path: Path) -> None:
        """A transition without a dest is refused at the transition's line."""
        error = spec_error(tiny(tmp_path, TINY.replace("    dest: paid\n", "")))
        assert (error.line, error.field) == (16, "transitions.0.dest")
        assert "is required" in error.message

    def test_an_unknown_field_is_refused(self, tmp_path: Path) -> None:
        """A misspelt key is refused at its own line."""
        error = spec_error(
            tiny(tmp_path, TINY.replace("    sources: paid\n", "    source: paid\n"))
        )
        assert error.field == "transitions.1.source"
        assert error.line == 20
        assert "is not a field of a transition (and 1 more problem)" in error.message

    def test_a_key_given_twice_is_refused(self, tmp_path: Path) -> None:
        """YAML would keep the last of two equal keys; a spec refuses them."""
        error = spec_error(tiny(tmp_path, TINY.replace("  paid:\n", "  cancelled: {}\n  paid:\n")))
        assert (error.line, error.field) == (15, "states.cancelled")
        assert "given twice" in error.message

    def test_a_bad_state_reference_says_what_is_expected(self) -> None:
        """A reference that is not status or status.node says so."""
        error = spec_error(TINY.replace("dest: paid.waiting", "dest: Paid/Waiting"))
        assert error.field == "transitions.1.dest" and error.source == "<text>"
        assert "expected a state ('packed') or a state and node" in error.message

    def test_an_sla_needs_one_limit(self) -> None:
        """An SLA with both a limit and a deadline is refused."""
        error = spec_error(TINY.replace("limit: 2h", "limit: 2h\n          deadline: pay_by"))
        assert error.field == "states.paid.nodes.waiting.sla"
        assert "exactly one of 'limit'" in error.message

    def test_a_missing_file_names_it(self, tmp_path: Path) -> None:
        """A path that does not exist is a LifecycleSpecError naming it."""
        missing = tmp_path / "nope.yaml"
        error = spec_error(missing)
        assert error.source == str(missing) and "does not exist" in error.message

    def test_a_document_that_is_not_a_mapping_is_refused(self) -> None:
        """A YAML list is not a spec."""
        error = spec_error("- a\n- b\n")
        assert error.source == "<text>" and "expected a mapping" in error.message

    def test_building_a_spec_directly_raises_the_same_error(self) -> None:
        """Constructing LifecycleSpec by hand runs the same checks."""
        data = load_lifecycle(TINY).to_dict()
        data["transitions"][0]["dest"] = "shipped"
        with pytest.raises(LifecycleSpecError) as caught:
            LifecycleSpec(**data)
        assert (caught.value.source, caught.value.field) == ("<dict>", "transitions.0.dest")


class TestExtend:
    def test_extend_adds_nodes_transitions_guards_and_slas(self) -> None:
        """An extension adds a node, a transition, a guard on a trigger and an SLA."""
        base = load_lifecycle(TINY)
        extended = base.extend(
            {
                "version": 3,
                "states": {
                    "paid": {
                        "sla": {"limit": "30m", "owner": "desk"},
                        "nodes": {"fraud_check": {"description": "Checked for fraud"}},
                    }
                },
                "transitions": [
                    {"trigger": "check_fraud", "sources": "paid", "dest": "paid.fraud_check"}
                ],
                "guards": {"cancel": ["reason_given"]},
            }
        )
        assert extended.version == 3
        assert "paid.fraud_check" in extended.state_refs()
        assert extended.sla_of("paid") is not None
        assert extended.sla_of("paid").limit == timedelta(minutes=30)  # type: ignore[union-attr]
        assert extended.sla_of("paid", "waiting").owner == "lead"  # type: ignore[union-attr]
        cancel = next(t for t in extended.transitions if t.trigger == "cancel")
        assert cancel.guards == ("reason_given",)
        assert base.sla_of("paid") is None  # the base spec is unchanged

    def test_an_extension_transition_takes_over_its_trigger_and_source(self) -> None:
        """Redefining (trigger, source) replaces that pair instead of duplicating it."""
        extended = load_lifecycle(TINY).extend(
            {"transitions": [{"trigger": "cancel", "sources": "paid", "dest": "paid.waiting"}]}
        )
        cancels = [t for t in extended.transitions if t.trigger == "cancel"]
        assert [(t.sources, t.dest) for t in cancels] == [
            (("pending_payment",), "cancelled"),
            (("paid",), "paid.waiting"),
        ]

    def test_an_extension_from_a_file_names_its_line(self, tmp_path: Path) -> None:
        """A bad extension file is refused with its own file and line."""
        path = tiny(tmp_path, "guards:\n  cancel: [ok]\n  refund: [ok]\n", "more.yaml")
        with pytest.raises(LifecycleSpecError) as caught:
            load_lifecycle(TINY).extend(path)
        error = caught.value
        assert (error.source, error.line, error.field) == (str(path), 3, "guards.refund")
        assert "no transition has it" in error.message

    def test_an_extension_that_breaks_the_spec_is_refused(self) -> None:
        """The extended spec is checked as a whole: a new unreachable node is an error."""
        with pytest.raises(LifecycleSpecError) as caught:
            load_lifecycle(TINY).extend({"states": {"paid": {"nodes": {"orphan": {}}}}})
        assert caught.value.field == "states.paid.nodes.orphan"
        assert caught.value.source == "<text> extended by <dict>"


class TestDurations:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("30m", timedelta(minutes=30)),
            ("2h", timedelta(hours=2)),
            ("3d", timedelta(days=3)),
            ("1h30m", timedelta(hours=1, minutes=30)),
            ("45s", timedelta(seconds=45)),
        ],
    )
    def test_durations_read_and_write_back(self, text: str, expected: timedelta) -> None:
        """Each spelling reads as its timedelta and is written back the same way."""
        assert parse_duration(text) == expected
        assert format_duration(expected) == text

    @pytest.mark.parametrize("text", ["", "0m", "2x", "h", "400d", "30"])
    def test_bad_durations_are_refused(self, text: str) -> None:
        """Empty, zero, unknown units, bare numbers and over a year are refused."""
        with pytest.raises(ValueError, match="expected a duration"):
            parse_duration(text)


def test_an_extension_naming_a_missing_state_is_blamed_on_its_own_line(tmp_path: Path) -> None:
    """The error names the extension file, the line and the field of the bad reference."""
    from ordercore.lifecycle import default_spec

    extension = tmp_path / "ext.yaml"
    extension.write_text(
        "transitions:\n  - trigger: wrap\n    sources: packed\n    dest: packed.wrapping\n",
        encoding="utf-8",
    )
    with pytest.raises(LifecycleSpecError) as caught:
        default_spec().extend(extension)
    error = caught.value
    assert (error.source, error.line, error.field) == (str(extension), 4, "transitions.0.dest")
    assert "packed.wrapping" in error.message
