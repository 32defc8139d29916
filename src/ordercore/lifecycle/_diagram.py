"""Lifecycle diagrams: a spec drawn as a Mermaid ``stateDiagram-v2``."""

from __future__ import annotations

from ordercore.lifecycle._spec import LifecycleSpec, split_ref

__all__ = ["spec_to_mermaid"]


def _node_id(ref: str) -> str:
    """A Mermaid id for a state reference (``packed.node`` -> ``packed__node``)."""
    status, node = split_ref(ref)
    return status if node is None else f"{status}__{node}"


def spec_to_mermaid(spec: LifecycleSpec) -> str:
    """Draw ``spec`` as a Mermaid ``stateDiagram-v2``.

    Each state is a state of the diagram; a state with nodes is a composite state
    holding them. Initial states and nodes start from ``[*]``; states no transition
    leaves end in ``[*]``. Every transition is an arrow per source, labelled with its
    trigger (guards in brackets). The text is the same for the same spec, so it can
    be kept in documentation and compared.

    Example:
        >>> from ordercore.lifecycle import default_spec
        >>> spec_to_mermaid(default_spec()).splitlines()[0]
        'stateDiagram-v2'
    """
    lines = ["stateDiagram-v2"]
    for status, state in spec.states.items():
        if not state.nodes:
            lines.append(f"    {status.value}")
            continue
        lines.append(f"    state {status.value} {{")
        for node in state.nodes:
            ref = f"{status.value}.{node}"
            lines.append(f'        state "{node}" as {_node_id(ref)}')
        lines.append("    }")
    for ref in spec.initial:
        lines.append(f"    [*] --> {_node_id(ref)}")
    for transition in spec.transitions:
        label = transition.trigger
        if transition.guards:
            label += f" [{', '.join(transition.guards)}]"
        for source in transition.sources:
            lines.append(f"    {_node_id(source)} --> {_node_id(transition.dest)} : {label}")
    leaving = {split_ref(source)[0] for t in spec.transitions for source in t.sources}
    for status in spec.states:
        if status.value not in leaving:
            lines.append(f"    {status.value} --> [*]")
    return "\n".join(lines) + "\n"
