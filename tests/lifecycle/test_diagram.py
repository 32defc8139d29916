"""Lifecycles draw as Mermaid state diagrams, and the lifecycle guide shows the real one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ordercore.lifecycle import (
    Lifecycle,
    default_lifecycle,
    default_spec,
    load_lifecycle,
    spec_to_mermaid,
)
from ordercore.schema import OrderStatus

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "lifecycle.md"

SMALL = {
    "name": "small",
    "initial": ["pending_payment"],
    "states": {
        "pending_payment": {},
        "packed": {"nodes": {"awaiting_outbound": {}}},
        "shipped": {},
    },
    "transitions": [
        {"trigger": "pack", "sources": "pending_payment", "dest": "packed.awaiting_outbound"},
        {"trigger": "ship", "sources": ["packed"], "dest": "shipped", "guards": ["ready"]},
    ],
}


class TestMermaid:
    def test_a_small_spec_draws_exactly(self) -> None:
        """States, nested nodes, initial and final markers and labelled arrows, in spec order."""
        assert spec_to_mermaid(load_lifecycle(SMALL)) == (
            "stateDiagram-v2\n"
            "    pending_payment\n"
            "    state packed {\n"
            '        state "awaiting_outbound" as packed__awaiting_outbound\n'
            "    }\n"
            "    shipped\n"
            "    [*] --> pending_payment\n"
            "    pending_payment --> packed__awaiting_outbound : pack\n"
            "    packed --> shipped : ship [ready]\n"
            "    shipped --> [*]\n"
        )

    def test_the_lifecycle_draws_its_spec(self) -> None:
        """lifecycle.to_mermaid() is spec_to_mermaid() of its spec."""
        lifecycle = Lifecycle(load_lifecycle(SMALL), guards={"ready": lambda order, ctx: True})
        assert lifecycle.to_mermaid() == spec_to_mermaid(lifecycle.spec)

    def test_the_default_diagram_has_every_state_node_and_transition(self) -> None:
        """Each state, each node and each (source, trigger) of the default spec is drawn."""
        spec = default_spec()
        text = default_lifecycle().to_mermaid()
        for status in OrderStatus:
            assert re.search(rf"^    (state )?{status.value}( {{)?$", text, re.M)
        for ref in spec.state_refs():
            if "." in ref:
                assert f"as {ref.replace('.', '__')}\n" in text
        arrows = [line for line in text.splitlines() if " : " in line]
        assert len(arrows) == sum(len(t.sources) for t in spec.transitions)
        guards = "[no_recall_pending, not_shipped_twice, no_line_held]"
        assert f"    packed --> shipped : ship {guards}\n" in text
        assert "    completed --> [*]\n" not in text  # after-sale can follow completion
        assert "    [*] --> pending_payment__deposit_due\n" in text


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)


class TestGuide:
    def test_the_guide_shows_the_default_lifecycle_diagram(self) -> None:
        """The guide's Mermaid block is exactly what the code draws (regenerate it if not)."""
        (diagram,) = _blocks("mermaid")
        assert diagram == default_lifecycle().to_mermaid()

    def test_the_guide_yaml_example_is_a_valid_spec(self) -> None:
        """The YAML spec in the guide loads."""
        (text,) = _blocks("yaml")
        spec = load_lifecycle(text)
        assert spec.name == "shop"
        Lifecycle(spec)  # every guard and effect it names is built in

    def test_the_guide_python_examples_run(self) -> None:
        """Every Python block of the guide runs and builds what it says."""
        blocks = _blocks("python")
        assert len(blocks) == 3
        names: list[dict[str, Any]] = []
        for block in blocks:
            namespace: dict[str, Any] = {}
            exec(compile(block, str(GUIDE), "exec"), namespace)
            names.append(namespace)
        first, extended, guarded = names
        assert first["lifecycle"].triggers(first["order"])[:4] == [
            "allocate",
            "cancel_by_buyer",
            "cancel_by_seller",
            "hold_for_address_check",
        ]
        assert first["done"].order.status is OrderStatus.ALLOCATED
        assert "packed.gift_wrapping" in extended["shop"].spec.state_refs()
        assert "credit_ok" in guarded["shop"].guards
