"""Order lifecycles: specs as data, the engine on ``transitions``, SLAs, channels, diagrams.

A lifecycle spec (YAML, JSON or a dict) lists the canonical states an order goes
through, the atomic nodes under them, the transitions between them with their
guards and effects, and SLA limits. :func:`default_lifecycle` is the one that
ships with ordercore (D7-D12); :class:`Lifecycle` runs any spec: one shared
``transitions`` machine per spec, whatever the number of orders.

Around the engine: typed holds and audited forced approvals (:func:`hold`,
:func:`release`, :func:`force_approve`); interception of orders the warehouse
already has (:func:`intercept`, :func:`accept_recall`, :func:`refuse_recall`);
channel status maps (:func:`map_channel_status`) and :func:`follow_channel`,
which drives an order through the lifecycle to what its channel reports; and
:class:`SlaService`, which runs the SLA timers transitions arm in the store.

Examples:
    >>> from ordercore.lifecycle import default_lifecycle
    >>> from ordercore.testing import OrderFactory
    >>> order = OrderFactory(seed=3).order(status="pending_payment")
    >>> default_lifecycle().triggers(order)[:3]
    ['cancel_by_buyer', 'cancel_by_seller', 'close_unpaid']
"""

from __future__ import annotations

from ordercore.lifecycle._channel_maps import (
    DEFAULT_CHANNEL_MAPS,
    MAIN_LINE,
    ChannelStatusMap,
    LineAfterSale,
    LineAfterSaleState,
    OrderStatusMapping,
    SkipReason,
    StatusMapping,
    StatusStep,
    channel_maps,
    is_forward,
    load_channel_maps,
    map_channel_status,
    map_order_status,
    next_status,
    replay_statuses,
)
from ordercore.lifecycle._diagram import (
    spec_to_mermaid,
)
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
from ordercore.lifecycle._follow import (
    DO_NOT_SHIP,
    HOLD_QUANTITY,
    LINE_AFTER_SALE,
    LINES_HELD,
    UNFOLLOWED,
    ChannelFollow,
    follow,
    follow_channel,
)
from ordercore.lifecycle._holds import (
    Hold,
    HoldReason,
    current_hold,
    force_approve,
    hold,
    holds_of,
    release,
)
from ordercore.lifecycle._intercept import (
    AFTER_SALE_FOLLOW_UP,
    INTERCEPTED,
    INTERCEPTION_EXTENSION,
    INTERCEPTION_GUARDS,
    RECALL_NODE,
    RECALL_REQUESTED,
    InterceptCause,
    Interception,
    InterceptionStats,
    InterceptOutcome,
    accept_recall,
    intercept,
    interception_latencies,
    interception_lifecycle,
    interception_spec,
    interception_stats,
    refuse_recall,
)
from ordercore.lifecycle._sla import (
    BREACHED,
    Breach,
    SlaService,
)
from ordercore.lifecycle._spec import (
    SLA,
    EscalationStep,
    LifecycleExtension,
    LifecycleSpec,
    NodeSpec,
    StateExtension,
    StateSpec,
    TransitionSpec,
    expand_transitions,
    format_duration,
    load_lifecycle,
    parse_duration,
    split_ref,
)

__all__ = [
    "AFTER_SALE_FOLLOW_UP",
    "BLOCKED",
    "BREACHED",
    "BUILTIN_EFFECTS",
    "BUILTIN_GUARDS",
    "Breach",
    "ChannelFollow",
    "ChannelStatusMap",
    "DEFAULT_CHANNEL_MAPS",
    "DEFAULT_LIFECYCLE",
    "DO_NOT_SHIP",
    "Effect",
    "EscalationStep",
    "Guard",
    "HOLD_QUANTITY",
    "Hold",
    "HoldReason",
    "INTERCEPTED",
    "INTERCEPTION_EXTENSION",
    "INTERCEPTION_GUARDS",
    "InterceptCause",
    "InterceptOutcome",
    "Interception",
    "InterceptionStats",
    "LINES_HELD",
    "LINE_AFTER_SALE",
    "Lifecycle",
    "LifecycleExtension",
    "LifecycleSpec",
    "LineAfterSale",
    "LineAfterSaleState",
    "MAIN_LINE",
    "NodeSpec",
    "OrderStatusMapping",
    "RECALL_NODE",
    "RECALL_REQUESTED",
    "SLA",
    "SLA_TIMER_PREFIX",
    "SkipReason",
    "SlaService",
    "StateExtension",
    "StateSpec",
    "StatusMapping",
    "StatusStep",
    "TRANSITIONED",
    "Transition",
    "TransitionContext",
    "TransitionSpec",
    "UNFOLLOWED",
    "accept_recall",
    "channel_maps",
    "current_hold",
    "default_lifecycle",
    "default_spec",
    "expand_transitions",
    "follow",
    "follow_channel",
    "force_approve",
    "format_duration",
    "hold",
    "holds_of",
    "intercept",
    "interception_latencies",
    "interception_lifecycle",
    "interception_spec",
    "interception_stats",
    "is_forward",
    "load_channel_maps",
    "load_lifecycle",
    "map_channel_status",
    "map_order_status",
    "next_status",
    "parse_duration",
    "refuse_recall",
    "release",
    "replay_statuses",
    "spec_to_mermaid",
    "split_ref",
]
