"""Hello (问候): the complete minimal Shequ plugin that docs/plugin-guide.md walks through.

Residents send each other greetings. Small as it is, the plugin uses every room a plugin
has: a manifest with a config schema, its own table and migrations, services, a page, an
API, permissions and roles, an event it publishes and a handler for it, a CLI command,
demo data, a navigation link and a dashboard widget.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from core.hookspecs import DemoContext, NavItem, Panel, Permission, PluginInfo, hookimpl


class HelloConfig(Schema):
    """``[plugins.hello]`` in the config file; validated at start-up."""

    greeting = fields.String(load_default="你好", validate=validate.Length(1, 40))


info = PluginInfo(
    id="hello",
    version="0.1.0",
    title="Greetings",
    title_zh="问候",
    description="Residents send each other greetings: the example plugin.",
    requires_core=">=1.1,<2",  # template_slot is new in core API 1.1
    config_schema=HelloConfig,
)

READ = "hello.greeting.read"
SEND = "hello.greeting.send"


# ----------------------------------------------------------------------------- start-up


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from shequ_hello.views import bp

    return [bp]  # mounted at /hello/


@hookimpl
def register_api(api: Any) -> list[Any]:
    from shequ_hello.api import blp

    return [blp]  # mounted at /api/v1/hello/


@hookimpl
def register_commands(cli: Any) -> None:
    from shequ_hello.cli import hello

    cli.add_command(hello)  # shequ hello ...


@hookimpl
def register_event_types(bus: Any) -> None:
    from shequ_hello.schemas import GreetingSentEvent

    bus.declare(
        "hello.greeting.sent",
        GreetingSentEvent,
        "A greeting was sent; published in the transaction that stored it.",
    )


@hookimpl
def register_event_handlers(bus: Any) -> None:
    from shequ_hello.services import mark_delivered

    bus.subscribe("hello.greeting.sent", mark_delivered, name="mark_delivered")


# ----------------------------------------------------------------------------- access


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(READ, "See greetings", "查看问候"),
        Permission(SEND, "Send greetings", "发送问候"),
    ]


@hookimpl
def default_roles() -> dict[str, list[str]]:
    return {"resident": [READ, SEND], "community_worker": [READ, SEND], "auditor": [READ]}


# ----------------------------------------------------------------------------- UI slots


@hookimpl
def nav_items(user: Any) -> list[NavItem]:
    from core.toolkit import has_permission

    if not has_permission(user, READ):
        return []
    return [NavItem(label=info.title, label_zh=info.title_zh, url="/hello/", order=90)]


@hookimpl
def dashboard_widgets(user: Any) -> list[Panel]:
    from core.toolkit import has_permission

    if not has_permission(user, READ):
        return []
    from flask import render_template

    from core.toolkit import current_session
    from shequ_hello.services import count_greetings

    html = render_template("hello/widget.html", count=count_greetings(current_session()))
    return [Panel(title=info.title, html=html, order=90)]


@hookimpl
def template_slot(name: str, context: Any) -> str | None:
    """A line under the list of services on core's home page (core API 1.1). Every slot
    of every page calls this, so answer the one slot first and cheaply."""
    if name != "home.after_services":
        return None
    from core.toolkit import has_permission

    if not has_permission(context["user"], SEND):
        return None
    from flask import render_template

    return render_template("hello/slot.html")


# ----------------------------------------------------------------------------- data


@hookimpl
def seed_demo_data(session: Any, demo: DemoContext) -> None:
    from shequ_hello.services import count_greetings, create_greeting

    if count_greetings(session):
        return  # idempotent: `make run` seeds on every start
    sender = demo.users.get("resident")
    greeting = create_greeting(
        session, sender_id=sender.id if sender else None, recipient="王社工",
        message="你好！谢谢您帮我办好了居住证。",
    )
    demo.extra[info.id] = {"greeting_id": greeting.id}
