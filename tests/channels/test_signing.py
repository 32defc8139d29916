"""Request signing and push verification: the published vectors, the rules, the errors.

Vectors marked (A) in docs FORMATS.md §9 are published by a platform or its docs;
those marked (B) were computed from the documented rule by the research notes and
are checked here too. Where no vector exists (Douyin SPI requests checked by
verify_request, WeChat safe mode, Youzan with ``Client-Id``, Xiaohongshu push with
extra query parameters) the expected value is built in the test from the
documented rule by a second, straightforward implementation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import pickle
import re
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordercore.channels import (
    REASONS,
    SCHEMES,
    PushCheck,
    PushRequest,
    Secret,
    SignatureError,
    SigningScheme,
    VerifiedPush,
    VerifiedRequest,
    canonical_json,
    register_scheme,
    sign_request,
    verify_push,
    verify_request,
)
from ordercore.errors import ConfigurationError, OrderCoreError

T1700 = datetime.fromtimestamp(1_700_000_000, UTC)

TAOBAO = {
    "method": "taobao.user.seller.get",
    "timestamp": "2013-05-06 13:52:03",
    "format": "xml",
    "app_key": "test",
    "v": "2.0",
    "fields": "nick",
    "sign_method": "md5",
    "session": "test",
}
PDD = {
    "type": "pdd.order.information.get",
    "client_id": "testclient",
    "access_token": "testtoken",
    "timestamp": "1700000000",
    "data_type": "JSON",
    "version": "V1",
    "order_sn": "180831-481803633911509",
}
JD = {
    "method": "jingdong.pop.order.search",
    "app_key": "testkey",
    "access_token": "testtoken",
    "timestamp": "2024-01-01 12:00:00",
    "v": "2.0",
    "360buy_param_json": (
        '{"start_date":"2024-01-01 00:00:00","end_date":"2024-01-01 23:59:59",'
        '"order_state":"WAIT_SELLER_STOCK_OUT","optional_fields":"orderId,orderState",'
        '"page":"1","page_size":"100"}'
    ),
}
DOUYIN = {
    "app_key": "testkey",
    "method": "order.searchList",
    "timestamp": "1700000000",
    "v": "2",
    "param_json": '{"page":0,"size":20}',
}
DOUYIN_PUSH = (
    b'[{"tag":"100","msg_id":"7000000000000000000:0:100:1700000000:1234567890:'
    b'7000000000000000001","data":"{\\"biz\\":2,\\"create_time\\":1700000000,'
    b'\\"order_status\\":1,\\"order_type\\":0,\\"p_id\\":7000000000000000001,'
    b'\\"s_ids\\":[7000000000000000002],\\"shop_id\\":1234567}"}]'
)
YOUZAN_BODY = (
    b'{"client_id":"testclientid","id":"E20190326101702000600011","kdt_id":1,"msg":"%7B%7D",'
    b'"status":"TRADE_PAID","type":"trade_TradePaid","version":1553566629}'
)


class TestRequestVectors:
    def test_taobao_md5_published_example(self) -> None:
        """(A) The TOP md5 worked example reproduces exactly."""
        assert sign_request("taobao", TAOBAO, Secret("test")) == "72CB4D809B375A54502C09360D879C64"

    @pytest.mark.parametrize(
        ("method", "expected"),
        [
            ("hmac", "FA15A9D5B42AB2D6F3397843851ED09A"),
            (
                "hmac-sha256",
                "267B9C1C7A2FE1CE413DBB95E596616D32107AE0992BE2C22143CFCE303E8E34",
            ),
        ],
    )
    def test_taobao_hmac_vectors(self, method: str, expected: str) -> None:
        """(B) TOP hmac and hmac-sha256 with sign_method set in the params or by method=."""
        params = {**TAOBAO, "sign_method": method}
        assert sign_request("taobao", params, Secret("test")) == expected
        assert sign_request("taobao", params, Secret("test"), method=method) == expected

    def test_taobao_method_disagreeing_with_sign_method_is_refused(self) -> None:
        with pytest.raises(SignatureError) as caught:
            sign_request("taobao", TAOBAO, Secret("test"), method="hmac")
        assert caught.value.reason == "malformed"

    def test_taobao_ignores_sign_and_empty_values(self) -> None:
        """``sign`` itself and empty values do not take part (official TOP SDKs skip them)."""
        base = sign_request("taobao", TAOBAO, Secret("test"))
        with_extra = {**TAOBAO, "sign": "WHATEVER", "partner_id": ""}
        assert sign_request("taobao", with_extra, Secret("test")) == base

    def test_pdd_vector(self) -> None:
        """(B) Pinduoduo md5."""
        assert sign_request("pdd", PDD, Secret("testsecret")) == "D5E671E004892EAC8787D695C1C45218"

    def test_jd_vector(self) -> None:
        """(B) JD JOS md5 with 360buy_param_json."""
        assert sign_request("jd", JD, Secret("testsecret")) == "22298B18FB83CBDE8D880540BDC64F43"

    def test_douyin_vectors(self) -> None:
        """(B) Douyin hmac-sha256 (the default) and md5, lower-case hex."""
        secret = Secret("testsecret")
        assert sign_request("douyin", DOUYIN, secret) == (
            "123ffa5264c0aa48eea804ca1280ddf28b8d049fe0e49e3973b8ef731d90e5a4"
        )
        assert sign_request("douyin", DOUYIN, secret, method="md5") == (
            "c5d22f01c55eb71f4ff692bbf9cd252d"
        )

    def test_douyin_signs_only_its_five_params(self) -> None:
        """access_token and sign_method travel but are not signed."""
        secret = Secret("testsecret")
        more = {**DOUYIN, "access_token": "tok", "sign_method": "hmac-sha256"}
        assert sign_request("douyin", more, secret) == sign_request("douyin", DOUYIN, secret)

    def test_xiaohongshu_vector(self) -> None:
        """(B) Xiaohongshu API md5 over method?appId&timestamp&version + secret."""
        params = {
            "method": "order.getOrderDetail",
            "appId": "testappid",
            "timestamp": "1700000000",
            "version": "2.0",
            "accessToken": "not signed",
        }
        assert sign_request("xiaohongshu", params, Secret("testsecret")) == (
            "2b6c1c0cae46f4af3ca30334399f8906"
        )

    def test_canonical_json_is_what_douyin_signs(self) -> None:
        assert canonical_json({"size": 20, "page": 0}) == DOUYIN["param_json"]
        assert (
            canonical_json({"b": {"d": 1, "c": "中"}, "a": []}) == '{"a":[],"b":{"c":"中","d":1}}'
        )

    @pytest.mark.parametrize("channel", ["youzan", "wechat_channels", "shopify", "woocommerce"])
    def test_channels_without_request_signatures(self, channel: str) -> None:
        with pytest.raises(SignatureError) as caught:
            sign_request(channel, {"a": "b"}, Secret("s"))
        assert (caught.value.reason, caught.value.channel) == ("unknown_scheme", channel)

    def test_unknown_channel_and_method(self) -> None:
        with pytest.raises(SignatureError) as caught:
            sign_request("ebay", {}, Secret("s"))
        assert caught.value.reason == "unknown_scheme"
        with pytest.raises(SignatureError) as caught:
            sign_request("jd", JD, Secret("s"), method="sha1")
        assert caught.value.reason == "unknown_scheme"

    def test_missing_signed_param(self) -> None:
        params = {k: v for k, v in DOUYIN.items() if k != "param_json"}
        with pytest.raises(SignatureError) as caught:
            sign_request("douyin", params, Secret("s"))
        assert caught.value.reason == "missing"
        assert "param_json" in caught.value.message


class TestVerifyRequest:
    def test_accepts_the_signature_and_reports_the_secret(self) -> None:
        sign = sign_request("pdd", PDD, Secret("testsecret"))
        verified = verify_request(
            "pdd", {**PDD, "sign": sign}, [Secret("new"), Secret("testsecret")], now=T1700
        )
        assert (verified.secret_index, verified.method, verified.timestamp) == (1, "md5", T1700)

    def test_lower_case_hex_is_the_same_digest(self) -> None:
        sign = sign_request("pdd", PDD, Secret("testsecret")).lower()
        assert verify_request("pdd", {**PDD, "sign": sign}, [Secret("testsecret")], now=T1700)

    def test_taobao_timestamp_is_beijing_time(self) -> None:
        params = {**TAOBAO, "sign": "72CB4D809B375A54502C09360D879C64"}
        signed_at = datetime(2013, 5, 6, 5, 52, 3, tzinfo=UTC)
        verified = verify_request("taobao", params, [Secret("test")], now=signed_at)
        assert verified.timestamp == signed_at
        with pytest.raises(SignatureError) as caught:
            verify_request("taobao", params, [Secret("test")], now=signed_at + timedelta(hours=8))
        assert caught.value.reason == "stale"

    def test_douyin_spi_request(self) -> None:
        """Douyin's SPI callbacks sign like its API calls: checked against a second build."""
        key = b"testsecret"
        text = b"".join(k.encode() + DOUYIN[k].encode() for k in sorted(DOUYIN))
        sign = hmac.new(key, key + text + key, hashlib.sha256).hexdigest()
        params = {**DOUYIN, "sign": sign, "sign_method": "hmac-sha256"}
        assert verify_request("douyin", params, [Secret("testsecret")], now=T1700).secret_index == 0

    def test_wrong_length_is_malformed(self) -> None:
        params = {**PDD, "sign": "D5E671E004892EAC8787D695C1C452"}
        with pytest.raises(SignatureError) as caught:
            verify_request("pdd", params, [Secret("testsecret")], now=T1700)
        assert caught.value.reason == "malformed"


class TestPushVectors:
    def test_douyin_event_sign(self) -> None:
        """(B) Douyin event-sign = md5(app_key + body + secret), app key from app-id."""
        headers = {"Event-Sign": "c2da7582e06b66260e9b3e57862c0ed3", "App-Id": "testkey"}
        verified = verify_push("douyin", headers, DOUYIN_PUSH, [Secret("testsecret")])
        assert verified == VerifiedPush(
            "douyin", "douyin-event-sign", 0, None, DOUYIN_PUSH, body_signed=True
        )

    def test_douyin_app_key_from_the_secret(self) -> None:
        headers = {"event-sign": "c2da7582e06b66260e9b3e57862c0ed3"}
        secret = Secret("testsecret", app_key="testkey")
        assert verify_push("douyin", headers, DOUYIN_PUSH, [secret]).secret_index == 0
        with pytest.raises(SignatureError) as caught:
            verify_push("douyin", headers, DOUYIN_PUSH, [Secret("testsecret")])
        assert caught.value.reason == "missing"

    def test_douyin_push_naming_another_app_does_not_match(self) -> None:
        headers = {"event-sign": "c2da7582e06b66260e9b3e57862c0ed3", "app-id": "testkey"}
        with pytest.raises(SignatureError) as caught:
            verify_push("douyin", headers, DOUYIN_PUSH, [Secret("testsecret", app_key="other")])
        assert caught.value.reason == "mismatch"

    def test_douyin_unknown_sign_method(self) -> None:
        headers = {
            "event-sign": "c2da7582e06b66260e9b3e57862c0ed3",
            "app-id": "testkey",
            "sign-method": "hmac-sha256",
        }
        with pytest.raises(SignatureError) as caught:
            verify_push("douyin", headers, DOUYIN_PUSH, [Secret("testsecret")])
        assert caught.value.reason == "unknown_scheme"

    def test_youzan_event_sign(self) -> None:
        """(B) Youzan Event-Sign, client id read from the body."""
        headers = {"event-sign": "a9ad0029175fbb92e280db66908eafdc"}
        verified = verify_push("youzan", headers, YOUZAN_BODY, [Secret("testclientsecret")])
        assert (verified.scheme, verified.signed) == ("youzan-event-sign", YOUZAN_BODY)

    def test_youzan_event_sign_with_client_id_header(self) -> None:
        """No vector: md5(Client-Id + body + secret) built here from the rule."""
        body = b'{"type":"trade_TradePaid"}'
        sign = hashlib.md5(b"cid" + body + b"sec").hexdigest()
        headers = {"Event-Sign": sign, "Client-Id": "cid"}
        assert verify_push("youzan", headers, body, [Secret("sec")]).secret_index == 0

    def test_youzan_event_sign_without_a_client_id(self) -> None:
        """No Client-Id header, no client_id in the body, none on the secret: missing."""
        headers = {"event-sign": "a9ad0029175fbb92e280db66908eafdc"}
        with pytest.raises(SignatureError) as caught:
            verify_push("youzan", headers, b'{"id":"E1"}', [Secret("testclientsecret")])
        assert caught.value.reason == "missing"
        secret = Secret("testclientsecret", app_key="testclientid")
        assert verify_push("youzan", headers, YOUZAN_BODY, [secret]).secret_index == 0

    def test_youzan_legacy_sign(self) -> None:
        """(B) The legacy in-body sign covers client_id + the still URL-encoded msg."""
        msg = "%7B%22full_order_info%22%3A%7B%7D%7D"
        body = json.dumps(
            {
                "client_id": "testclientid",
                "msg": msg,
                "sign": "5e89a62fb457ad55fa5f95de197dc53d",
                "type": "trade_TradePaid",
            }
        ).encode()
        verified = verify_push("youzan", {}, body, [Secret("testclientsecret")])
        assert (verified.scheme, verified.signed) == ("youzan-legacy-sign", msg.encode())

    def test_xiaohongshu_published_example(self) -> None:
        """(A) The official push example, whose query parameter is signed too."""
        headers = {"sign": "a7b7430de338783293443133ab9b9357", "app-key": "xhs"}
        headers["timestamp"] = "1625475843"
        now = datetime.fromtimestamp(1625475843, UTC)
        verified = verify_push(
            "xiaohongshu",
            headers,
            b'{"test":true}',
            [Secret("9a539709cafc1efc9ef05838be468a28")],
            url="https://example.com/open_api/msg?canshu=test",
            now=now,
        )
        assert (verified.body_signed, verified.signed, verified.timestamp) == (False, b"", now)

    def test_xiaohongshu_vector(self) -> None:
        """(B) Without query parameters."""
        headers = {
            "sign": "4ae4736cd2cafb11c3512044980a3654",
            "app-key": "testappkey",
            "timestamp": "1700000000",
        }
        verified = verify_push(
            "xiaohongshu", headers, b"[]", [Secret("testsecret")], url="/open_api/msg", now=T1700
        )
        assert verified.scheme == "xiaohongshu-sign"

    def test_wechat_plain_signature(self) -> None:
        """(B) sha1 of the sorted token, timestamp and nonce; the body is not covered."""
        url = (
            "/cb?signature=ee0843455eb31b87dbf6d6890273a3ab976bd56e"
            "&timestamp=1700000000&nonce=nonce123"
        )
        verified = verify_push(
            "wechat_channels", {}, b"", [Secret("testtoken")], url=url, now=T1700
        )
        assert (verified.scheme, verified.body_signed) == ("wechat-signature", False)

    def test_wechat_signed_parameter_given_twice(self) -> None:
        url = (
            "/cb?signature=ee0843455eb31b87dbf6d6890273a3ab976bd56e"
            "&timestamp=1700000000&nonce=nonce123&nonce=other"
        )
        with pytest.raises(SignatureError) as caught:
            verify_push("wechat_channels", {}, b"", [Secret("testtoken")], url=url, now=T1700)
        assert caught.value.reason == "malformed"

    @pytest.mark.parametrize("xml", [False, True])
    def test_wechat_safe_mode(self, xml: bool) -> None:
        """No vector: msg_signature = sha1(sorted token, timestamp, nonce, Encrypt) built here."""
        encrypt = "c2VjcmV0IG1lc3NhZ2U="
        sig = hashlib.sha1("".join(sorted(["tok", "1700000000", "n1", encrypt])).encode())
        url = f"/cb?timestamp=1700000000&nonce=n1&signature=x&msg_signature={sig.hexdigest()}"
        if xml:
            body = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
        else:
            body = json.dumps({"ToUserName": "gh", "Encrypt": encrypt}).encode()
        verified = verify_push("wechat_channels", {}, body, [Secret("tok")], url=url, now=T1700)
        assert (verified.scheme, verified.signed) == ("wechat-msg-signature", encrypt.encode())
        assert verified.body_signed

    def test_woocommerce_vector(self) -> None:
        """(B)"""
        headers = {"x-wc-webhook-signature": "xqMnJTjHw7H8Td+BQnmCqsVmZO5N8EkSnExG0z9BtzY="}
        body = b'{"id":727,"status":"processing"}'
        assert verify_push("woocommerce", headers, body, [Secret("testsecret")]).secret_index == 0

    def test_shopify_vector(self) -> None:
        """(C) A third-party Shopify vector, reproduced."""
        headers = {"X-SHOPIFY-HMAC-SHA256": "QNyObTlKbMx2qDlPF/ZOZcBqg5OgPg+2oky3zldc0Gw="}
        body = b'{"id":1234567890,"email":"customer@example.com","total_price":"123.45"}'
        verified = verify_push("shopify", headers, body, [Secret(b"test-webhook-secret")])
        assert verified.signed == body

    def test_base64_is_case_sensitive(self) -> None:
        headers = {"X-Shopify-Hmac-SHA256": "qnyobtlkbmx2qdlpf/zozcbqg5ogpg+2oky3zldc0gw="}
        body = b'{"id":1234567890,"email":"customer@example.com","total_price":"123.45"}'
        with pytest.raises(SignatureError) as caught:
            verify_push("shopify", headers, body, [Secret("test-webhook-secret")])
        assert caught.value.reason == "mismatch"

    @pytest.mark.parametrize("channel", ["taobao", "jd", "pdd"])
    def test_channels_without_signed_pushes(self, channel: str) -> None:
        """Taobao and Pinduoduo push over an authenticated WebSocket; JD has no push spec."""
        with pytest.raises(SignatureError) as caught:
            verify_push(channel, {"sign": "x"}, b"{}", [Secret("s")])
        assert caught.value.reason == "unknown_scheme"

    def test_headers_differing_only_in_case_must_agree(self) -> None:
        headers = {"X-WC-Webhook-Signature": "a", "x-wc-webhook-signature": "b"}
        with pytest.raises(SignatureError) as caught:
            verify_push("woocommerce", headers, b"{}", [Secret("s")])
        assert caught.value.reason == "malformed"


class TestSecret:
    def test_masked_everywhere(self) -> None:
        secret = Secret("hunter2-very-secret")
        assert repr(secret) == "Secret('***')"
        assert str(secret) == f"{secret}" == "***"
        assert "hunter2" not in repr([secret, {"k": secret}])
        assert secret.reveal() == b"hunter2-very-secret"

    @pytest.mark.parametrize("value", ["", b""])
    def test_refuses_empty(self, value: str | bytes) -> None:
        with pytest.raises(ConfigurationError):
            Secret(value)

    def test_refuses_other_types_and_pickling(self) -> None:
        with pytest.raises(ConfigurationError):
            Secret(123)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            pickle.dumps(Secret("s"))

    def test_immutable(self) -> None:
        secret = Secret("s")
        with pytest.raises(AttributeError):
            secret._value = b"t"


class TestSignatureError:
    def test_class_shape(self) -> None:
        assert issubclass(SignatureError, OrderCoreError)
        assert issubclass(SignatureError, ValueError)
        assert SignatureError.code == "channel-signature"
        assert {"missing", "malformed", "mismatch", "stale", "unknown_scheme"} == REASONS

    def test_refuses_unknown_reason(self) -> None:
        with pytest.raises(ValueError):
            SignatureError("x", channel="jd", reason="nope")  # type: ignore[arg-type]

    def test_no_secret_signature_or_body_in_text(self) -> None:
        """Every failure path keeps the secret, the signature and the body out of the error."""
        secret_text = "S3CRET-sentinel-value"
        signature = base64.b64encode(b"SIGSENTINEL" + bytes(21)).decode()
        body = b'{"phone":"13800138000","BODYSENTINEL":1}'
        attempts: list[Callable[[], object]] = [
            lambda: verify_push(
                "shopify", {"x-shopify-hmac-sha256": signature}, body, [Secret(secret_text)]
            ),
            lambda: verify_push(
                "shopify", {"x-shopify-hmac-sha256": signature[:-3]}, body, [Secret(secret_text)]
            ),
            lambda: verify_push("youzan", {}, body, [Secret(secret_text)]),
            lambda: verify_request(
                "pdd", {**PDD, "sign": "AB" * 16}, [Secret(secret_text)], now=T1700
            ),
        ]
        for attempt in attempts:
            with pytest.raises(SignatureError) as caught:
                attempt()
            error = caught.value
            shown = " ".join(
                [str(error), repr(error), error.message, *traceback.format_exception(error)]
            )
            for sentinel in (secret_text, signature, signature[:-3], "SIGSENTINEL", "AB" * 16):
                assert sentinel not in shown
            assert "BODYSENTINEL" not in shown and "13800138000" not in shown

    def test_pickles_with_its_attributes(self) -> None:
        error = SignatureError("jd: bad", channel="jd", reason="mismatch")
        copy = pickle.loads(pickle.dumps(error))
        assert (copy.channel, copy.reason, copy.message) == ("jd", "mismatch", "jd: bad")


class TestRegistry:
    def test_every_channel_has_a_scheme(self) -> None:
        assert {
            "taobao",
            "jd",
            "pdd",
            "douyin",
            "youzan",
            "wechat_channels",
            "xiaohongshu",
            "shopify",
            "woocommerce",
        } <= set(SCHEMES)

    def test_a_connector_registers_its_own(self) -> None:
        class ExampleScheme(SigningScheme):
            channel = "example_shop"

            def push_check(self, request: PushRequest) -> PushCheck:
                sig = request.headers.get("x-example-sign", "")
                body = request.body
                return PushCheck(
                    "example", sig, lambda s: hashlib.sha256(s.reveal() + body).hexdigest()
                )

        scheme = ExampleScheme()
        try:
            register_scheme(scheme)
            with pytest.raises(ConfigurationError):
                register_scheme(ExampleScheme())
            sig = hashlib.sha256(b"k" + b"payload").hexdigest().upper()
            verified = verify_push(
                "example_shop", {"X-Example-Sign": sig}, b"payload", [Secret("k")]
            )
            assert verified.scheme == "example"
        finally:
            SCHEMES.pop("example_shop", None)

    def test_register_refuses_bad_names(self) -> None:
        with pytest.raises(ConfigurationError):
            register_scheme(SigningScheme())


HEADER_NAMES = st.sampled_from(
    [
        "event-sign",
        "Event-Sign",
        "app-id",
        "client-id",
        "sign",
        "app-key",
        "timestamp",
        "sign-method",
        "x-shopify-hmac-sha256",
        "X-WC-Webhook-Signature",
        "content-type",
    ]
)
HEADER_VALUES = st.one_of(
    st.text(max_size=70),
    st.text(alphabet="0123456789abcdefABCDEF", min_size=30, max_size=66),
    st.from_regex(r"[A-Za-z0-9+/]{43}=", fullmatch=True),
    st.sampled_from(["md5", "hmac-sha256", "1700000000", "testkey", "", "\ud800", "中文"]),
    st.text(st.characters(min_codepoint=0xD700, max_codepoint=0xE000), max_size=5),
)
BODIES = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda v: json.dumps(v).encode(), st.dictionaries(st.text(), st.text(), max_size=4)),
    st.just(YOUZAN_BODY),
    st.just(DOUYIN_PUSH),
    st.just(b"[" * 5000),
    st.just(b"<xml><Encrypt>abc</Encrypt></xml>"),
)
URLS = st.one_of(
    st.none(),
    st.text(max_size=80),
    st.builds(
        lambda q: "/cb?" + q,
        st.text(alphabet="abcdefgimnrstu=&%0123456789", max_size=80),
    ),
)


@settings(max_examples=400, deadline=None)
@given(
    channel=st.sampled_from([*sorted(SCHEMES), "nope"]),
    headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=6),
    body=BODIES,
    url=URLS,
    keyed=st.booleans(),
)
def test_fuzzed_pushes_raise_only_signature_errors(
    channel: str, headers: dict[str, str], body: bytes, url: str | None, keyed: bool
) -> None:
    """Random headers, bodies and URLs: a verdict or a SignatureError, nothing else."""
    secrets = [Secret("testsecret", app_key="testkey" if keyed else None)]
    outcome: VerifiedPush | SignatureError
    try:
        outcome = verify_push(channel, headers, body, secrets, url=url, now=T1700)
    except SignatureError as error:
        outcome = error
    if isinstance(outcome, SignatureError):
        assert outcome.reason in REASONS
        assert "testsecret" not in str(outcome)
    else:
        assert isinstance(outcome, VerifiedPush)


GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "channels-signing.md"


def test_guide_example_runs_as_written() -> None:
    """The guide's runnable block gives the values its text states."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(GUIDE), "exec"), namespace)
    assert isinstance(namespace["pushed"], VerifiedPush)
    assert namespace["pushed"].secret_index == 1
    assert namespace["reason"] == "mismatch"
    assert namespace["signature"] == "72CB4D809B375A54502C09360D879C64"
    assert "`signature` is `'72CB4D809B375A54502C09360D879C64'`" in GUIDE.read_text("utf-8")


def test_guide_lists_every_registered_channel() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for channel in SCHEMES:
        assert f"| `{channel}`" in text, channel


PARAM_NAMES = st.sampled_from(
    [
        "sign",
        "timestamp",
        "sign_method",
        "app_key",
        "method",
        "param_json",
        "v",
        "appId",
        "version",
        "type",
        "client_id",
        "x",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    channel=st.sampled_from([*sorted(SCHEMES), "nope"]),
    params=st.dictionaries(PARAM_NAMES, HEADER_VALUES, max_size=8),
    method=st.sampled_from([None, "md5", "hmac", "hmac-sha256", "sha1"]),
)
def test_fuzzed_requests_raise_only_signature_errors(
    channel: str, params: dict[str, str], method: str | None
) -> None:
    """Random parameters: a verdict or a SignatureError, nothing else."""
    outcome: VerifiedRequest | SignatureError
    try:
        outcome = verify_request(channel, params, [Secret("testsecret")], method=method, now=T1700)
    except SignatureError as error:
        outcome = error
    if isinstance(outcome, SignatureError):
        assert outcome.reason in REASONS
    else:
        assert isinstance(outcome, VerifiedRequest)
