"""`python ui.py` serves the web app (bot.web): the patient chat at `/` and the staff console at `/staff`, on
BOT_HOST:BOT_PORT (default 127.0.0.1:7860). `python ui.py hash-password` prints a BOT_STAFF_PASSWORD_HASH."""

from __future__ import annotations

import logging
import sys

from bot.settings import Settings
from bot.triage.store import Store
from bot.web.app import build_app

log = logging.getLogger("bot.ui")


def main(argv: list[str] | None = None) -> int:
    """`python ui.py` serves the app; `python ui.py hash-password` prints a staff password hash."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["hash-password"]:
        from bot.triage.staff_auth import main as hash_main

        return hash_main(args[1:])
    if args:
        print("usage: python ui.py [hash-password [iterations]]", file=sys.stderr)
        return 2
    import uvicorn

    from bot.chat import ChatBot
    from bot.startup import setup_errors

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    try:
        bot = ChatBot.from_settings(settings)
    except setup_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = bot.store or Store.from_settings(settings)
    app = build_app(bot, store, settings)
    if not app.state.staff_enabled:
        log.warning("staff console disabled: set BOT_STAFF_USER and BOT_STAFF_PASSWORD_HASH to enable /staff")
    log.info("patient chat on http://%s:%s/  staff console on /staff", settings.host, settings.port)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
