"""Order lifecycles: specs as data, the engine on ``transitions``, and diagrams.

A lifecycle spec (YAML, JSON or a dict) lists the canonical states an order goes
through, the atomic nodes under them, the transitions between them with their
guards and effects, and SLA limits. :func:`default_lifecycle` is the one that
ships with ordercore (D7-D12); :class:`Lifecycle` runs any spec: one shared
``transitions`` machine per spec, whatever the number of orders.

Example:
    >>> from ordercore.lifecycle import default_lifecycle
    >>> from ordercore.testing import OrderFactory
    >>> order = OrderFactory(seed=3).order(status="pending_payment")
    >>> default_lifecycle().triggers(order)[:3]
    ['cancel_by_buyer', 'cancel_by_seller', 'close_unpaid']
"""

from __future__ import annotations

from ordercore.lifecycle._diagram import spec_to_mermaid
from ordercore.lifecycle._engine import (
    BLOCKED,
    BUILTIN_EFFECTS,
    BUILTIN_GUARDS,
    DEFAULT_LIFECYCLE,
    SLA_TIMER_PREFIX,
    TRANSITIONED,
    Effect,
    Guard,
    Lifecycle,
    Transition,
    TransitionContext,
    default_lifecycle,
    default_spec,
)
from ordercore.lifecycle._sla import BREACHED, Breach, SlaService
from ordercore.lifecycle._spec import (
    SLA,
    EscalationStep,
    LifecycleExtension,
    LifecycleSpec,
    NodeSpec,
    StateExtension,
    StateSpec,
    TransitionSpec,
    format_duration,
    load_lifecycle,
    parse_duration,
)

__all__ = [
    "BLOCKED",
    "BREACHED",
    "BUILTIN_EFFECTS",
    "BUILTIN_GUARDS",
    "Breach",
    "DEFAULT_LIFECYCLE",
    "Effect",
    "EscalationStep",
    "Guard",
    "Lifecycle",
    "LifecycleExtension",
    "LifecycleSpec",
    "NodeSpec",
    "SLA",
    "SLA_TIMER_PREFIX",
    "SlaService",
    "StateExtension",
    "StateSpec",
    "TRANSITIONED",
    "Transition",
    "TransitionContext",
    "TransitionSpec",
    "default_lifecycle",
    "default_spec",
    "format_duration",
    "load_lifecycle",
    "parse_duration",
    "spec_to_mermaid",
]
