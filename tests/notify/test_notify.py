"""Notification, the Notifier protocol, open_notifier, the log notifier and plugins."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
from typing import Any

import pytest

from ordercore import plugins
from ordercore.errors import ConfigurationError, PluginLoadError, PluginNotFound
from ordercore.notify import (
    LEVELS,
    DingTalkNotifier,
    LogNotifier,
    Notification,
    Notifier,
    WeComNotifier,
    open_notifier,
)
from ordercore.pii import PhoneNumber


class TestNotification:
    def test_values_are_normalised(self) -> None:
        """One order id becomes a tuple; digit mentions become PhoneNumbers, others user ids."""
        note = Notification(
            "t", order_ids="O-1", mentions=["13800138000", "+86 139-1234-5678", "ops.lead"]
        )
        assert note.order_ids == ("O-1",)
        assert note.mentioned_phones == (
            PhoneNumber("13800138000"),
            PhoneNumber("+86 139-1234-5678"),
        )
        assert note.mentioned_user_ids == ("ops.lead",)
        assert note.level == "info" and note.text == "" and dict(note.data) == {}

    def test_it_is_frozen_hashable_and_compared_by_value(self) -> None:
        """Fields cannot be set; equal notifications are equal and hash alike."""
        first = Notification("t", data={"a": [1, 2]}, order_ids=["O-1"])
        second = Notification("t", data={"a": [1, 2]}, order_ids=("O-1",))
        assert first == second and hash(first) == hash(second)
        with pytest.raises(dataclasses.FrozenInstanceError):
            first.title = "x"  # type: ignore[misc]
        with pytest.raises(TypeError):
            first.data["a"] = 3  # type: ignore[index]

    def test_data_is_copied(self) -> None:
        """Changing the dict passed in does not change the notification."""
        data: dict[str, Any] = {"count": 1}
        note = Notification("t", data=data)
        data["count"] = 2
        assert note.data["count"] == 1

    def test_the_levels(self) -> None:
        """The three levels, least urgent first."""
        assert LEVELS == ("info", "warning", "critical")

    @pytest.mark.parametrize(
        ("options", "problem"),
        [
            ({"title": ""}, "title must be a non-empty string"),
            ({"title": "   "}, "title must be a non-empty string"),
            ({"title": 5}, "title must be a non-empty string"),
            ({"title": "t", "text": None}, "text must be a string, got NoneType"),
            ({"title": "t", "level": "error"}, "level must be one of info, warning, critical"),
            ({"title": "t", "order_ids": ["O-1", ""]}, "order_ids[1] must be a non-empty"),
            ({"title": "t", "order_ids": 7}, "order_ids must be an order id or a sequence"),
            ({"title": "t", "data": {"at": object()}}, "data must hold only JSON values"),
            ({"title": "t", "data": {"x": float("nan")}}, "data must hold only JSON values"),
            ({"title": "t", "data": {1: "a"}}, "data keys must be strings"),
            ({"title": "t", "data": [1]}, "data must be a mapping"),
            ({"title": "t", "mentions": [""]}, "mentions[0] must be a non-empty string"),
            ({"title": "t", "mention_all": "yes"}, "mention_all must be a bool"),
        ],
    )
    def test_invalid_values_are_configuration_errors(
        self, options: dict[str, Any], problem: str
    ) -> None:
        """Each bad field is named in a ConfigurationError."""
        with pytest.raises(ConfigurationError) as caught:
            Notification(**options)
        assert problem in caught.value.message

    def test_repr_masks_phones_in_mentions_text_and_data(self) -> None:
        """A repr never shows a whole phone number, wherever it was put."""
        note = Notification(
            "call 13912345678",
            text="receiver 13912345678",
            data={"phone": "13912345678"},
            mentions=["13912345678"],
        )
        assert "13912345678" not in repr(note)
        assert "139****5678" in repr(note)


class TestProtocol:
    def test_built_in_notifiers_satisfy_the_protocol(self) -> None:
        """The three built-ins are Notifiers; an object without notify is not."""
        dingtalk, wecom = DingTalkNotifier("T"), WeComNotifier("K")
        try:
            assert isinstance(LogNotifier(), Notifier)
            assert isinstance(dingtalk, Notifier) and isinstance(wecom, Notifier)
        finally:
            dingtalk.close()
            wecom.close()
        assert not isinstance(object(), Notifier)

    def test_importing_the_package_does_not_import_httpx(self) -> None:
        """The robot notifiers (and httpx) load on first use, not with ordercore.notify."""
        code = (
            "import sys, ordercore.notify as n\n"
            "assert 'httpx' not in sys.modules and 'tenacity' not in sys.modules\n"
            "n.DingTalkNotifier\n"
            "assert 'httpx' in sys.modules\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


class TestOpenNotifier:
    def test_the_default_is_the_log_notifier(self) -> None:
        """open_notifier() with no URL is log:// on the ordercore.notify logger."""
        notifier = open_notifier()
        assert isinstance(notifier, LogNotifier)
        assert notifier.logger.name == "ordercore.notify"

    def test_log_urls(self) -> None:
        """log://?logger=NAME picks the logger; logging:// is an alias."""
        notifier = open_notifier("logging://?logger=shop.alerts")
        assert isinstance(notifier, LogNotifier) and notifier.logger.name == "shop.alerts"

    @pytest.mark.parametrize(
        "url", ["log://somewhere", "log://?level=debug", "log+x://", "log:///path"]
    )
    def test_malformed_log_urls(self, url: str) -> None:
        """A log URL has no host, path or other parameter."""
        with pytest.raises(ConfigurationError, match="log://"):
            open_notifier(url)

    def test_an_unknown_scheme_is_plugin_not_found(self) -> None:
        """No notifier for pager://: PluginNotFound lists what is installed."""
        with pytest.raises(PluginNotFound, match="dingtalk, log, wecom"):
            open_notifier("pager://ops")

    def test_a_url_without_scheme_names_the_examples_not_the_url(self) -> None:
        """A URL missing its scheme is a ConfigurationError that does not repeat it."""
        with pytest.raises(ConfigurationError, match="no scheme") as caught:
            open_notifier("access_token=t0ken-s3nt1nel")
        assert "s3nt1nel" not in str(caught.value)
        assert "'log://'" in str(caught.value)

    def test_a_plugin_notifier_is_opened_by_its_scheme(self) -> None:
        """A registered class with from_url and notify is opened and checked like a built-in."""
        sent: list[Notification] = []

        class Pager:
            @classmethod
            def from_url(cls, url: str, **options: Any) -> Pager:
                return cls()

            def notify(self, message: Notification) -> None:
                sent.append(message)

        with plugins.register("ordercore.notifiers", "pager", Pager):
            notifier = open_notifier("pager://ops")
            notifier.notify(Notification("hello"))
        assert isinstance(notifier, Pager) and [m.title for m in sent] == ["hello"]

    def test_a_plugin_without_notify_is_refused(self) -> None:
        """A class lacking notify does not load: PluginLoadError names what is missing."""

        class Broken:
            @classmethod
            def from_url(cls, url: str, **options: Any) -> Broken:
                return cls()

        with (
            plugins.register("ordercore.notifiers", "broken", Broken),
            pytest.raises(PluginLoadError, match="lacks notify"),
        ):
            open_notifier("broken://")


class TestLogNotifier:
    def test_one_line_with_masked_mentions(self, caplog: pytest.LogCaptureFixture) -> None:
        """One WARNING record on ordercore.notify, on one line, phones masked."""
        caplog.set_level(logging.DEBUG)
        message = Notification(
            "Order stuck",
            text="No scan for 6 h.\nCall 13912345678 now.",
            level="warning",
            order_ids=("O-1", "O-2"),
            data={"warehouse": "SH-1", "receiver": "13912345678"},
            mentions=["13800138000", "ops.lead"],
            mention_all=True,
        )
        open_notifier("log://").notify(message)
        [record] = [r for r in caplog.records if r.name == "ordercore.notify"]
        assert record.levelno == logging.WARNING
        line = record.getMessage()
        assert "\n" not in line
        assert line == (
            "notification [warning] Order stuck | No scan for 6 h. Call 139****5678 now. | "
            "orders=O-1,O-2 | mentions=138****8000,ops.lead,@all | "
            'data={"receiver": "139****5678", "warehouse": "SH-1"}'
        )
        assert "13800138000" not in caplog.text and "13912345678" not in caplog.text

    @pytest.mark.parametrize(
        ("level", "levelno"),
        [("info", logging.INFO), ("warning", logging.WARNING), ("critical", logging.CRITICAL)],
    )
    def test_the_level_picks_the_record_level(
        self, caplog: pytest.LogCaptureFixture, level: Any, levelno: int
    ) -> None:
        """info, warning and critical map to INFO, WARNING and CRITICAL."""
        caplog.set_level(logging.DEBUG, logger="ordercore.notify")
        LogNotifier().notify(Notification("t", level=level))
        assert [r.levelno for r in caplog.records] == [levelno]

    def test_something_else_than_a_notification_is_refused(self) -> None:
        """notify() takes a Notification, not a string."""
        with pytest.raises(ConfigurationError, match="takes a Notification, got str"):
            LogNotifier().notify("hello")  # type: ignore[arg-type]
