"""Server settings from TOOLSERVER_* variables, .env and overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from toolserver.settings import ConfigError, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No TOOLSERVER_* variable and no .env from the developer's machine."""
    for name in list(os.environ):
        if name.startswith("TOOLSERVER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.plugins_dir == Path("plugins")
    assert settings.plugins == []
    assert settings.api_keys == []
    assert settings.mcp_endpoints == {}
    assert settings.signing_secret is None
    assert settings.log_format == "auto"
    assert settings.secret_values() == []


def test_comma_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_API_KEYS", "a,b")
    monkeypatch.setenv("TOOLSERVER_PLUGINS", " crm , orders,, ")
    monkeypatch.setenv("TOOLSERVER_ALLOWED_HOSTS", "example.com")
    monkeypatch.setenv("TOOLSERVER_ALLOWED_ORIGINS", "")
    settings = load_settings()
    assert [k.get_secret_value() for k in settings.api_keys] == ["a", "b"]
    assert settings.plugins == ["crm", "orders"]
    assert settings.allowed_hosts == ["example.com"]
    assert settings.allowed_origins == []


def test_json_dict_for_mcp_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_MCP_ENDPOINTS", '{"crm": ["crm"], "ops": ["orders", "ping"]}')
    settings = load_settings()
    assert settings.mcp_endpoints == {"crm": ["crm"], "ops": ["orders", "ping"]}


def test_mcp_endpoints_that_is_not_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_MCP_ENDPOINTS", "crm=SECRET-VALUE-123")
    with pytest.raises(ConfigError) as excinfo:
        load_settings()
    assert "TOOLSERVER_MCP_ENDPOINTS" in str(excinfo.value)
    assert "SECRET-VALUE-123" not in str(excinfo.value)


def test_mcp_endpoints_of_the_wrong_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_MCP_ENDPOINTS", '{"crm": "crm"}')
    with pytest.raises(ConfigError, match="TOOLSERVER_MCP_ENDPOINTS"):
        load_settings()


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_PORT", "eighty")
    with pytest.raises(ConfigError) as excinfo:
        load_settings()
    message = str(excinfo.value)
    assert message.startswith("invalid configuration:")
    assert "TOOLSERVER_PORT:" in message
    assert "eighty" not in message


def test_every_bad_value_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_PORT", "70000")
    monkeypatch.setenv("TOOLSERVER_TOOL_TIMEOUT", "0")
    monkeypatch.setenv("TOOLSERVER_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError) as excinfo:
        load_settings()
    message = str(excinfo.value)
    for name in ("TOOLSERVER_PORT", "TOOLSERVER_TOOL_TIMEOUT", "TOOLSERVER_LOG_FORMAT"):
        assert name in message


def test_overrides_win_and_none_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_PORT", "9000")
    monkeypatch.setenv("TOOLSERVER_HOST", "0.0.0.0")
    settings = load_settings(port=9100, host=None)
    assert settings.port == 9100
    assert settings.host == "0.0.0.0"  # None means "not given on the command line"


def test_bad_override_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="TOOLSERVER_PORT"):
        load_settings(port=-1)


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TOOLSERVER_PORT=8123\nTOOLSERVER_PLUGINS=a,b\n")
    settings = load_settings()
    assert settings.port == 8123
    assert settings.plugins == ["a", "b"]


def test_environment_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("TOOLSERVER_PORT=8123\n")
    monkeypatch.setenv("TOOLSERVER_PORT", "8124")
    assert load_settings().port == 8124


def test_levels_and_formats_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("TOOLSERVER_LOG_FORMAT", "Json")
    settings = load_settings()
    assert settings.log_level == "debug"
    assert settings.log_format == "json"


def test_booleans_and_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_AUTH_DISABLED", "true")
    monkeypatch.setenv("TOOLSERVER_ENTRY_POINTS", "0")
    monkeypatch.setenv("TOOLSERVER_DATA_DIR", "/var/lib/toolserver")
    settings = load_settings()
    assert settings.auth_disabled is True
    assert settings.entry_points is False
    assert settings.data_dir == Path("/var/lib/toolserver")


def test_secrets_never_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_API_KEYS", "key-alpha-111,key-beta-222")
    monkeypatch.setenv("TOOLSERVER_SIGNING_SECRET", "sign-333")
    settings = load_settings()
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "key-alpha-111" not in text
        assert "key-beta-222" not in text
        assert "sign-333" not in text
    assert settings.signing_secret is not None
    assert settings.signing_secret.get_secret_value() == "sign-333"
    assert sorted(settings.secret_values()) == ["key-alpha-111", "key-beta-222", "sign-333"]


def test_empty_signing_secret_is_not_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_SIGNING_SECRET", "")
    assert load_settings().secret_values() == []


def test_settings_can_be_built_directly() -> None:
    settings = Settings(api_keys=["x", "y"], plugins="a, b")  # type: ignore[arg-type]
    assert settings.plugins == ["a", "b"]
    assert settings.secret_values() == ["x", "y"]


def test_blackbox_url_must_be_http_or_ws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_BLACKBOX_URL", "ftp://blackbox.example")
    with pytest.raises(ConfigError, match="TOOLSERVER_BLACKBOX_URL"):
        load_settings()
    monkeypatch.setenv("TOOLSERVER_BLACKBOX_URL", "wss://blackbox.example/")
    assert load_settings().blackbox_url == "wss://blackbox.example"


def test_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_RATE_LIMITS", '{"*": "100/minute", "book": "5/minute"}')
    monkeypatch.setenv("TOOLSERVER_KEY_RATE_LIMIT", "600/minute")
    monkeypatch.setenv("TOOLSERVER_CONCURRENCY_LIMITS", '{"*": 20, "book": 2}')
    monkeypatch.setenv("TOOLSERVER_KEY_CONCURRENCY_LIMIT", "4")
    settings = load_settings()
    assert settings.rate_limits == {"*": "100/minute", "book": "5/minute"}
    assert settings.key_rate_limit == "600/minute"
    assert settings.concurrency_limits == {"*": 20, "book": 2}
    assert settings.key_concurrency_limit == 4


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TOOLSERVER_RATE_LIMITS", '{"*": "lots"}'),
        ("TOOLSERVER_KEY_RATE_LIMIT", "fast"),
        ("TOOLSERVER_CONCURRENCY_LIMITS", '{"book": 0}'),
        ("TOOLSERVER_KEY_CONCURRENCY_LIMIT", "0"),
    ],
)
def test_bad_limits_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()


def test_empty_optional_values_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_REDIS_URL", "  ")
    monkeypatch.setenv("TOOLSERVER_KEY_RATE_LIMIT", "")
    monkeypatch.setenv("TOOLSERVER_KEY_CONCURRENCY_LIMIT", "")
    settings = load_settings()
    assert settings.redis_url is None
    assert settings.key_rate_limit is None
    assert settings.key_concurrency_limit is None
