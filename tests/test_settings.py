"""Settings: defaults that work with nothing set, BOT_* variables, a TOML file, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings


def test_defaults_work_with_nothing_set(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.data_dir == Path("data")
    assert settings.chroma_url is None
    assert settings.embedding_model == "all-MiniLM-L6-v2"
    assert settings.staff_password is None and settings.staff_password_hash is None
    assert settings.db_path == Path("data") / "bot.sqlite3"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BOT_TOP_K", "3")
    monkeypatch.setenv("BOT_LOG_CONVERSATIONS", "false")
    settings = Settings()
    assert settings.data_dir == tmp_path and settings.top_k == 3 and settings.log_conversations is False


def test_toml_file_and_env_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text('top_k = 5\nchroma_url = "http://127.0.0.1:8123"\n', encoding="utf-8")
    monkeypatch.setenv("BOT_CONFIG", str(config))
    assert Settings().top_k == 5
    assert Settings().chroma_url == "http://127.0.0.1:8123"
    monkeypatch.setenv("BOT_TOP_K", "2")
    assert Settings().top_k == 2, "environment wins over the file"


def test_bad_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOP_K", "lots")
    with pytest.raises(ValidationError, match="top_k"):
        Settings()


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Settings().top_k = 9  # type: ignore[misc]
