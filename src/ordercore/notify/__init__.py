"""Notifiers: telling people about orders, through a log, DingTalk or WeCom robots.

A :class:`Notifier` has one method, ``notify(message)``, which delivers a
:class:`Notification` or raises :class:`~ordercore.errors.NotifyError`.
:func:`open_notifier` opens one by URL from the ``ordercore.notifiers`` plugin
group:

- ``log://`` (the default): one line per message to the ``ordercore.notify`` logger;
- ``dingtalk://?access_token=TOKEN&secret=SECRET``: a DingTalk group robot, signed;
- ``wecom://?key=KEY``: a WeCom (企业微信) group robot.

``dingtalk+https://host/path?access_token=...`` and
``wecom+https://host/path?key=...`` post to the address given (the webhook as
the platform shows it, a proxy, a test server). Robot notifiers retry within a
:class:`RetryPolicy` (3 attempts within 10 s by default) and never show their
token, key or secret in a log line, repr or error.

Example:
    >>> from ordercore.notify import Notification, open_notifier
    >>> notifier = open_notifier("log://")
    >>> notifier.notify(Notification("Order stuck", level="warning", order_ids="O-1"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ordercore import plugins
from ordercore.notify._log import LogNotifier
from ordercore.notify._protocol import LEVELS, Level, Notification, Notifier

if TYPE_CHECKING:
    from ordercore.notify._dingtalk import DingTalkNotifier, dingtalk_signature
    from ordercore.notify._http import RetryPolicy
    from ordercore.notify._wecom import WeComNotifier

__all__ = [
    "DingTalkNotifier",
    "LEVELS",
    "Level",
    "LogNotifier",
    "Notification",
    "Notifier",
    "RetryPolicy",
    "WeComNotifier",
    "dingtalk_signature",
    "open_notifier",
]

#: Names imported on first use, so that ``import ordercore.notify`` does not import httpx.
_LAZY = {
    "DingTalkNotifier": "ordercore.notify._dingtalk",
    "dingtalk_signature": "ordercore.notify._dingtalk",
    "RetryPolicy": "ordercore.notify._http",
    "WeComNotifier": "ordercore.notify._wecom",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ordercore.notify' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def open_notifier(url: str = "log://", **options: Any) -> Notifier:
    """Open the notifier a URL names, from the ``ordercore.notifiers`` plugin group.

    Args:
        url: ``log://`` (default), ``dingtalk://?access_token=...&secret=...``,
            ``wecom://?key=...``, their ``+https://host/path`` forms, or the
            scheme of an installed notifier plugin.
        **options: Passed to the notifier's ``from_url`` (``retry=RetryPolicy(...)``,
            ``transport=``, ...); they win over the URL's parameters.

    Returns:
        A :class:`Notifier`.

    Raises:
        ConfigurationError: the URL is malformed or an option is not valid; the
            message never repeats the URL, which holds credentials.
        PluginNotFound: no notifier is installed for the URL's scheme.
        PluginLoadError: the plugin failed to load or does not provide ``notify``.

    Example:
        >>> open_notifier()
        LogNotifier(logger='ordercore.notify')
    """
    notifier: Notifier = plugins.open_url("ordercore.notifiers", url, **options)
    return notifier
