"""Loading and validating Shequ's configuration.

One TOML file (``SHEQU_CONFIG``, default ``config/default.toml``) plus environment
overrides. The rule for overrides is deliberately mechanical so operators can predict it:
``SHEQU__<SECTION>__<KEY>=value`` sets ``[section] key``; the value is read as a TOML value
when it parses as one (``8``, ``true``, ``["a", "b"]``) and as a plain string otherwise.
Nested plugin keys go one level deeper: ``SHEQU__PLUGINS__COMMERCE__SLA_HOURS=4``.

Every problem is collected and reported at once as a :class:`ConfigError` naming the file,
the key and what is wrong, because an operator fixing a config file wants the whole list,
not one error per restart.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates,
)

from core.calendar import iso_date
from core.version import CORE_API_VERSION

ENV_PREFIX = "SHEQU__"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "default.toml"


class ConfigError(Exception):
    """Start-up must stop: the message is meant for an operator, not a traceback."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"Invalid configuration in {source}:"]
        lines += [f"  - {key}: {problem}" for key, problem in problems]
        super().__init__("\n".join(lines))


def _time_zone(value: str) -> None:
    """A typo in the zone fails at start-up with the setting named, not on the first page
    that counts a day."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            f"not a time zone name such as Asia/Shanghai ({value!r})") from exc


def _database_url(value: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError as exc:
        raise ValidationError(f"not a database URL ({exc})") from exc
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValidationError(
            f"unsupported database '{backend}'; use sqlite:/// or postgresql+psycopg://"
        )
    if backend == "postgresql" and url.get_driver_name() not in ("psycopg",):
        raise ValidationError("PostgreSQL URLs must use the psycopg driver: postgresql+psycopg://")



class _Strict(Schema):
    class Meta:
        unknown = RAISE


#: A telephone number as people dial it: digits, spaces and hyphens, an optional leading +.
HOTLINE_PATTERN = r"^(\+?[0-9][0-9 -]{1,22}[0-9])?$"


class AppSection(_Strict):
    name = fields.String(load_default="Shequ")
    env = fields.String(
        load_default="development", validate=validate.OneOf(["development", "production", "test"])
    )
    secret_key = fields.String(load_default="")
    instance_path = fields.String(load_default="instance")
    default_locale = fields.String(load_default="zh", validate=validate.OneOf(["zh", "en"]))
    timezone = fields.String(load_default="Asia/Shanghai", validate=_time_zone)
    demo_data = fields.Boolean(load_default=False)
    trusted_hosts = fields.List(fields.String(), load_default=list)
    max_content_length = fields.Integer(load_default=16 * 1024 * 1024, validate=validate.Range(1))
    secure_cookies = fields.String(load_default="auto",
                                   validate=validate.OneOf(["auto", "on", "off"]))
    #: The service hotline pages tell people to call (core.toolkit.hotline_for): the
    #: district's default, and per community (or street) code its own number.
    hotline = fields.String(load_default="", validate=validate.Regexp(HOTLINE_PATTERN))
    hotlines = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^\d{6,12}$")),
                           values=fields.String(validate=validate.Regexp(HOTLINE_PATTERN)),
                           load_default=dict)
    #: The working-day calendar (core/calendar.py): public holidays, and the weekend days
    #: that are working days (调休), as ISO dates.
    holidays = fields.List(fields.String(validate=iso_date), load_default=list)
    workdays = fields.List(fields.String(validate=iso_date), load_default=list)


class DatabaseSection(_Strict):
    url = fields.String(load_default="sqlite:///{instance}/shequ.db")
    echo = fields.Boolean(load_default=False)
    pool_size = fields.Integer(load_default=5, validate=validate.Range(1, 200))

    @validates("url")
    def _check_url(self, value: str, **_: Any) -> None:
        _database_url(value.replace("{instance}", "instance"))


class ServerSection(_Strict):
    host = fields.String(load_default="127.0.0.1")
    port = fields.Integer(load_default=5000, validate=validate.Range(1, 65535))
    workers = fields.Integer(load_default=2, validate=validate.Range(1, 64))
    #: Threads per worker (gunicorn's gthread worker; 1 is the sync worker). Unset: chosen
    #: 0 (the default): chosen by ``core.server.worker_threads`` from the number of processes.
    threads = fields.Integer(load_default=0, validate=validate.Range(0, 64))
    timeout = fields.Integer(load_default=30, validate=validate.Range(1, 3600))
    #: Reverse proxies in front of the app (nginx: 1). Their X-Forwarded-For/-Proto are
    #: trusted for exactly this many hops, and not at all when 0.
    proxy_hops = fields.Integer(load_default=0, validate=validate.Range(0, 5))


class EventsSection(_Strict):
    delivery = fields.String(
        load_default="thread", validate=validate.OneOf(["thread", "worker", "manual"])
    )
    max_attempts = fields.Integer(load_default=8, validate=validate.Range(1, 100))
    backoff_base_seconds = fields.Float(load_default=2.0, validate=validate.Range(0))
    backoff_max_seconds = fields.Float(load_default=3600.0, validate=validate.Range(0))
    batch_size = fields.Integer(load_default=100, validate=validate.Range(1, 10000))
    #: Deliveries claimed, run and committed per transaction (one durable commit each).
    claim_chunk = fields.Integer(load_default=100, validate=validate.Range(1, 1000))
    poll_interval = fields.Float(load_default=1.0, validate=validate.Range(0.01, 60))


class LimitsSection(_Strict):
    storage_uri = fields.String(load_default="memory://")
    #: Prepended to every rate-limit key, so deployments sharing one Redis stay apart.
    key_prefix = fields.String(
        load_default="shequ", validate=validate.Regexp(r"^[A-Za-z0-9_.:-]{0,64}$")
    )


class IdentitySection(_Strict):
    password_min_length = fields.Integer(load_default=8, validate=validate.Range(8, 128))
    session_idle_minutes_resident = fields.Integer(load_default=120, validate=validate.Range(5))
    session_idle_minutes_staff = fields.Integer(load_default=30, validate=validate.Range(5))
    session_absolute_hours = fields.Integer(load_default=12, validate=validate.Range(1, 24 * 30))
    #: Failed sign-ins of one account from every address; over it a sign-in also needs a
    #: one-time code (the account is not refused: core/identity/limits.py).
    login_failures_per_account = fields.String(load_default="10 per hour")
    login_failures_per_ip = fields.String(load_default="50 per 15 minutes")
    verification_attempts = fields.String(load_default="5 per hour")
    assist_max_minutes = fields.Integer(load_default=60, validate=validate.Range(5, 8 * 60))
    signup_open = fields.Boolean(load_default=True)
    #: One-time codes (core/identity/otp.py): lifetime, tries, resend wait, daily allowance.
    otp_ttl_seconds = fields.Integer(load_default=300, validate=validate.Range(60, 3600))
    otp_max_tries = fields.Integer(load_default=5, validate=validate.Range(1, 20))
    otp_resend_seconds = fields.Integer(load_default=60, validate=validate.Range(1, 3600))
    otp_per_recipient_per_day = fields.Integer(load_default=10, validate=validate.Range(1, 1000))
    #: Failed sign-ins counted per (account, client address): after each ``amount`` of them
    #: the address waits the next of ``login_delay_minutes``; see core/identity/limits.py.
    login_failures_per_account_ip = fields.String(load_default="5 per day")
    login_delay_minutes = fields.List(
        fields.Integer(validate=validate.Range(1, 24 * 60)),
        load_default=lambda: [1, 5, 15, 60], validate=validate.Length(1, 20))
    #: Password-reset requests (web form and API) per client address.
    password_resets_per_ip = fields.String(load_default="10 per hour")

    @validates("login_failures_per_account", "login_failures_per_ip", "verification_attempts",
               "login_failures_per_account_ip", "password_resets_per_ip")
    def _check_limit(self, value: str, **_: Any) -> None:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as exc:
            raise ValidationError(f"not a rate limit such as '5 per 15 minutes' ({exc})") from exc


#: The channels each medium can be sent through (core/identity/channels/).
SMS_CHANNELS = ("console", "aliyun", "hook", "none")
EMAIL_CHANNELS = ("console", "smtp", "hook", "none")
#: What ``[messaging.templates.<name>]`` may override: the body and subject per language.
TEMPLATE_OVERRIDE_KEYS = ("zh", "en", "zh_subject", "en_subject")
#: The message templates (core/identity/messages.py) and the placeholders each may use:
#: the names ``[messaging.templates.<name>]`` and ``aliyun.template_codes`` accept.
MESSAGE_TEMPLATE_PARAMS: dict[str, tuple[str, ...]] = {
    "otp": ("code", "minutes", "purpose"),
    "notice": ("title", "body"),
    "plain": ("subject", "body"),
}


class SmtpSection(_Strict):
    host = fields.String(load_default="localhost")
    port = fields.Integer(load_default=587, validate=validate.Range(1, 65535))
    #: starttls: plain connection upgraded (port 587) | tls: implicit TLS (465) | none
    security = fields.String(load_default="starttls",
                             validate=validate.OneOf(["starttls", "tls", "none"]))
    username = fields.String(load_default="")
    #: Set it from the environment: SHEQU__MESSAGING__SMTP__PASSWORD.
    password = fields.String(load_default="")
    from_address = fields.String(load_default="noreply@localhost",
                                 validate=validate.Regexp(r"^[^@\s]+@[^@\s]+$"))
    timeout = fields.Float(load_default=10.0, validate=validate.Range(0.1, 300))
    #: A CA bundle (PEM) to trust instead of the system's, for a private mail server.
    ca_file = fields.String(load_default="")
    #: Also send an HTML part (the body, escaped, paragraphs kept).
    html = fields.Boolean(load_default=False)


class AliyunSection(_Strict):
    #: The API host, or a URL (``http://127.0.0.1:8080`` in tests, a VPC endpoint).
    endpoint = fields.String(load_default="dysmsapi.aliyuncs.com")
    region_id = fields.String(load_default="cn-hangzhou")
    access_key_id = fields.String(load_default="")
    #: Set it from the environment: SHEQU__MESSAGING__ALIYUN__ACCESS_KEY_SECRET.
    access_key_secret = fields.String(load_default="")
    #: The approved SMS signature (签名); empty: ``[messaging] sender_name``.
    sign_name = fields.String(load_default="")
    #: Our template name (otp, notice, plain) → the approved template code (SMS_...).
    template_codes = fields.Dict(keys=fields.String(), values=fields.String(),
                                 load_default=dict)
    timeout = fields.Float(load_default=10.0, validate=validate.Range(0.1, 300))


class MessagingSection(_Strict):
    sms = fields.String(load_default="console", validate=validate.OneOf(SMS_CHANNELS))
    email = fields.String(load_default="console", validate=validate.OneOf(EMAIL_CHANNELS))
    #: The name messages are signed with (the e-mail From name, the default SMS sign name).
    sender_name = fields.String(load_default="Shequ", validate=validate.Length(1, 60))
    #: Messages other than one-time codes sent to one recipient per hour; more are held
    #: (status failed, error "rate limited"). Codes have their own [identity] limits.
    per_recipient_per_hour = fields.Integer(load_default=20, validate=validate.Range(1, 10000))
    smtp = fields.Nested(SmtpSection, load_default=dict)
    aliyun = fields.Nested(AliyunSection, load_default=dict)
    #: ``[messaging.templates.otp] zh = "...", en = "..."``: a template's wording replaced.
    templates = fields.Dict(keys=fields.String(),
                            values=fields.Dict(keys=fields.String(), values=fields.String()),
                            load_default=dict)

    @pre_load
    def _sub_tables(self, data: Any, **_: Any) -> Any:
        # A missing sub-table means "all defaults" (marshmallow would not fill it in).
        if isinstance(data, dict):
            data = dict(data)
            for name in ("smtp", "aliyun"):
                data.setdefault(name, {})
        return data

    @validates("templates")
    def _check_templates(self, value: dict[str, dict[str, str]], **_: Any) -> None:
        for name, table in value.items():
            if name not in MESSAGE_TEMPLATE_PARAMS:
                raise ValidationError(f"[messaging.templates.{name}]: no such template; use "
                                      f"one of {', '.join(MESSAGE_TEMPLATE_PARAMS)}")
            wrong = sorted(set(table) - set(TEMPLATE_OVERRIDE_KEYS))
            if wrong:
                raise ValidationError(
                    f"[messaging.templates.{name}] {', '.join(wrong)}: only "
                    f"{', '.join(TEMPLATE_OVERRIDE_KEYS)} may be set")
            sample = {p: "x" for p in MESSAGE_TEMPLATE_PARAMS[name]}
            for key, text in table.items():
                try:
                    text % sample
                except (KeyError, ValueError, TypeError) as exc:
                    raise ValidationError(
                        f"[messaging.templates.{name}] {key}: {exc!r} — placeholders are "
                        + ", ".join(f"%({p})s" for p in MESSAGE_TEMPLATE_PARAMS[name])
                    ) from None

    @validates("aliyun")
    def _check_codes(self, value: dict[str, Any], **_: Any) -> None:
        unknown = sorted(set(value.get("template_codes", {})) - set(MESSAGE_TEMPLATE_PARAMS))
        if unknown:
            raise ValidationError(f"template_codes: {', '.join(unknown)}: no such template; "
                                  f"use {', '.join(MESSAGE_TEMPLATE_PARAMS)}")


class AuditSection(_Strict):
    #: Floors: 180 days for security logs (Cybersecurity Law Art. 21), 1095 days for
    #: records of personal-information processing (PIPL Art. 56).
    retention_days = fields.Integer(load_default=180, validate=validate.Range(min=180))
    access_retention_days = fields.Integer(load_default=1095, validate=validate.Range(min=1095))


def _allowed_network(value: str) -> None:
    import ipaddress

    try:
        net = ipaddress.ip_network(str(value).strip())
    except ValueError as exc:
        raise ValidationError(
            f"'{value}' is not a network such as \"10.20.0.0/16\" or \"fd12:3456::/48\" ({exc})"
        ) from None
    if net.is_link_local or net.is_multicast or net.is_unspecified:
        raise ValidationError(
            f"{net}: link-local, multicast and unspecified addresses are always refused "
            "(docs/exchange.md)"
        )


class ExchangeSection(_Strict):
    #: Private networks (CIDR) webhooks may be sent to, e.g. a government intranet's
    #: department systems. Loopback, link-local and cloud-metadata addresses are refused
    #: whatever is listed (core/exchange/netguard.py).
    allowed_networks = fields.List(
        fields.String(validate=_allowed_network), load_default=list
    )


def _loopback_networks(values: list[str]) -> list[str]:
    """The listed networks that contain loopback addresses (allowed only in tests)."""
    import ipaddress

    loopback = {4: ipaddress.ip_network("127.0.0.0/8"), 6: ipaddress.ip_network("::1/128")}
    out = []
    for value in values:
        net = ipaddress.ip_network(str(value).strip())
        if net.overlaps(loopback[net.version]):  # type: ignore[arg-type]  # same IP version by the key
            out.append(str(net))
    return out


def _network(value: str) -> None:
    import ipaddress

    try:
        ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError as exc:
        raise ValidationError(f"'{value}' is not a network such as \"10.0.0.0/8\" ({exc})") \
            from None


class MetricsSection(_Strict):
    #: ``/metrics`` (Prometheus text format); 404 when off.
    enabled = fields.Boolean(load_default=True)
    #: A bearer token a scraper may present from anywhere; empty: networks only.
    token = fields.String(load_default="")
    #: Client addresses (after ``server.proxy_hops``) that may scrape without the token.
    allowed_networks = fields.List(fields.String(validate=_network),
                                   load_default=lambda: ["127.0.0.1/32"])


class LoggingSection(_Strict):
    #: ``text``: gunicorn's access lines and plain messages; ``json``: one JSON object a line.
    format = fields.String(load_default="text", validate=validate.OneOf(["text", "json"]))
    level = fields.String(load_default="INFO",
                          validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]))


class BackupSection(_Strict):
    #: The ``core.backup`` periodic job (run by the event workers).
    enabled = fields.Boolean(load_default=False)
    directory = fields.String(load_default="{instance}/backups")
    #: At least one second (the jobs' floor); tests use about that.
    every_hours = fields.Float(load_default=24.0,
                               validate=validate.Range(min=1 / 3600, max=24 * 31))
    keep = fields.Integer(load_default=7, validate=validate.Range(1, 1000))


class PluginsSection(Schema):
    """``enabled`` and ``strict`` are the kernel's; every other key is a plugin's own table,
    validated later by that plugin's schema (the kernel cannot know it yet)."""

    class Meta:
        unknown = EXCLUDE

    enabled = fields.List(fields.String(), load_default=list)
    strict = fields.Boolean(load_default=True)


class ConfigSchema(_Strict):
    app = fields.Nested(AppSection, load_default=dict)
    database = fields.Nested(DatabaseSection, load_default=dict)
    server = fields.Nested(ServerSection, load_default=dict)
    events = fields.Nested(EventsSection, load_default=dict)
    limits = fields.Nested(LimitsSection, load_default=dict)
    identity = fields.Nested(IdentitySection, load_default=dict)
    audit = fields.Nested(AuditSection, load_default=dict)
    exchange = fields.Nested(ExchangeSection, load_default=dict)
    metrics = fields.Nested(MetricsSection, load_default=dict)
    logging = fields.Nested(LoggingSection, load_default=dict)
    backup = fields.Nested(BackupSection, load_default=dict)
    messaging = fields.Nested(MessagingSection, load_default=dict)
    plugins = fields.Nested(PluginsSection, load_default=dict)


@dataclass
class Config:
    """The validated configuration. Sections are plain dicts so they print and compare."""

    source: str
    app: dict[str, Any]
    database: dict[str, Any]
    server: dict[str, Any]
    events: dict[str, Any]
    limits: dict[str, Any]
    identity: dict[str, Any]
    audit: dict[str, Any]
    plugins_enabled: list[str]
    plugins_strict: bool
    plugin_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    exchange: dict[str, Any] = field(default_factory=lambda: {"allowed_networks": []})
    metrics: dict[str, Any] = field(default_factory=lambda: {
        "enabled": True, "token": "", "allowed_networks": ["127.0.0.1/32"]})
    logging: dict[str, Any] = field(default_factory=lambda: {"format": "text", "level": "INFO"})
    backup: dict[str, Any] = field(default_factory=lambda: {
        "enabled": False, "directory": "{instance}/backups", "every_hours": 24.0, "keep": 7})
    messaging: dict[str, Any] = field(default_factory=lambda: MessagingSection().load({}))

    @property
    def backup_directory(self) -> Path:
        """``[backup] directory`` with ``{instance}`` replaced by the instance path."""
        return Path(self.backup["directory"].replace("{instance}", str(self.instance_path)))

    @property
    def instance_path(self) -> Path:
        return Path(self.app["instance_path"]).resolve()

    @property
    def database_url(self) -> str:
        return self.database["url"].replace("{instance}", str(self.instance_path))

    @property
    def is_production(self) -> bool:
        return self.app["env"] == "production"

    def as_dict(self, redact: bool = True) -> dict[str, Any]:
        """The effective configuration, with secrets replaced so it can be printed."""
        data: dict[str, Any] = {
            "app": dict(self.app),
            "database": dict(self.database),
            "server": dict(self.server),
            "events": dict(self.events),
            "limits": dict(self.limits),
            "identity": dict(self.identity),
            "audit": dict(self.audit),
            "exchange": {k: list(v) if isinstance(v, list) else v
                         for k, v in self.exchange.items()},
            "metrics": {k: list(v) if isinstance(v, list) else v
                        for k, v in self.metrics.items()},
            "logging": dict(self.logging),
            "backup": dict(self.backup),
            "messaging": _copy_tables(self.messaging),
            "plugins": {"enabled": list(self.plugins_enabled), "strict": self.plugins_strict},
        }
        for pid, settings in self.plugin_settings.items():
            data["plugins"][pid] = dict(settings)
        data["database"]["url"] = self.database_url
        if redact:
            _redact(data)
        return data


_SECRET_WORDS = ("secret", "password", "token", "key")


def _copy_tables(data: dict[str, Any]) -> dict[str, Any]:
    """A copy deep enough that redacting it leaves the configuration alone."""
    return {k: _copy_tables(v) if isinstance(v, dict) else v for k, v in data.items()}


def _redact(data: dict[str, Any]) -> None:
    from sqlalchemy.engine import make_url

    for key, value in data.items():
        if isinstance(value, dict):
            _redact(value)
        elif isinstance(value, str) and value and any(w in key.lower() for w in _SECRET_WORDS):
            data[key] = "***"
    db = data.get("database")
    if isinstance(db, dict) and isinstance(db.get("url"), str):
        db["url"] = make_url(db["url"]).render_as_string(hide_password=True)
    limits = data.get("limits")
    if isinstance(limits, dict) and isinstance(limits.get("storage_uri"), str):
        uri = limits["storage_uri"]
        if "@" in uri:
            scheme, rest = uri.split("://", 1)
            limits["storage_uri"] = f"{scheme}://***@{rest.split('@', 1)[1]}"


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    """Apply ``SHEQU__SECTION__KEY`` variables in place; return the keys they set."""
    applied = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if len(path) < 2:
            continue
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[path[-1]] = _parse_env_value(environ[name])
            applied.append(".".join(path))
    return applied


def _flatten_errors(errors: Any, prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            out += _flatten_errors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(errors, list):
        msgs = [e for e in errors if isinstance(e, str)]
        if msgs:
            out.append((prefix, "; ".join(_friendlier(m) for m in msgs)))
        for e in errors:
            if isinstance(e, dict | list):
                out += _flatten_errors(e, prefix)
    else:
        out.append((prefix, str(errors)))
    return out


def _friendlier(message: str) -> str:
    if message == "Unknown field.":
        return "unknown key (check the spelling; see config/default.toml for every key)"
    return message


def flatten_errors(errors: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Marshmallow's nested error dict as ``(dotted.key, message)`` pairs."""
    return _flatten_errors(errors, prefix)


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("SHEQU_CONFIG") or DEFAULT_CONFIG)


def load_config(
    path: str | Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read, override and validate; raise :class:`ConfigError` with every problem found.

    ``overrides`` is a nested mapping merged over the file (tests use it); the environment
    is applied last so an operator always has the final word.
    """
    environ = os.environ if environ is None else environ
    file = Path(path) if path is not None else config_path(environ)
    source = str(file)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(source, [("(file)", "file not found")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [("(file)", f"not valid TOML: {exc}")]) from None
    if overrides:
        _deep_merge(raw, overrides)
    apply_env_overrides(raw, environ)
    for section in ConfigSchema().fields:
        # A missing section means "all defaults"; marshmallow would not fill a nested
        # default in, so give it an empty table to load.
        raw.setdefault(section, {})
    try:
        data = ConfigSchema().load(raw)
    except ValidationError as exc:
        raise ConfigError(source, flatten_errors(exc.messages)) from None
    plugin_raw = raw.get("plugins", {}) or {}
    plugin_settings = {k: v for k, v in plugin_raw.items() if k not in ("enabled", "strict")}
    problems = []
    for key, value in plugin_settings.items():
        if not isinstance(value, dict):
            problems.append((f"plugins.{key}", "must be a table ([plugins.<id>])"))
    enabled = data["plugins"]["enabled"]
    duplicates = sorted({p for p in enabled if enabled.count(p) > 1})
    if duplicates:
        problems.append(("plugins.enabled", f"listed twice: {', '.join(duplicates)}"))
    if data["app"]["env"] == "production":
        if not (data["app"]["secret_key"] or environ.get("SHEQU_SECRET_KEY")):
            problems.append(("app.secret_key", "production needs a secret: set SHEQU_SECRET_KEY"))
        if data["app"]["demo_data"]:
            problems.append(
                ("app.demo_data", "demo data (and its passwords) is not for production")
            )
    problems += messaging_problems(data["messaging"], data["app"]["env"])
    loopback = _loopback_networks(data["exchange"]["allowed_networks"])
    if loopback and data["app"]["env"] != "test":
        problems.append((
            "exchange.allowed_networks",
            f"{', '.join(loopback)}: loopback addresses are always refused for webhooks "
            "(only the test suite, app.env = \"test\", may list them)",
        ))
    if problems:
        raise ConfigError(source, problems)
    if environ.get("SHEQU_SECRET_KEY"):
        data["app"]["secret_key"] = environ["SHEQU_SECRET_KEY"]
    return Config(
        source=source,
        app=data["app"],
        database=data["database"],
        server=data["server"],
        events=data["events"],
        limits=data["limits"],
        identity=data["identity"],
        audit=data["audit"],
        plugins_enabled=list(enabled),
        plugins_strict=data["plugins"]["strict"],
        plugin_settings={k: v for k, v in plugin_settings.items() if isinstance(v, dict)},
        exchange=data["exchange"],
        metrics=data["metrics"],
        logging=data["logging"],
        backup=data["backup"],
        messaging=data["messaging"],
    )


def messaging_problems(messaging: dict[str, Any], env: str) -> list[tuple[str, str]]:
    """What stops these channels from working, as ``(key, problem)`` pairs: production
    refuses the development ``console`` channel (it writes codes to the log) and Aliyun SMS
    without the template code for one-time codes."""
    problems: list[tuple[str, str]] = []
    if env != "production":
        return problems
    for medium in ("sms", "email"):
        if messaging[medium] == "console":
            problems.append((f"messaging.{medium}", "the console channel writes codes to the "
                             "log and is for development; production needs a real channel "
                             "(docs/operations.md, \"Configuring each channel\")"))
    if messaging["sms"] == "aliyun":
        # The secret usually arrives from the environment only where the service runs, so
        # it is not required here: without it every send fails, visibly, on the admin page.
        aliyun = messaging["aliyun"]
        if "otp" not in aliyun["template_codes"]:
            problems.append(("messaging.aliyun.template_codes",
                             "needs the approved template code for otp (SMS_...)"))
    return problems


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


def ensure_secret_key(config: Config) -> str:
    """Production gets its secret from the environment; development keeps a generated one
    under ``instance/`` so sessions survive restarts without anyone inventing a password."""
    if config.app["secret_key"]:
        return config.app["secret_key"]
    path = config.instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


__all__ = [
    "CORE_API_VERSION",
    "Config",
    "ConfigError",
    "apply_env_overrides",
    "ensure_secret_key",
    "flatten_errors",
    "load_config",
]
