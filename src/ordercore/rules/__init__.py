"""Rules that operations staff edit: conditions over the order and its context, and actions.

A rule set is a YAML or JSON file of rules (``when:`` a condition in ordercore's own
small language, ``then:`` typed actions). It is validated when it loads, with errors
that name the file, rule, line and column, compiled once and evaluated many times.
Evaluating returns a :class:`Decision` and never changes the order;
:func:`apply_decision` is the separate, pure step that returns the changed order.
"""

from __future__ import annotations

from ordercore.rules._action_base import ACTIONS, Action, action_names
from ordercore.rules._actions import (
    AddGift,
    Backorder,
    ChooseCarrier,
    FreeShipping,
    Freeze,
    Hold,
    Notify,
    ProductionLine,
    Route,
    SetCarrier,
    ShippingFee,
    Split,
    Tag,
    apply_decision,
)
from ordercore.rules._context import CarrierStats, HistoryCounters, RuleContext, StockLevels
from ordercore.rules._decision import (
    ConditionTrace,
    Decision,
    Override,
    PlannedAction,
    RuleOutcome,
    RuleTrace,
)
from ordercore.rules._jdm import load_jdm, rules_from_jdm
from ordercore.rules._packs import PACKS, Pack, load_pack, load_packs, pack_text
from ordercore.rules._providers import CarrierHealth, InventoryStock, OrderHistory
from ordercore.rules._ruleset import Rule, RuleSet, load_rules
from ordercore.rules._syntax import LIMITS, Limits
from ordercore.rules._versions import (
    ActionDelta,
    Activation,
    DryRunReport,
    OrderChange,
    ReloadResult,
    ReloadStatus,
    RuleBook,
    RuleDelta,
    RuleSetRef,
    dry_run,
    ruleset_digest,
)

__all__ = [
    "ACTIONS",
    "Action",
    "ActionDelta",
    "Activation",
    "AddGift",
    "Backorder",
    "CarrierHealth",
    "CarrierStats",
    "ChooseCarrier",
    "ConditionTrace",
    "Decision",
    "DryRunReport",
    "FreeShipping",
    "Freeze",
    "HistoryCounters",
    "Hold",
    "InventoryStock",
    "LIMITS",
    "Limits",
    "Notify",
    "OrderChange",
    "OrderHistory",
    "Override",
    "PACKS",
    "Pack",
    "PlannedAction",
    "ProductionLine",
    "ReloadResult",
    "ReloadStatus",
    "Route",
    "Rule",
    "RuleBook",
    "RuleContext",
    "RuleDelta",
    "RuleOutcome",
    "RuleSet",
    "RuleSetRef",
    "RuleTrace",
    "SetCarrier",
    "ShippingFee",
    "Split",
    "StockLevels",
    "Tag",
    "action_names",
    "apply_decision",
    "dry_run",
    "load_jdm",
    "load_pack",
    "load_packs",
    "load_rules",
    "pack_text",
    "rules_from_jdm",
    "ruleset_digest",
]
