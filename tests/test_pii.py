"""Personal data: masked in reprs, strings, logs and errors; revealed only on request (R16)."""

from __future__ import annotations

import base64
import copy
import json
import logging
import pickle
import traceback
from collections.abc import Callable
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordercore.errors import FrozenModelError, PersonalDataError, SchemaError
from ordercore.money import Money
from ordercore.pii import (
    AddressText,
    EmailAddress,
    PersonName,
    PhoneNumber,
    Sensitive,
    is_email_address,
    looks_like_ciphertext,
    mask_phone,
    redact,
    safe_repr,
)
from ordercore.schema import Address, Buyer, Order
from ordercore.timestamps import parse_channel_time

PHONE = "13800138000"
DOUYIN_PHONE = (
    "$$WuSsLpY1z7fuAP5Hj+Ow7d0CsaMpNnKhyW+xFh6VRDJd8ET5wb3bTvdaCZv4gyhM4ZYDNp2RUadk73oIZ"
    "lydufqr0bUOmHd4Pez2HC/B4kSQ0TVvGg==*CgwIARCtHBiqICABKAESPgo8pZp8xl9zmDBpCZtlAU6k/eVnY"
    "OVo8S45JGnJxmGgx1jyRP3MSnjq8fJr+ODTQn8c00bxHVAOa4uAA2JGGgA=$1$$"
)
DOUYIN_NAME = "##3n3C2zSJmlV7tMQxdGPHSw==*CgwIARCtHBiqICABKAESPgo8Jf3Lhf2GwKIRxE2hgA=#1##"
YOUZAN = "$Aa3hTzaXZ9QGmG6X5eA0xQ6z7hw==$1$"
JD_TDE = base64.b64encode(bytes(range(7, 55))).decode()
PDD = "~AgAAAAHpAmsBThzHVgBEb7iFTmAuUOkcbxHEaB1ehY/p8rU=~1~"


class Receipt(pydantic.BaseModel):
    name: PersonName
    phone: PhoneNumber
    address: AddressText | None = None


def receipt() -> Receipt:
    return Receipt(name="张三丰", phone=PHONE, address="北京市朝阳区建国路88号")


class TestMasking:
    def test_phone_is_shown_as_first_three_and_last_four(self) -> None:
        """A mobile number prints as 138****8000 in every text form."""
        phone = PhoneNumber(PHONE)
        assert repr(phone) == "PhoneNumber('138****8000')"
        assert str(phone) == "138****8000"
        assert f"{phone}" == "138****8000"
        assert f"{phone!r}" == "PhoneNumber('138****8000')"
        assert f"{phone!s:>12}" == " 138****8000"
        assert format(phone, "<12") == "138****8000 "
        assert "{}".format(phone) == "138****8000"  # noqa: UP032
        assert "%s / %r" % (phone, phone) == "138****8000 / PhoneNumber('138****8000')"  # noqa: UP031
        assert str([phone]) == "[PhoneNumber('138****8000')]"
        assert str({"phone": phone}) == "{'phone': PhoneNumber('138****8000')}"
        assert phone.masked == "138****8000"

    @pytest.mark.parametrize(
        ("value", "masked"),
        [
            ("13800138000", "138****8000"),
            ("+8613800138000", "+86****8000"),
            ("010-62345678", "010****5678"),
            ("62345678", "****5678"),
            ("1234567", "*******"),
            ("110", "***"),
            ("138****8000", "138****8000"),
            ("", ""),
        ],
    )
    def test_mask_phone(self, value: str, masked: str) -> None:
        """Phones keep at most their first three and last four characters."""
        assert mask_phone(value) == masked
        if value:
            assert PhoneNumber(value).masked == masked

    @given(st.text(alphabet="0123456789+- ", min_size=1, max_size=20))
    def test_masked_phone_hides_at_least_four_characters(self, value: str) -> None:
        """However short or long, at least four characters of a phone stay hidden."""
        phone = PhoneNumber(value)
        masked = "" if phone.is_ciphertext else phone.masked
        number = value.strip()
        shown = sum(c != "*" for c in masked)
        assert shown <= max(len(number) - 4, 0)
        assert shown <= 7
        if number:
            assert number not in masked

    @pytest.mark.parametrize(
        ("value", "masked"),
        [
            ("张三", "张*"),
            ("王小明", "王**"),
            ("张", "*"),
            ("John Smith", "J********"),
            ("欧阳娜娜娜娜娜娜娜娜娜", "欧********"),
        ],
    )
    def test_person_name(self, value: str, masked: str) -> None:
        """Names keep their first character only."""
        name = PersonName(value)
        assert str(name) == masked
        assert repr(name) == f"PersonName({masked!r})"

    @pytest.mark.parametrize(
        ("value", "masked"),
        [
            ("北京市朝阳区建国路88号", "北京市****"),
            ("浙江省杭州市西湖区文三路100号华星大厦", "浙江省杭****"),
            ("88号", "****"),
        ],
    )
    def test_address(self, value: str, masked: str) -> None:
        """Street addresses keep at most their first four characters."""
        assert str(AddressText(value)) == masked

    def test_empty_value_masks_to_empty(self) -> None:
        """An empty value has nothing to hide."""
        assert str(PersonName("")) == ""
        assert not PersonName("")

    def test_reveal_returns_the_value(self) -> None:
        """reveal() is the one way to the plaintext."""
        assert PhoneNumber(PHONE).reveal() == PHONE
        assert PersonName("张三").reveal() == "张三"
        assert AddressText("北京市朝阳区建国路88号").reveal() == "北京市朝阳区建国路88号"
        assert PhoneNumber(PhoneNumber(PHONE)).reveal() == PHONE  # type: ignore[arg-type]
        assert len(PhoneNumber(PHONE)) == 11
        assert PhoneNumber(PHONE)

    @pytest.mark.parametrize("value", [13800138000, None, b"138", ["138"]])
    def test_only_strings(self, value: object) -> None:
        """Sensitive values wrap strings only; anything else is a typed error."""
        with pytest.raises(PersonalDataError, match="takes a str") as caught:
            PhoneNumber(value)  # type: ignore[arg-type]
        assert caught.value.kind == "phone number"

    @pytest.mark.parametrize(
        "value", ["王小明-13800138000x", "13800138000x", "call 13800138000", "张三 13800138000"]
    )
    def test_a_phone_value_that_is_not_a_phone_number_is_masked_entirely(self, value: str) -> None:
        """Nothing of a value not shaped like a phone shows: no name, no digits."""
        phone = PhoneNumber(value)
        assert phone.masked == "********"
        assert mask_phone(value) == "********"
        assert phone.reveal() == value

    @pytest.mark.parametrize(
        ("value", "masked"),
        [
            ("555-625-1199", "555****1199"),
            ("(555) 555-5555", "(55****5555"),
            ("+86 138 0013 8000", "+86****8000"),
            ("18401659850-4532", "184****4532"),
            ("021-12345678转123", "021****转123"),
            ("24534252", "****4252"),
            ("1573672****", "1573672****"),
        ],
    )
    def test_phone_shaped_values_keep_their_ends(self, value: str, masked: str) -> None:
        """Landlines, international numbers, extensions and platform masks are phones."""
        assert PhoneNumber(value).masked == masked


class TestCiphertext:
    @pytest.mark.parametrize(
        "value",
        [
            pytest.param(DOUYIN_PHONE, id="douyin-phone"),
            pytest.param(DOUYIN_NAME, id="douyin-name"),
            pytest.param(YOUZAN, id="youzan"),
            pytest.param(JD_TDE, id="jd-tde"),
            pytest.param(PDD, id="pinduoduo"),
        ],
    )
    def test_platform_ciphertext_is_detected_and_kept(self, value: str) -> None:
        """Encrypted fields are recognised, shown as <encrypted> and kept byte for byte."""
        assert looks_like_ciphertext(value)
        for cls in (PhoneNumber, PersonName, AddressText):
            wrapped = cls(value)
            assert wrapped.is_ciphertext
            assert str(wrapped) == "<encrypted>"
            assert repr(wrapped) == f"{cls.__name__}('<encrypted>')"
            assert wrapped.reveal() == value

    @pytest.mark.parametrize(
        "value",
        [
            PHONE,
            "138****8000",
            "张三",
            "北京市朝阳区建国路88号",
            "12345678901234567890123",
            "John Smith",
            "$12.50",
            "Room 1$2",
            "",
        ],
    )
    def test_plaintext_is_not_ciphertext(self, value: str) -> None:
        """Ordinary phones, names and addresses are not taken for ciphertext."""
        assert not looks_like_ciphertext(value)
        assert not PhoneNumber(value).is_ciphertext


class TestValueSemantics:
    def test_equal_values_compare_and_hash_alike(self) -> None:
        """Equal values of one kind are equal and usable as keys without revealing them."""
        assert PhoneNumber(PHONE) == PhoneNumber(PHONE)
        assert hash(PhoneNumber(PHONE)) == hash(PhoneNumber(PHONE))
        assert len({PhoneNumber(PHONE), PhoneNumber(PHONE), PhoneNumber("13900139000")}) == 2
        assert {PersonName("张三"): 1}[PersonName("张三")] == 1

    def test_different_kinds_or_plain_strings_are_not_equal(self) -> None:
        """A phone is never equal to a name or to a bare string with the same text."""
        assert PhoneNumber("12345678") != PersonName("12345678")
        assert PhoneNumber(PHONE) != PHONE
        assert PhoneNumber(PHONE) not in {PHONE}
        assert PhoneNumber(PHONE) != PhoneNumber("13900139000")

    @pytest.mark.parametrize("cls", [PhoneNumber, PersonName, AddressText])
    def test_pickle_and_copy_keep_the_value(self, cls: type[Sensitive]) -> None:
        """Pickling and copying keep the real value and the type."""
        original = cls("浙江省杭州市文三路100号" if cls is AddressText else PHONE)
        for clone in (
            pickle.loads(pickle.dumps(original)),
            copy.copy(original),
            copy.deepcopy(original),
        ):
            assert type(clone) is cls
            assert clone == original
            assert clone.reveal() == original.reveal()

    def test_immutable(self) -> None:
        """The wrapped value cannot be replaced, added to or deleted."""
        phone = PhoneNumber(PHONE)
        with pytest.raises(FrozenModelError):
            phone._value = "x"
        with pytest.raises(FrozenModelError):
            phone.extra = "x"
        with pytest.raises(FrozenModelError):
            del phone._value  # type: ignore[attr-defined]
        assert phone.reveal() == PHONE


class TestPydantic:
    def test_validates_from_strings_and_instances(self) -> None:
        """Fields accept plain strings and Sensitive values of any kind."""
        model = Receipt(name=PersonName("张三丰"), phone=PHONE)
        assert isinstance(model.phone, PhoneNumber)
        assert model.phone.reveal() == PHONE
        converted = Receipt(name="张三丰", phone=PersonName(PHONE))
        assert type(converted.phone) is PhoneNumber
        assert converted.phone.reveal() == PHONE

    def test_repr_and_python_dump_stay_masked(self) -> None:
        """repr, str and model_dump() of a model do not show the personal values."""
        model = receipt()
        for text in (repr(model), str(model), repr(model.model_dump()), str(model.model_dump())):
            assert PHONE not in text
            assert "张三丰" not in text
            assert "建国路" not in text
            assert "138****8000" in text

    def test_json_serialisation_reveals(self) -> None:
        """JSON output carries the real values, so stores keep them."""
        model = receipt()
        expected = {"name": "张三丰", "phone": PHONE, "address": "北京市朝阳区建国路88号"}
        assert json.loads(model.model_dump_json()) == expected
        assert model.model_dump(mode="json") == expected

    def test_json_round_trip(self) -> None:
        """A model written to JSON reads back equal, values intact."""
        model = receipt()
        again = Receipt.model_validate_json(model.model_dump_json())
        assert again == model
        assert again.phone.reveal() == PHONE
        assert isinstance(again.name, PersonName)

    @pytest.mark.parametrize(
        "data",
        [
            {"name": "张三", "phone": 13800138000},
            {"name": "张三", "phone": None},
            {"name": "张三", "phone": "1" * 4097},
        ],
    )
    def test_invalid_values_fail_validation(self, data: dict[str, Any]) -> None:
        """Non-strings and over-long strings are validation errors, in Python and JSON."""
        with pytest.raises(pydantic.ValidationError):
            Receipt.model_validate(data)
        with pytest.raises(pydantic.ValidationError):
            Receipt.model_validate_json(json.dumps(data))

    def test_json_schema_is_a_string(self) -> None:
        """The published schema describes the JSON form: a string."""
        schema = Receipt.model_json_schema()
        assert schema["properties"]["phone"]["type"] == "string"
        assert schema["properties"]["phone"]["maxLength"] == 4096


class TestLogging:
    def test_logged_values_and_models_are_masked(self, caplog: pytest.LogCaptureFixture) -> None:
        """Logging a phone, or a model holding one, never writes the plain number."""
        logger = logging.getLogger("ordercore.tests.pii")
        model = receipt()
        with caplog.at_level(logging.DEBUG, logger="ordercore.tests.pii"):
            logger.info("phone %s", model.phone)
            logger.info("phone %r", model.phone)
            logger.info("receipt %s", model)
            logger.info("receipt %r", model)
            logger.info(model)
            logger.warning("dump %s", model.model_dump())
            logger.info("f-string %s", f"{model.phone} {model.name} {model.address}")
        assert len(caplog.records) == 7
        for text in [caplog.text, *(r.getMessage() for r in caplog.records)]:
            assert PHONE not in text
            assert "张三丰" not in text
            assert "建国路" not in text
        assert "138****8000" in caplog.text


class TestNoLeaksFromOrders:
    """R16: sentinel personal data never shows in reprs, errors or logs of an Order."""

    NAME = "王SENTINELNAME"
    PHONE = "13912345678"
    STREET = "浙江省杭州市SENTINELSTREET文三路1号"
    SENTINELS = ("SENTINELNAME", PHONE, "12345678", "SENTINELSTREET", "文三路")

    def order_data(self, quantity: int = 1) -> dict[str, Any]:
        return {
            "channel": "taobao",
            "channel_order_id": "3861740395217345201",
            "status": "paid",
            "channel_status": {"value": "WAIT_SELLER_SEND_GOODS"},
            "source": {"kind": "pull", "name": "taobao.trade.fullinfo.get"},
            "created_at": parse_channel_time("2024-01-01 08:30:00"),
            "receiver": {
                "name": self.NAME,
                "phone": self.PHONE,
                "province": "浙江省",
                "city": "杭州市",
                "detail": self.STREET,
            },
            "buyer": {"phone": self.PHONE},
            "lines": [
                {
                    "line_id": "1",
                    "sku": "SOF-GREY",
                    "title": "Sofa",
                    "quantity": quantity,
                    "unit_price": Money("2999.00"),
                }
            ],
            "amounts": {"goods": Money("2999.00"), "paid": Money("2999.00")},
        }

    def assert_clean(self, *texts: str) -> None:
        for text in texts:
            for sentinel in self.SENTINELS:
                assert sentinel not in text, f"{sentinel!r} leaked into {text!r}"

    def schema_errors(self) -> list[SchemaError]:
        good = Order(**self.order_data())
        errors = []
        attempts: list[Callable[[], object]] = [
            lambda: Order(**self.order_data(quantity=0)),
            lambda: Order.model_validate(self.order_data(quantity=-1)),
            lambda: Order.model_validate_json(
                good.model_dump_json().replace('"quantity":1', '"quantity":0')
            ),
            lambda: good.evolve(lines=()),
            lambda: Address(name=self.NAME, phone=int(self.PHONE)),
            lambda: Address(name=self.NAME, phone=self.PHONE, detail=self.STREET, extra="x"),  # type: ignore[call-arg]
        ]
        for attempt in attempts:
            with pytest.raises(SchemaError) as info:
                attempt()
            errors.append(info.value)
        return errors

    def test_order_reprs_are_clean(self) -> None:
        """repr and str of an order, its receiver and buyer hide the personal fields."""
        order = Order(**self.order_data())
        assert order.receiver is not None
        assert order.receiver.phone is not None
        assert order.receiver.phone.reveal() == self.PHONE
        self.assert_clean(
            repr(order),
            str(order),
            repr(order.receiver),
            str(order.receiver),
            repr(order.buyer),
            repr(order.model_dump()),
        )
        assert "139****5678" in repr(order.receiver)

    def test_schema_errors_are_clean(self) -> None:
        """SchemaError text, repr, problems and traceback carry no personal data."""
        for error in self.schema_errors():
            assert error.problems
            self.assert_clean(
                str(error),
                repr(error),
                repr(error.problems),
                error.message,
                "".join(traceback.format_exception(error)),
            )

    def test_logs_are_clean(self, caplog: pytest.LogCaptureFixture) -> None:
        """Logging an order or a failed validation, traceback included, leaks nothing."""
        logger = logging.getLogger("ordercore.tests.r16")
        order = Order(**self.order_data())
        with caplog.at_level(logging.DEBUG, logger="ordercore.tests.r16"):
            logger.info("stored %s", order)
            logger.info("stored %r receiver=%r", order, order.receiver)
            logger.info("receiver %s", order.receiver)
            for error in self.schema_errors():
                try:
                    raise error
                except SchemaError:
                    logger.exception("rejected order %s", error.channel_order_id)
        assert len(caplog.records) == 9
        self.assert_clean(caplog.text, *(r.getMessage() for r in caplog.records))
        assert "3861740395217345201" in caplog.text


class TestCiphertextHeuristic:
    def test_long_romanised_names_are_not_taken_for_ciphertext(self) -> None:
        """Letters only, however long, is plaintext; base64 with digits or + / = is not."""
        from ordercore.pii import looks_like_ciphertext

        assert not looks_like_ciphertext("zhangsanfengwangxiaoming")
        assert not looks_like_ciphertext("OuyangZhangsanfengXiaoming")
        assert not looks_like_ciphertext("12345678901234567890123")
        assert looks_like_ciphertext("AAS/ZFJFkdlsjkfdjklsdjfklsd=")
        assert looks_like_ciphertext("b3JkZXJjb3JlIGNpcGhlcnRleHQgc2FtcGxl0")


class TestEmailAddresses:
    """E-mail addresses follow one simple rule; anything else is refused."""

    @pytest.mark.parametrize(
        "value",
        [
            "bob.norman@hostmail.com",
            "john.doe+orders@example.co.uk",
            "29130*****@qq.com",
            "angel_l*******@yahoo.com.cn",
            "用户@例子.中国",
            "a@xn--fiqs8s.xn--fiqs8s",
        ],
    )
    def test_addresses_are_accepted(self, value: str) -> None:
        """Plain, tagged, platform-masked and international addresses pass."""
        assert is_email_address(value)
        assert EmailAddress(value).reveal() == value

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "bob",
            "bob@",
            "@shop.cn",
            "bob@example",
            "bob@@example.com",
            "bob smith@example.com",
            "bob@-example.com",
            "bob@example.c",
            "bob@example.123",
            "13800138000",
            "x" * 65 + "@example.com",
        ],
    )
    def test_non_addresses_are_refused_without_echo(self, value: str) -> None:
        """A value that is not an address raises PersonalDataError that does not repeat it."""
        assert not is_email_address(value)
        with pytest.raises(PersonalDataError) as caught:
            EmailAddress(value)
        assert caught.value.kind == "e-mail address"
        if value:
            assert value not in str(caught.value)

    def test_ciphertext_is_accepted_as_it_came(self) -> None:
        """A platform-encrypted e-mail is kept opaque, whatever it looks like."""
        assert EmailAddress(JD_TDE).masked == "<encrypted>"

    def test_a_model_refuses_an_invalid_address_by_field(self) -> None:
        """Inside a model the refusal is a SchemaError naming the field, in Python and JSON."""
        with pytest.raises(SchemaError) as caught:
            Buyer(email="wang.xiaoming at example.com")
        (problem,) = caught.value.problems
        assert (problem.field, problem.kind) == ("email", "personal-data-invalid")
        assert "wang.xiaoming" not in str(caught.value)
        with pytest.raises(SchemaError) as caught:
            Buyer.model_validate_json('{"email": "wang.xiaoming at example.com"}')
        assert caught.value.problems[0].kind == "personal-data-invalid"


class TestRedaction:
    """redact() and safe_repr() make any value fit for a message."""

    def test_mobiles_and_addresses_in_text_are_masked(self) -> None:
        """Numbers and addresses inside other text are masked, the rest kept."""
        assert redact("call 13800138000 or +8613912345678") == "call 138****8000 or +86****5678"
        assert redact("mail wang@example.com now") == "mail w***@example.com now"
        assert redact("order 3725362658812595205") == "order 3725362658812595205"

    def test_long_text_is_cut_with_its_length(self) -> None:
        """Text over the limit keeps its start and says how long it was."""
        assert redact("a" * 100, limit=10) == "aaaaaaaaaa…(100 chars)"
        assert redact("a" * 10, limit=10) == "a" * 10

    def test_a_number_across_the_cut_is_masked_before_cutting(self) -> None:
        """A mobile that straddles the limit never shows its digits half-cut."""
        assert redact("x" * 60 + "13800138000", limit=64) == "x" * 60 + "138*…(71 chars)"

    def test_safe_repr(self) -> None:
        """Strings are quoted, sensitive values masked, huge ints described."""
        assert safe_repr("13800138000") == "'138****8000'"
        assert safe_repr(PhoneNumber(PHONE)) == "PhoneNumber('138****8000')"
        assert safe_repr(10**5000) == "<int of 16610 bits>"
        assert safe_repr([1, 2]) == "[1, 2]"


class TestRedactGroupedNumbers:
    @pytest.mark.parametrize(
        ("text", "shown"),
        [
            ("+86 138-0013-8000", "+86****8000"),
            ("call 138 0013 8000 now", "call 138****8000 now"),
            ("86-13800138000", "86-****8000"),
        ],
    )
    def test_mobile_numbers_written_in_groups_are_masked(self, text: str, shown: str) -> None:
        """A mobile number split into 3-4-4 groups is masked like one written in one run."""
        from ordercore.pii import redact

        assert redact(text) == shown
        assert "0013" not in redact(text)

    def test_long_order_ids_are_left_alone(self) -> None:
        """Digit runs longer than a phone number (channel order ids) are not masked."""
        from ordercore.pii import redact

        assert redact("6900000000000138161") == "6900000000000138161"
