"""Configuration: defaults, environment overrides, and readable refusals."""

import subprocess
import sys
from pathlib import Path

import pytest

from core.config import DEFAULT_CONFIG, ConfigError, apply_env_overrides, load_config

SHEQU = str(Path(sys.executable).parent / "shequ")


def write(tmp_path, text):
    path = tmp_path / "shequ.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_config_enables_every_builtin_plugin_on_sqlite():
    cfg = load_config(DEFAULT_CONFIG, environ={})
    assert cfg.plugins_enabled == ["gov_services", "commerce", "self_governance", "surveillance",
                                   "grid", "volunteers", "documents", "matters"]
    assert cfg.database_url.startswith("sqlite:///")
    assert cfg.database_url.endswith("/instance/shequ.db")
    assert cfg.app["demo_data"] is True and cfg.plugins_strict is True


def test_production_example_is_valid_with_a_secret_from_the_environment():
    path = DEFAULT_CONFIG.parent / "production.example.toml"
    cfg = load_config(path, environ={"SHEQU_SECRET_KEY": "s" * 40})
    assert cfg.database_url.startswith("postgresql+psycopg://")
    assert cfg.events["delivery"] == "worker"
    assert cfg.limits["storage_uri"].startswith("redis://")
    assert cfg.app["secret_key"] == "s" * 40


def test_production_without_secret_is_refused():
    path = DEFAULT_CONFIG.parent / "production.example.toml"
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert "app.secret_key" in str(err.value)
    assert "SHEQU_SECRET_KEY" in str(err.value)


def test_a_misspelt_time_zone_is_refused_at_start_with_the_key_named():
    with pytest.raises(ConfigError) as err:
        load_config(DEFAULT_CONFIG, environ={"SHEQU__APP__TIMEZONE": "Asia/Shanghia"})
    assert "app.timezone" in str(err.value) and "Asia/Shanghia" in str(err.value)
    cfg = load_config(DEFAULT_CONFIG, environ={"SHEQU__APP__TIMEZONE": "America/New_York"})
    assert cfg.app["timezone"] == "America/New_York"


def test_environment_overrides_single_keys_with_toml_values():
    env = {
        "SHEQU__DATABASE__URL": "postgresql+psycopg://u@127.0.0.1/x",
        "SHEQU__SERVER__PORT": "8080",
        "SHEQU__PLUGINS__ENABLED": '["commerce"]',
        "SHEQU__APP__NAME": "Hepingli",  # not TOML: taken as a string
    }
    cfg = load_config(DEFAULT_CONFIG, environ=env)
    assert cfg.database_url == "postgresql+psycopg://u@127.0.0.1/x"
    assert cfg.server["port"] == 8080
    assert cfg.plugins_enabled == ["commerce"]
    assert cfg.app["name"] == "Hepingli"


def test_env_override_reaches_plugin_tables():
    data = {"plugins": {"enabled": []}}
    applied = apply_env_overrides(data, {"SHEQU__PLUGINS__COMMERCE__SLA_HOURS": "4"})
    assert applied == ["plugins.commerce.sla_hours"]
    assert data["plugins"]["commerce"] == {"sla_hours": 4}


def test_every_problem_is_reported_with_file_and_key(tmp_path):
    path = write(
        tmp_path,
        """
[app]
nmae = "typo"
default_locale = "fr"
[database]
url = "mysql://root@localhost/x"
[server]
port = "eighty"
[colour]
x = 1
""",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    text = str(err.value)
    assert str(path) in text
    for key in ("app.nmae", "app.default_locale", "database.url", "server.port", "colour"):
        assert key in text, key
    assert "unknown key" in text
    assert "unsupported database 'mysql'" in text


def test_unparseable_url_and_toml_are_readable(tmp_path):
    with pytest.raises(ConfigError, match="database.url: not a database URL"):
        load_config(write(tmp_path, '[database]\nurl = "::nonsense::"\n'), environ={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[app\n"), environ={})
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.toml", environ={})


def test_duplicate_plugin_is_refused(tmp_path):
    path = write(tmp_path, '[plugins]\nenabled = ["commerce", "commerce"]\n')
    with pytest.raises(ConfigError, match="listed twice: commerce"):
        load_config(path, environ={})


def test_redaction_hides_secrets_and_passwords():
    cfg = load_config(
        DEFAULT_CONFIG,
        environ={
            "SHEQU__DATABASE__URL": "postgresql+psycopg://u:hunter2@127.0.0.1/x",
            "SHEQU__APP__SECRET_KEY": "topsecret",
            "SHEQU__LIMITS__STORAGE_URI": "redis://:pw@127.0.0.1:6379/0",
        },
    )
    shown = str(cfg.as_dict(redact=True))
    assert "hunter2" not in shown and "topsecret" not in shown and ":pw@" not in shown


def run_cli(args, tmp_path, config_text=None, env_extra=None):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEQU")}
    if config_text is not None:
        env["SHEQU_CONFIG"] = str(write(tmp_path, config_text))
    env["SHEQU__APP__INSTANCE_PATH"] = str(tmp_path / "instance")
    env.update(env_extra or {})
    return subprocess.run([SHEQU, *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_refuses_invalid_config_without_traceback(tmp_path):
    result = run_cli(["db", "upgrade"], tmp_path, "[server]\nport = 99999\n")
    assert result.returncode == 2
    assert "server.port" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_refuses_unknown_plugin_by_name(tmp_path):
    result = run_cli(["db", "upgrade"], tmp_path, '[plugins]\nenabled = ["no_such_plugin"]\n')
    assert result.returncode == 2
    assert "no_such_plugin: unknown plugin (not installed)" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_show_prints_effective_config_redacted(tmp_path):
    result = run_cli(
        ["config", "show"],
        tmp_path,
        '[app]\nsecret_key = "abc123456"\n',
        {"SHEQU__SERVER__PORT": "5077"},
    )
    assert result.returncode == 0, result.stderr
    assert "port = 5077" in result.stdout
    assert "abc123456" not in result.stdout
    assert "+ environment" in result.stdout


def test_production_app_pins_cookies_and_hosts(tmp_path):
    from core.app import create_app

    path = DEFAULT_CONFIG.parent / "production.example.toml"
    cfg = load_config(path, environ={
        "SHEQU_SECRET_KEY": "k" * 48,
        "SHEQU__DATABASE__URL": f"sqlite:///{tmp_path}/p.db",
        "SHEQU__APP__INSTANCE_PATH": str(tmp_path / "instance"),
        "SHEQU__LIMITS__STORAGE_URI": "memory://",
        "SHEQU__SERVER__WORKERS": "1",  # memory:// with several workers is refused
    })
    app = create_app(cfg)
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-shequ"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["DEBUG"] is False and app.config["TESTING"] is False
    assert app.config["SECRET_KEY"] == "k" * 48
    client = app.test_client()
    assert client.get("/healthz", headers={"Host": "evil.example"}).status_code == 400
    resp = client.get("/healthz", headers={"Host": "shequ.example.gov.cn"},
                      environ_base={"wsgi.url_scheme": "https"})
    assert resp.status_code in (200, 503)
    assert "max-age=31536000" in resp.headers["Strict-Transport-Security"]
