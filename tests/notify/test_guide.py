"""The code in docs/guides/notifiers.md runs as written and does what it says."""

from __future__ import annotations

import contextlib
import io
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from ordercore import plugins
from ordercore.errors import NotifyError, PluginNotFound
from ordercore.notify import (
    DingTalkNotifier,
    Notification,
    RetryPolicy,
    WeComNotifier,
    open_notifier,
)

GUIDE = Path(__file__).resolve().parents[2] / "docs/guides/notifiers.md"


def _blocks(fence: str) -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    return re.findall(rf"^```{fence}\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


def _run(code: str) -> tuple[dict[str, Any], str]:
    namespace: dict[str, Any] = {"__name__": "guide"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(GUIDE), "exec"), namespace)
    return namespace, out.getvalue()


def test_the_guide_has_two_runnable_blocks() -> None:
    """The message example and the plugin example are fenced ```python; the rest are fragments."""
    assert len(_blocks("python")) == 2


def test_the_message_example_logs_the_line_the_guide_shows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first block prints the masked mentions and logs exactly the ```text line."""
    caplog.set_level(logging.INFO, logger="ordercore.notify")
    namespace, out = _run(_blocks("python")[0])
    assert out == "(PhoneNumber('138****8000'), 'manager4220')\n"
    assert isinstance(namespace["message"], Notification)
    [shown] = _blocks("text")
    assert [record.getMessage() for record in caplog.records] == [shown.strip()]


def test_the_plugin_example_registers_opens_and_unregisters() -> None:
    """The second block prints one line; afterwards console:// is not registered any more."""
    namespace, out = _run(_blocks("python")[1])
    assert out == "info: Balance due O-7\n"
    notifier = namespace["ConsoleNotifier"]()
    with pytest.raises(NotifyError, match="console cannot page anyone") as caught:
        notifier.notify(Notification("down", level="critical"))
    assert caught.value.notifier == "console"
    assert "console" not in {info.name for info in plugins.registered("ordercore.notifiers")}
    with pytest.raises(PluginNotFound):
        open_notifier("console://")


def test_the_url_fragments_open_what_they_say() -> None:
    """The DingTalk, WeCom and retry fragments' URLs open the notifiers the guide names."""
    text = GUIDE.read_text(encoding="utf-8")
    urls = re.findall(r'open_notifier\(\s*"([^"]+)"', text)
    assert "dingtalk://?access_token=TOKEN&secret=SECRET" in urls
    assert "wecom+https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY" in urls
    kinds = {"dingtalk": DingTalkNotifier, "wecom": WeComNotifier}
    for url in urls:
        if url == "console://":
            continue
        notifier = open_notifier(url)
        assert isinstance(notifier, kinds[url.partition(":")[0].partition("+")[0]]), url
        assert isinstance(notifier, DingTalkNotifier | WeComNotifier)
        notifier.close()
    assert len(urls) == 6
    policy = RetryPolicy(attempts=5, total_seconds=30.0, timeout=5.0, retry_after_cap=10.0)
    with DingTalkNotifier("TOKEN", secret="SECRET", retry=policy) as notifier:
        assert notifier.retry == policy
