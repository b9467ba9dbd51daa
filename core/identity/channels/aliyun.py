"""SMS through Aliyun (阿里云短信服务, Dysmsapi 2017-05-25) with its official Python SDK.

Aliyun sends only pre-approved templates under an approved signature, so the channel sends
the message's *template* and *parameters*, not its rendered text: ``template_codes`` maps
our template names (``otp``, ``notice``, ``plain``; core/identity/messages.py) to the
approved codes (``SMS_...``), ``TemplateParam`` is the parameters as JSON (Aliyun's
template variables take the same names: ``${code}``, ``${minutes}``), and ``SignName`` is
``sign_name`` (or ``[messaging] sender_name``). The SDK signs the request (ACS3-HMAC-SHA256,
the V3 signature) with the AccessKey; ``endpoint`` is the API host, or a URL such as
``http://127.0.0.1:8080`` for a test receiver or a VPC gateway.

Aliyun answers HTTP 200 with ``{"Code": "OK", "BizId": ...}``; any other ``Code``
(``isv.BUSINESS_LIMIT_CONTROL``, ``isv.MOBILE_NUMBER_ILLEGAL``, ...) is a failure and
raises :class:`ChannelError` with the provider's code and message, so the event bus
retries it and the messages page shows it.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from core.identity.channels.base import ChannelError


class AliyunSmsChannel:
    name = "aliyun"

    def __init__(self, settings: dict[str, Any], sender_name: str) -> None:
        self.settings = settings
        self.sign_name = settings.get("sign_name") or sender_name
        self._client: Any = None

    def client(self) -> Any:
        """The SDK client, made once (it keeps its connection pool)."""
        if self._client is None:
            from alibabacloud_dysmsapi20170525.client import Client
            from alibabacloud_tea_openapi.utils_models import Config

            cfg = self.settings
            endpoint = cfg["endpoint"]
            protocol = "HTTPS"
            if "://" in endpoint:
                parts = urlsplit(endpoint)
                protocol = parts.scheme.upper()
                endpoint = parts.netloc
            timeout_ms = int(cfg["timeout"] * 1000)
            self._client = Client(Config(
                access_key_id=cfg["access_key_id"],
                access_key_secret=cfg["access_key_secret"],
                endpoint=endpoint,
                protocol=protocol,
                region_id=cfg["region_id"],
                read_timeout=timeout_ms,
                connect_timeout=timeout_ms,
            ))
        return self._client

    def request(self, message: Any) -> Any:
        """The ``SendSmsRequest`` for ``message`` (what Aliyun is asked to send)."""
        from alibabacloud_dysmsapi20170525.models import SendSmsRequest

        codes = self.settings.get("template_codes") or {}
        code = codes.get(message.template or "")
        if not code:
            raise ChannelError(
                f"no Aliyun template code for template {message.template or '(none)'!r}: "
                "set [messaging.aliyun] template_codes")
        params = {k: str(v) for k, v in (message.params or {}).items()
                  if k != "purpose" and v is not None}
        return SendSmsRequest(
            phone_numbers=message.recipient,
            sign_name=self.sign_name,
            template_code=code,
            template_param=json.dumps(params, ensure_ascii=False, sort_keys=True,
                                      separators=(",", ":")),
        )

    def send(self, message: Any) -> str:
        request = self.request(message)
        if not (self.settings.get("access_key_id") and self.settings.get("access_key_secret")):
            raise ChannelError("Aliyun AccessKey not set ([messaging.aliyun] access_key_id, "
                               "SHEQU__MESSAGING__ALIYUN__ACCESS_KEY_SECRET)")
        try:
            response = self.client().send_sms(request)
        except Exception as exc:  # the SDK raises its own types (and OSError, timeouts)
            code = getattr(exc, "code", None) or type(exc).__name__
            text = _without_query(str(getattr(exc, "message", None) or exc))
            # ``from None``: the SDK's own exception quotes the request URL, whose query
            # holds the phone number and the code, and the bus logs the traceback.
            raise ChannelError(f"Aliyun SMS: {code}: {text[:300]}") from None
        body = response.body
        if body is None or body.code != "OK":
            code = getattr(body, "code", None) or "no answer"
            text = getattr(body, "message", None) or ""
            raise ChannelError(f"Aliyun SMS: {code}: {text}".rstrip(": "))
        return str(body.biz_id or body.request_id or "")


def _without_query(text: str) -> str:
    """``text`` with every URL query cut off: a request's query carries the recipient and
    the template parameters (a one-time code), which must not reach the logs or the
    messages page."""
    return re.sub(r"\?[^\s'\"()]*", "?…", text)
