"""The error tree: distinct documented codes, builtin bases, messages that link to the docs."""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from ordercore import errors
from ordercore.errors import (
    DOCS_URL,
    AdjustmentError,
    AllocationError,
    ConfigurationError,
    CurrencyMismatch,
    DuplicateOrder,
    FieldProblem,
    FloatMoneyError,
    ForeignDatabase,
    FrozenModelError,
    GuardFailed,
    IdempotencyConflict,
    IdError,
    InsufficientStock,
    InvalidTransition,
    InventoryError,
    LifecycleSpecError,
    LineNotFound,
    MigrationError,
    MoneyError,
    NotifyError,
    OrderCoreError,
    OrderNotFound,
    PersonalDataError,
    PhotoRejected,
    PluginError,
    PluginLoadError,
    PluginNotFound,
    ReservationNotFound,
    ReservationStateError,
    RuleConflict,
    RuleError,
    RuleEvaluationError,
    RuleLimitExceeded,
    RuleLoadError,
    RuleVersionConflict,
    RuleVersionNotFound,
    SchemaError,
    SchemaVersionError,
    SignatureError,
    StoreClosed,
    StoreError,
    StoreReadOnly,
    StoreURLError,
    TimeParseError,
    TransferError,
    UnknownLocation,
    VersionConflict,
    all_error_classes,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "errors.md"

#: One example instance per error class, built the way ordercore builds them.
SAMPLES: dict[type[OrderCoreError], Callable[[], OrderCoreError]] = {
    RuleError: lambda: RuleError("rule set failed"),
    RuleLoadError: lambda: RuleLoadError(
        "gifts.yaml:4:12: rule 'gift': expected an operator",
        source="gifts.yaml",
        rule="gift",
        line=4,
        column=12,
        expected="an operator",
    ),
    RuleLimitExceeded: lambda: RuleLimitExceeded(
        "expression nests deeper than 24", limit="depth", source="x.yaml", rule="deep"
    ),
    RuleEvaluationError: lambda: RuleEvaluationError(
        "work budget of 100000 items exceeded", ruleset="fulfilment", rule="many"
    ),
    RuleConflict: lambda: RuleConflict(
        "rules 'a' and 'b' both set the route", slot="route", rules=("a", "b")
    ),
    SignatureError: lambda: SignatureError(
        "douyin: no secret produces the event-sign", channel="douyin", reason="mismatch"
    ),
    PhotoRejected: lambda: PhotoRejected("photo is empty (0 bytes)", reason="empty"),
    RuleVersionConflict: lambda: RuleVersionConflict(
        "rule set 'fulfilment' already has version 3 with other rules",
        ruleset="fulfilment",
        version=3,
        source="rules.yaml",
    ),
    RuleVersionNotFound: lambda: RuleVersionNotFound(
        "rule set 'fulfilment' has no version 9", ruleset="fulfilment", version=9
    ),
    OrderCoreError: lambda: OrderCoreError("something failed"),
    ConfigurationError: lambda: ConfigurationError("unknown time zone 'Beijing'"),
    StoreURLError: lambda: StoreURLError("no scheme in 'orders.db'", url="orders.db"),
    PluginError: lambda: PluginError("plugin failed", group="ordercore.storage", plugin="x"),
    PluginNotFound: lambda: PluginNotFound(
        "no ordercore.storage plugin named 'postgresql'",
        group="ordercore.storage",
        plugin="postgresql",
        hint="ordercore-postgres",
    ),
    PluginLoadError: lambda: PluginLoadError(
        "plugin failed to load", group="ordercore.storage", plugin="postgresql"
    ),
    MoneyError: lambda: MoneyError("amount is not a number: 'abc'"),
    FloatMoneyError: lambda: FloatMoneyError("amount is a float (0.1)"),
    CurrencyMismatch: lambda: CurrencyMismatch("cannot add USD and CNY amounts"),
    AllocationError: lambda: AllocationError("cannot allocate over zero parts"),
    TimeParseError: lambda: TimeParseError("not a recognised time format", value="junk"),
    SchemaError: lambda: SchemaError(
        [FieldProblem("lines.0.quantity", "Input should be greater than 0", "greater_than")],
        channel="taobao",
        channel_order_id="3861740395217345201",
    ),
    SchemaVersionError: lambda: SchemaVersionError(
        "schema version 3 is newer than this ordercore's (2)", version=3, supported=2
    ),
    FrozenModelError: lambda: FrozenModelError(
        "Order is immutable: use order.evolve(status=...)", model="Order", field="status"
    ),
    LineNotFound: lambda: LineNotFound("order A has no line '9'", order_id="A", line_id="9"),
    IdError: lambda: IdError("not a ULID: 'x'"),
    PersonalDataError: lambda: PersonalDataError(
        "an e-mail address needs one @", kind="e-mail address"
    ),
    StoreError: lambda: StoreError("commit failed"),
    StoreClosed: lambda: StoreClosed("the store memory:// is closed"),
    OrderNotFound: lambda: OrderNotFound("no order with id X", order_id="X"),
    DuplicateOrder: lambda: DuplicateOrder(
        "taobao:1 is already stored",
        order_id="B",
        channel="taobao",
        channel_order_id="1",
        existing_id="A",
    ),
    VersionConflict: lambda: VersionConflict("order A changed", order_id="A", expected=1, actual=2),
    IdempotencyConflict: lambda: IdempotencyConflict("key reused", key="webhook:42"),
    MigrationError: lambda: MigrationError("database is newer than this ordercore"),
    ForeignDatabase: lambda: ForeignDatabase(
        "app.db holds other tables", path="app.db", tables=["users"]
    ),
    LifecycleSpecError: lambda: LifecycleSpecError(
        "default.yaml line 12: transitions.3.dest: no state 'shiped'",
        source="default.yaml",
        line=12,
        field="transitions.3.dest",
    ),
    InvalidTransition: lambda: InvalidTransition(
        "order X is completed; trigger ship is not allowed there",
        order_id="X",
        state="completed",
        trigger="ship",
    ),
    GuardFailed: lambda: GuardFailed(
        "refund_only refused: parcel_not_picked_up",
        order_id="X",
        state="shipped",
        trigger="refund_only",
        guard="parcel_not_picked_up",
    ),
    NotifyError: lambda: NotifyError(
        "dingtalk refused: errcode 310000", notifier="dingtalk", status="310000"
    ),
    StoreReadOnly: lambda: StoreReadOnly("the store sqlite:///orders.db?mode=ro is read-only"),
    InventoryError: lambda: InventoryError("the reservation could not be written"),
    InsufficientStock: lambda: InsufficientStock(
        "SKU-1 at hz: 3 requested, 2 available",
        sku="SKU-1",
        location="hz",
        requested=3,
        available=2,
    ),
    ReservationNotFound: lambda: ReservationNotFound("no reservation R1", reservation_id="R1"),
    ReservationStateError: lambda: ReservationStateError(
        "R1 is released", reservation_id="R1", status="released", operation="commit"
    ),
    UnknownLocation: lambda: UnknownLocation("no location 'bj'", location="bj"),
    AdjustmentError: lambda: AdjustmentError(
        "A1 is approved", adjustment_id="A1", status="approved"
    ),
    TransferError: lambda: TransferError("T1 is received", transfer_id="T1", status="received"),
}

CLASSES = all_error_classes()


def doc_headings() -> list[str]:
    return re.findall(r"^## (\S+)\s*$", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE)


def doc_section(code: str) -> str:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(code)}\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match is not None
    return match.group(1)


def tree_lines() -> list[tuple[int, str, str | None, str | None]]:
    """Parse the tree in the module docstring into (column, class, builtin, code) rows."""
    assert errors.__doc__ is not None
    block = errors.__doc__.split("::", 1)[1].strip("\n").split("\n\n", 1)[0]
    pattern = re.compile(r"(?P<name>[A-Z]\w+)(?: \((?P<base>\w+)\))?(?: \.+ (?P<code>[a-z-]+))?$")
    rows = []
    for line in block.splitlines():
        match = pattern.search(line.rstrip())
        assert match is not None, line
        rows.append((match.start("name"), match["name"], match["base"], match["code"]))
    return rows


class TestCodes:
    def test_all_error_classes_lists_the_whole_tree(self) -> None:
        """all_error_classes() returns every OrderCoreError class of the module, root first."""
        assert CLASSES[0] is OrderCoreError
        assert len(CLASSES) == len(set(CLASSES))
        exported = {
            getattr(errors, name)
            for name in errors.__all__
            if isinstance(getattr(errors, name), type)
            and issubclass(getattr(errors, name), OrderCoreError)
        }
        assert set(CLASSES) == exported
        assert set(CLASSES) == set(SAMPLES)

    def test_codes_are_distinct(self) -> None:
        """No two classes share a code, so a code names exactly one class."""
        codes = [cls.code for cls in CLASSES]
        assert len(codes) == len(set(codes))

    @pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
    def test_code_is_its_own(self, cls: type[OrderCoreError]) -> None:
        """Each class defines its own short kebab-case code (none inherits its parent's)."""
        assert "code" in vars(cls)
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", cls.code)


class TestDocs:
    def test_every_code_has_a_heading(self) -> None:
        """docs/errors.md has a `## <code>` section for every error code."""
        missing = {cls.code for cls in CLASSES} - set(doc_headings())
        assert not missing

    def test_no_heading_for_unknown_codes(self) -> None:
        """docs/errors.md documents no code that does not exist, and none twice."""
        headings = doc_headings()
        assert len(headings) == len(set(headings))
        assert set(headings) == {cls.code for cls in CLASSES}

    @pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
    def test_section_names_the_class(self, cls: type[OrderCoreError]) -> None:
        """Each code's section says which class raises it."""
        assert f"`{cls.__name__}`" in doc_section(cls.code)

    def test_docs_url_points_at_this_page(self) -> None:
        """The link in messages is to docs/errors.md."""
        assert DOCS_URL.endswith("/docs/errors.md")


class TestTree:
    @pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
    def test_docstring_tree_names_every_class(self, cls: type[OrderCoreError]) -> None:
        """The tree drawn in the module docstring has a line for every class."""
        assert cls.__name__ in {name for _, name, _, _ in tree_lines()}

    def test_tree_matches_the_classes(self) -> None:
        """The tree's nesting, builtins and codes agree with the real classes."""
        rows = tree_lines()
        assert len(rows) == len(CLASSES)
        assert rows[0][1] == "OrderCoreError"
        stack: list[tuple[int, type]] = []
        for column, name, base, code in rows:
            cls = getattr(errors, name)
            while stack and stack[-1][0] >= column:
                stack.pop()
            if stack:
                assert issubclass(cls, stack[-1][1]), f"{name} is drawn under {stack[-1][1]}"
                assert cls.__bases__[0] is stack[-1][1]
            stack.append((column, cls))
            if base is not None:
                assert issubclass(cls, getattr(builtins, base))
            if code is not None:
                assert cls.code == code


class TestBuiltinBases:
    @pytest.mark.parametrize(
        ("cls", "base"),
        [
            (ConfigurationError, ValueError),
            (StoreURLError, ValueError),
            (StoreURLError, ConfigurationError),
            (PluginNotFound, LookupError),
            (PluginNotFound, PluginError),
            (PluginLoadError, ImportError),
            (MoneyError, ValueError),
            (FloatMoneyError, TypeError),
            (FloatMoneyError, ValueError),
            (FloatMoneyError, MoneyError),
            (CurrencyMismatch, MoneyError),
            (AllocationError, MoneyError),
            (TimeParseError, ValueError),
            (SchemaError, ValueError),
            (SchemaVersionError, SchemaError),
            (FrozenModelError, AttributeError),
            (LineNotFound, KeyError),
            (IdError, ValueError),
            (PersonalDataError, ValueError),
            (OrderNotFound, LookupError),
            (OrderNotFound, StoreError),
            (DuplicateOrder, StoreError),
            (VersionConflict, StoreError),
            (IdempotencyConflict, StoreError),
            (MigrationError, StoreError),
            (StoreClosed, StoreError),
            (ForeignDatabase, StoreError),
            (StoreReadOnly, StoreError),
            (LifecycleSpecError, ConfigurationError),
            (GuardFailed, InvalidTransition),
        ],
    )
    def test_inherits(self, cls: type[OrderCoreError], base: type[Exception]) -> None:
        """Errors inherit the builtin (and ordercore parent) their meaning fits."""
        assert issubclass(cls, base)
        with pytest.raises(base):
            raise SAMPLES[cls]()

    @pytest.mark.parametrize("cls", [StoreError, DuplicateOrder, VersionConflict, PluginError])
    def test_no_misleading_builtin(self, cls: type[OrderCoreError]) -> None:
        """Errors that are not about a bad value or a lookup do not pretend to be."""
        assert not issubclass(cls, ValueError | LookupError | TypeError)

    @pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
    def test_everything_is_an_ordercore_error(self, cls: type[OrderCoreError]) -> None:
        """Catching OrderCoreError catches every class."""
        with pytest.raises(OrderCoreError):
            raise SAMPLES[cls]()


class TestMessages:
    @pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
    def test_str_ends_with_code_and_docs_link(self, cls: type[OrderCoreError]) -> None:
        """str(error) is the message, then the code and a link to its docs section."""
        error = SAMPLES[cls]()
        assert type(error) is cls
        text = str(error)
        assert text == f"{error.message} [{cls.code}] (see {DOCS_URL}#{cls.code})"
        assert text.endswith(f"errors.md#{cls.code})")

    def test_schema_error_lists_every_problem(self) -> None:
        """SchemaError names the order and has one line per offending field."""
        error = SchemaError(
            [
                FieldProblem("lines.0.quantity", "Input should be greater than 0", "greater_than"),
                FieldProblem("receiver.phone", "is required", "missing"),
            ],
            channel="taobao",
            channel_order_id="3861740395217345201",
        )
        assert error.message == (
            "Order taobao:3861740395217345201: 2 invalid fields\n"
            "  lines.0.quantity: Input should be greater than 0\n"
            "  receiver.phone: is required"
        )
        assert error.field == "lines.0.quantity"
        assert [p.kind for p in error.problems] == ["greater_than", "missing"]
        assert error.model == "Order"

    def test_schema_error_without_order_reference(self) -> None:
        """Without a channel order id the message names the model (and channel when known)."""
        problem = FieldProblem("sku", "is required", "missing")
        assert SchemaError([problem], model="OrderLine").message.startswith(
            "OrderLine: 1 invalid field\n"
        )
        assert SchemaError([problem], channel="jd").message.startswith("Order from jd: 1 invalid")
        assert SchemaError([]).field is None

    def test_errors_carry_context(self) -> None:
        """Errors keep the ids and values they are about as attributes."""
        conflict = SAMPLES[VersionConflict]()
        assert isinstance(conflict, VersionConflict)
        assert (conflict.order_id, conflict.expected, conflict.actual) == ("A", 1, 2)
        missing = SAMPLES[PluginNotFound]()
        assert isinstance(missing, PluginNotFound)
        assert (missing.group, missing.plugin, missing.hint) == (
            "ordercore.storage",
            "postgresql",
            "ordercore-postgres",
        )
        assert SAMPLES[TimeParseError]().value == "junk"  # type: ignore[attr-defined]
        assert SAMPLES[OrderNotFound]().order_id == "X"  # type: ignore[attr-defined]
        assert SAMPLES[StoreURLError]().url == "orders.db"  # type: ignore[attr-defined]
        assert SAMPLES[IdempotencyConflict]().key == "webhook:42"  # type: ignore[attr-defined]
        assert SAMPLES[DuplicateOrder]().existing_id == "A"  # type: ignore[attr-defined]
        line = SAMPLES[LineNotFound]()
        assert (line.order_id, line.line_id) == ("A", "9")  # type: ignore[attr-defined]
        version = SAMPLES[SchemaVersionError]()
        assert (version.version, version.supported) == (3, 2)  # type: ignore[attr-defined]
        assert version.field == "schema_version"  # type: ignore[attr-defined]
        frozen = SAMPLES[FrozenModelError]()
        assert (frozen.model, frozen.field) == ("Order", "status")  # type: ignore[attr-defined]

    def test_field_problem_value_semantics(self) -> None:
        """FieldProblems compare and hash by field, problem and kind."""
        a = FieldProblem("sku", "is required", "missing")
        assert a == FieldProblem("sku", "is required", "missing")
        assert a != FieldProblem("sku", "is required")
        assert len({a, FieldProblem("sku", "is required", "missing")}) == 1
        assert repr(a) == "FieldProblem(field='sku', problem='is required', kind='missing')"


class TestEchoedValues:
    """Errors never repeat a huge or personal value they were given."""

    def test_a_huge_channel_order_id_is_cut_with_its_length(self) -> None:
        """A 10 MB id gives a short header that says how long the id was."""
        huge = "9" * 10_000_000
        error = SchemaError([FieldProblem("channel_order_id", "too long")], channel="jd",
                            channel_order_id=huge)  # fmt: skip
        header = error.message.splitlines()[0]
        assert header == f"Order jd:{'9' * 64}…(10000000 chars): 1 invalid field"
        assert error.channel_order_id == f"{'9' * 64}…(10000000 chars)"
        assert len(str(error)) < 400

    def test_a_phone_given_as_the_channel_is_masked(self) -> None:
        """A mobile number in the channel or the order id reaches the message masked."""
        error = SchemaError([FieldProblem("channel", "bad")], channel="13800138000",
                            channel_order_id="+86 13912345678")  # fmt: skip
        assert "13800138000" not in str(error) and "13912345678" not in str(error)
        assert error.message.startswith("Order 138****8000:+86****5678: 1 invalid field")
        assert error.channel == "138****8000"

    def test_an_e_mail_in_a_problem_is_masked(self) -> None:
        """A problem text that quotes an address shows only its first letter and domain."""
        problem = FieldProblem("buyer.email", "got 'wang.xiaoming@example.com' here")
        assert problem.problem == "got 'w***@example.com' here"

    def test_long_problem_texts_and_field_paths_are_cut(self) -> None:
        """A problem or a dict key path built from input stays a few hundred characters."""
        problem = FieldProblem("attributes." + "k" * 5000, "x" * 5000, "kind")
        assert problem.field == "attributes." + "k" * 117 + "…(5011 chars)"
        assert problem.problem == "x" * 300 + "…(5000 chars)"

    def test_an_int_order_id_too_large_to_print_is_described(self) -> None:
        """str() of a 5000-digit int raises in Python; the error describes it instead."""
        error = SchemaError([], channel="jd", channel_order_id=10**5000)  # type: ignore[arg-type]
        assert error.channel_order_id == "<int of 16610 bits>"

    def test_ordinary_values_are_shown_as_they_are(self) -> None:
        """Short ids that are not personal data are not touched."""
        error = SAMPLES[SchemaError]()
        assert isinstance(error, SchemaError)
        assert error.channel_order_id == "3861740395217345201"
        assert error.message.startswith("Order taobao:3861740395217345201: 1 invalid field")
