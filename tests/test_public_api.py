"""What ordercore exports is deliberate: every public module's names are pinned here.

A module is public when no part of its dotted name starts with an underscore. Each
public module declares its face in a sorted ``__all__``; every name defined at its
top level without a leading underscore is either in ``__all__`` or listed in
``NOT_EXPORTED`` with the reason it stays out. Adding or removing a public name
means changing ``PUBLIC`` below, on purpose.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

import pytest

import ordercore

PUBLIC: dict[str, list[str]] = {
    "ordercore": [
        "Actor", "Address", "AddressText", "AnomalyCode", "BatchResult", "Buyer", "ChannelStatus",
        "ChannelTime", "ConfigurationError", "Discount", "DiscountFunder", "DuplicateOrder",
        "FloatMoneyError", "ForeignDatabase", "FrozenModelError", "IdempotencyConflict",
        "LineNotFound", "Money", "MoneyError", "OnExisting", "Order", "OrderAmounts",
        "OrderAnomaly", "OrderCoreError", "OrderEvent", "OrderLine", "OrderNotFound", "OrderQuery",
        "OrderStatus", "OrderStore", "OrderType", "Outcome", "PersonName", "PhoneNumber",
        "PluginNotFound", "SchemaError", "SchemaVersionError", "Shipment", "Source", "SourceKind",
        "StoreError", "StoreReadOnly", "TimeParseError", "VersionConflict", "__version__",
        "allocate", "json_schema", "load_order_json", "new_id", "open_store", "parse_channel_time",
        "parse_fen", "parse_yuan", "sum_money",
    ],
    "ordercore.channels": [
        "DEFAULT_TOLERANCE", "PushCheck", "PushRequest", "REASONS", "SCHEMES", "Secret",
        "SignatureError", "SigningScheme", "VerifiedPush", "VerifiedRequest", "canonical_json",
        "register_scheme", "sign_request", "verify_push", "verify_request",
    ],
    "ordercore.cli": ["main"],
    "ordercore.demo": ["DemoSummary", "run_demo"],
    "ordercore.errors": [
        "AdjustmentError", "AllocationError", "ConfigurationError", "CurrencyMismatch",
        "DuplicateOrder", "FieldProblem", "FloatMoneyError", "ForeignDatabase",
        "FrozenModelError", "GuardFailed", "IdError", "IdempotencyConflict",
        "InsufficientStock", "InvalidTransition", "InventoryError", "LifecycleSpecError",
        "LineNotFound", "MigrationError", "MoneyError", "NotifyError", "OrderCoreError",
        "OrderNotFound", "PHOTO_REASONS", "PersonalDataError", "PhotoRejected", "PluginError",
        "PluginLoadError", "PluginNotFound", "ReservationNotFound", "ReservationStateError",
        "RuleConflict", "RuleError", "RuleEvaluationError", "RuleLimitExceeded",
        "RuleLoadError", "RuleVersionConflict", "RuleVersionNotFound", "SIGNATURE_REASONS",
        "SchemaError", "SchemaVersionError", "SignatureError", "StoreClosed", "StoreError",
        "StoreReadOnly", "StoreURLError", "TimeParseError", "TransferError", "UnknownLocation",
        "VersionConflict", "all_error_classes",
    ],
    "ordercore.ids": ["id_time_ms", "is_valid_id", "new_id"],
    "ordercore.inventory": [
        "ALLOCATION_GROUP", "Adjustment", "AdjustmentStatus", "AllocationPlan",
        "AllocationStrategy", "Assignment", "BELOW_SAFETY", "BUSY", "BackorderPolicy", "Busy",
        "CrossingState", "CrossingStore", "Demand", "Destination", "Drift", "EntryKind",
        "FORECAST_MAX_AGE", "Forecast", "GiftPolicy", "Inventory", "InventoryBackend",
        "InventoryTxn", "LedgerEntry", "LedgerRow", "Location", "LocationDecision", "LocationKind",
        "MemoryCrossingStore", "MemoryInventoryBackend", "PriorityStrategy", "Region",
        "RegionPriorityStrategy", "Reservation", "ReservationLine", "ReservationRequest",
        "ReservationStatus", "ReservedLine", "SQLiteInventoryBackend", "STOCK_STREAM",
        "STOCK_TOPIC", "SafetyLevel", "SafetyStockMonitor", "SafetyStockRule",
        "SettingsCrossingStore", "SingleLocationStrategy", "StockKey", "StockLevel", "StockRow",
        "StockTable", "StockView", "Transfer", "TransferStatus", "allocate", "crossing_key",
        "forecast", "forecast_key", "ledger_reader", "level_for", "load_strategy",
        "open_inventory", "province_of", "region_of", "rule_key", "serves",
    ],
    "ordercore.lifecycle": [
        "AFTER_SALE_FOLLOW_UP", "BLOCKED", "BREACHED", "BUILTIN_EFFECTS", "BUILTIN_GUARDS",
        "Breach", "ChannelFollow", "ChannelStatusMap", "DEFAULT_CHANNEL_MAPS", "DEFAULT_LIFECYCLE",
        "DO_NOT_SHIP", "Effect", "EscalationStep", "Guard", "HOLD_QUANTITY", "Hold", "HoldReason",
        "INTERCEPTED", "INTERCEPTION_EXTENSION", "INTERCEPTION_GUARDS", "InterceptCause",
        "InterceptOutcome", "Interception", "InterceptionStats", "LINES_HELD", "LINE_AFTER_SALE",
        "Lifecycle", "LifecycleExtension", "LifecycleSpec", "LineAfterSale", "LineAfterSaleState",
        "MAIN_LINE", "NodeSpec", "OrderStatusMapping", "RECALL_NODE", "RECALL_REQUESTED", "SLA",
        "SLA_TIMER_PREFIX", "SkipReason", "SlaService", "StateExtension", "StateSpec",
        "StatusMapping", "StatusStep", "TRANSITIONED", "Transition", "TransitionContext",
        "TransitionSpec", "UNFOLLOWED", "accept_recall", "channel_maps", "current_hold",
        "default_lifecycle", "default_spec", "expand_transitions", "follow", "follow_channel",
        "force_approve", "format_duration", "hold", "holds_of", "intercept",
        "interception_latencies", "interception_lifecycle", "interception_spec",
        "interception_stats", "is_forward", "load_channel_maps", "load_lifecycle",
        "map_channel_status", "map_order_status", "next_status", "parse_duration", "refuse_recall",
        "release", "replay_statuses", "spec_to_mermaid", "split_ref",
    ],
    "ordercore.money": [
        "DEFAULT_CURRENCY", "Money", "allocate", "minor_digits", "parse_fen", "parse_yuan",
        "sum_money",
    ],
    "ordercore.notify": [
        "DingTalkNotifier", "LEVELS", "Level", "LogNotifier", "Notification", "Notifier",
        "RetryPolicy", "WeComNotifier", "dingtalk_signature", "open_notifier",
    ],
    "ordercore.pii": [
        "AddressText", "EmailAddress", "PersonName", "PhoneNumber", "Sensitive",
        "is_email_address", "looks_like_ciphertext", "mask_phone", "redact", "safe_repr",
    ],
    "ordercore.plugins": [
        "DISABLE_ENV", "GROUPS", "PluginGroup", "PluginInfo", "available",
        "conflicting_distributions", "describe", "load", "open_url", "register", "registered",
        "reset",
    ],
    "ordercore.progress": ["Progress"],
    "ordercore.rules": [
        "ACTIONS", "Action", "ActionDelta", "Activation", "AddGift", "Backorder",
        "CarrierHealth", "CarrierStats", "ChooseCarrier", "ConditionTrace", "Decision",
        "DryRunReport", "FreeShipping", "Freeze", "HistoryCounters", "Hold", "InventoryStock",
        "LIMITS", "Limits", "Notify", "OrderChange", "OrderHistory", "Override", "PACKS",
        "Pack", "PlannedAction", "ProductionLine", "ReloadResult", "ReloadStatus", "Route",
        "Rule", "RuleBook", "RuleContext", "RuleDelta", "RuleOutcome", "RuleSet", "RuleSetRef",
        "RuleTrace", "SetCarrier", "ShippingFee", "Split", "StockLevels", "Tag", "action_names",
        "apply_decision", "dry_run", "load_jdm", "load_pack", "load_packs", "load_rules",
        "pack_text", "rules_from_jdm", "ruleset_digest",
    ],
    "ordercore.returns": [
        "DEFAULT_LIMITS", "Photo", "PhotoLimits", "PhotoRejected", "REJECTION_REASONS",
        "RejectionReason", "load_photo",
    ],
    "ordercore.schema": [
        "ATTRIBUTE_NAME", "Actor", "ActorKind", "Address", "AfterSaleKind", "AfterSaleRef",
        "AnomalyCode", "B2BInfo", "BoolAttribute", "Buyer", "CanonicalModel", "ChannelStatus",
        "CustomAttribute", "DecimalAttribute", "Discount", "DiscountFunder", "IntAttribute",
        "JsonAttribute", "LineComponent", "MoneyAttribute", "Order", "OrderAmounts",
        "OrderAnomaly", "OrderEvent", "OrderLine", "OrderStatus", "OrderType", "Package",
        "PackageLine", "Payment", "Presale", "PresalePhase", "RawPayload", "SCHEMA_VERSION",
        "STRICT_AMOUNTS", "Shipment", "Source", "SourceKind", "StringAttribute", "TimeAttribute",
        "attribute", "json_schema", "json_schema_text", "load_order_json", "upcast_order",
    ],
    "ordercore.storage": [
        "BaseStore", "BatchResult", "Change", "IdempotencyRecord", "MemoryStore", "Migration",
        "OnExisting", "OrderQuery", "OrderStore", "OrderUpdate", "OutboxEntry", "OutboxMessage",
        "Outcome", "PutOutcome", "SQLiteStore", "Timer", "TimerArm", "TimerFinish", "TimerPlan",
        "apply_sqlite_migrations", "open_store", "order_fingerprint", "store_scheme",
        "write_outbox",
    ],
    "ordercore.storage.kit": [
        "BaseStore", "BatchPlan", "BatchResult", "CREATED", "Change", "EVENTS", "ExistingOrder",
        "Migration", "ORDER_STREAM", "OnExisting", "OrderRow", "OutboxEntry", "Outcome",
        "PutOutcome", "QueryDialect", "UPDATED", "change_log_problems", "dumps",
        "events_from_payloads", "events_message", "id_taken", "key_reused", "key_taken",
        "load_stored_order", "order_not_found", "order_row", "pending_migrations", "plan_batch",
        "query_where", "result_json", "stale_version",
    ],
    "ordercore.testing": [
        "CATALOGUE", "CHANNELS", "InventoryConformance", "OrderFactory", "StoreConformance",
    ],
    "ordercore.testing.pytest_plugin": ["memory_store", "order_factory", "sqlite_store"],
    "ordercore.timestamps": [
        "ChannelTime", "DEFAULT_ZONE", "EpochUnit", "parse_channel_time", "utc_now",
    ],
}  # fmt: skip

#: Names a public module defines at top level without an underscore but keeps out of
#: ``__all__``, each for a stated reason.
NOT_EXPORTED: dict[str, dict[str, str]] = {
    "ordercore.demo": {
        "format_summary": "the CLI's text rendering of a DemoSummary; callers get the data",
    },
    "ordercore.errors": {
        "DOCS_URL": "where each error's message links to; the link is in every message",
    },
    "ordercore.plugins": {
        "logger": "configured through logging.getLogger('ordercore.plugins'), not imported",
    },
}

#: Public modules that do not define ``__all__`` yet: their checks are expected to fail
#: with AttributeError until they do, and then fail loudly so the mark is removed.
WITHOUT_ALL: dict[str, str] = {}

SOURCE = Path(ordercore.__file__).resolve().parent


def _public_module_names() -> set[str]:
    """Every module under src/ordercore whose dotted name has no part starting with '_'."""
    names = set()
    for path in SOURCE.rglob("*.py"):
        parts = ["ordercore", *path.relative_to(SOURCE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        if not any(part.startswith("_") for part in parts):
            names.add(".".join(parts))
    return names


def _bound_names(statements: list[ast.stmt]) -> set[str]:
    """Names bound at module level by def, class or assignment (imports excluded)."""
    names: set[str] = set()
    for node in statements:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.If | ast.With):
            names |= _bound_names(node.body) | _bound_names(getattr(node, "orelse", []))
        elif isinstance(node, ast.Try):
            names |= _bound_names(node.body) | _bound_names(node.orelse)
            names |= _bound_names(node.finalbody)
            for handler in node.handlers:
                names |= _bound_names(handler.body)
    return names


def _defined_public_names(module: ModuleType) -> set[str]:
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    return {name for name in _bound_names(tree.body) if not name.startswith("_")}


def _differences(actual: list[str], pinned: list[str]) -> str:
    added = sorted(set(actual) - set(pinned))
    removed = sorted(set(pinned) - set(actual))
    return f"added (not pinned): {added}; removed (still pinned): {removed}"


def _modules() -> list[object]:
    params: list[object] = []
    for name in sorted(PUBLIC):
        marks = []
        if name in WITHOUT_ALL:
            marks.append(pytest.mark.xfail(raises=AttributeError, reason=WITHOUT_ALL[name]))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


def test_every_public_module_is_pinned() -> None:
    """The pinned modules are exactly the public modules found under src/ordercore."""
    found = sorted(_public_module_names())
    assert found == sorted(PUBLIC), _differences(found, sorted(PUBLIC))


@pytest.mark.parametrize("module_name", _modules())
def test_all_is_sorted(module_name: str) -> None:
    """__all__ is a sorted list without repeats."""
    names = list(importlib.import_module(module_name).__all__)
    assert names == sorted(set(names))


@pytest.mark.parametrize("module_name", _modules())
def test_all_is_exactly_the_pinned_names(module_name: str) -> None:
    """__all__ lists exactly the names pinned for the module."""
    names = sorted(importlib.import_module(module_name).__all__)
    assert names == PUBLIC[module_name], _differences(names, PUBLIC[module_name])


@pytest.mark.parametrize("module_name", _modules())
def test_star_import_binds_every_name_of_all(module_name: str) -> None:
    """``from module import *`` succeeds and binds exactly the names of __all__."""
    module = importlib.import_module(module_name)
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(namespace) == sorted(module.__all__)


@pytest.mark.parametrize("module_name", _modules())
def test_every_public_definition_is_exported_or_kept_out_on_purpose(module_name: str) -> None:
    """A top-level name without an underscore is in __all__ or in NOT_EXPORTED, never both."""
    module = importlib.import_module(module_name)
    exported = set(module.__all__)
    kept_out = set(NOT_EXPORTED.get(module_name, {}))
    undeclared = sorted(_defined_public_names(module) - exported - kept_out)
    assert undeclared == [], f"add to __all__ or NOT_EXPORTED: {undeclared}"
    assert sorted(kept_out & exported) == []
    stale = sorted(kept_out - _defined_public_names(module))
    assert stale == [], f"listed in NOT_EXPORTED but no longer defined: {stale}"


def test_every_top_level_name_is_the_object_a_subsystem_exports() -> None:
    """``ordercore.X`` is the very object that some public subsystem module exports as X."""
    subsystems = [
        importlib.import_module(name)
        for name in sorted(PUBLIC)
        if name != "ordercore" and name not in WITHOUT_ALL
    ]
    homeless = [
        name
        for name in ordercore.__all__
        if name != "__version__"
        and not any(
            name in module.__all__ and getattr(module, name) is getattr(ordercore, name)
            for module in subsystems
        )
    ]
    assert homeless == []


def test_version_is_a_release_string() -> None:
    """__version__ is a dotted release number."""
    parts = ordercore.__version__.split(".")
    assert len(parts) == 3 and all(part.isdigit() for part in parts)
