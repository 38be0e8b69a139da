"""The whole web app: the patient chat at `/` and the staff console at `/staff`, on one FastAPI server (Gradio 6).

`build_app(bot, store, settings)` builds it around an injected bot (tests; `python ui.py` serves it).

The patient page is plain HTML and a small script (`page`, `static/`) calling `api/ask` and `api/feedback`.
The patient chat is also callable through gradio_client: `Client(url).predict(message="...", api_name="/chat")`
returns the answer text with its `[n]` markers, caveats and sources. Every other patient-page event is private
(the browser uses it, the API does not list or serve it to clients), and the staff console is a separate Gradio
app behind its own login: nothing of it is reachable from the patient page.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import gradio as gr
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse

from bot.settings import Settings
from bot.triage.staff_auth import DISABLED_MESSAGE, CredentialsError, LoginGuard, StaffCredentials
from bot.triage.store import Store
from bot.web.assets import STAFF_CSS, STAFF_HEAD
from bot.web.guard import StaffGuard, disabled_page, session_checker
from bot.web.patient import PatientChat, add_patient_routes, build_patient_blocks
from bot.web.staff import STAFF_PATH, StaffConsole, build_staff_blocks

if TYPE_CHECKING:
    from bot.chat import ChatBot

log = logging.getLogger("bot.ui")


def _theme() -> gr.themes.Base:
    """Gradio's default look with system fonts: the page must not fetch fonts from the internet."""
    return gr.themes.Default(
        font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )


def build_app(
    bot: ChatBot,
    store: Store | None,
    settings: Settings,
    *,
    login_guard: LoginGuard | None = None,
) -> FastAPI:
    """The whole app: the patient chat at `/`, the staff console at `/staff` (or its disabled notice)."""
    store = store if store is not None else (bot.store or Store.from_settings(settings))
    app = FastAPI(title=bot.title, docs_url=None, redoc_url=None, openapi_url=None)
    chat = PatientChat(bot, settings, store)
    app.state.chat = chat
    app.state.settings = settings
    app.state.alerter = None
    if settings.alert_webhook_url:
        from bot.triage.alert import WebhookAlerter

        console_url = settings.public_url.rstrip("/") + STAFF_PATH + "/" if settings.public_url else ""
        alerter = WebhookAlerter(settings.alert_webhook_url, console_url=console_url)
        app.state.alerter = alerter
        for target in {id(s): s for s in (store, bot.store) if s is not None}.values():
            target.on_urgent(alerter)
        log.info("urgent triage items will be posted to the alert webhook")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    queue = {"max_size": settings.queue_max_size, "default_concurrency_limit": settings.concurrency_limit}
    common: dict[str, Any] = {"footer_links": ["api"], "run_history": False, "show_error": False, "ssr_mode": False}
    try:
        credentials = StaffCredentials.from_settings(settings)
        disabled = DISABLED_MESSAGE if credentials is None else ""
    except CredentialsError as exc:
        credentials, disabled = None, f"The staff console is disabled: {exc}"
        log.error("%s", disabled)
    app.state.staff_enabled = credentials is not None
    if credentials is None:

        @app.api_route(STAFF_PATH, methods=["GET", "POST", "HEAD"], include_in_schema=False)
        @app.api_route(STAFF_PATH + "/{rest:path}", methods=["GET", "POST", "HEAD"], include_in_schema=False)
        def staff_disabled() -> HTMLResponse:
            return HTMLResponse(disabled_page(disabled), status_code=503)

    else:
        creds = credentials

        async def check(username: str, password: str) -> bool:
            ok = await anyio.to_thread.run_sync(creds.verify, username, password)
            if ok:
                log.info("staff user %s signed in", username)
            return bool(ok)

        @app.get(STAFF_PATH, include_in_schema=False)
        def staff_slash() -> RedirectResponse:  # a Mount only matches "/staff/..."
            return RedirectResponse(STAFF_PATH + "/", status_code=307)

        console = StaffConsole(store, settings, bot)
        app.state.staff = console
        staff = build_staff_blocks(console).queue(**queue)
        gr.mount_gradio_app(
            app,
            staff,
            path=STAFF_PATH,
            auth=check,
            auth_message="Staff console: sign in with the staff account.",
            theme=_theme(),
            css=STAFF_CSS,
            head=STAFF_HEAD,
            **common,
        )
        from starlette.routing import Mount

        mounted = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == STAFF_PATH)
        guard = login_guard or LoginGuard()
        app.state.login_guard = guard
        app.add_middleware(StaffGuard, guard=guard, prefix=STAFF_PATH, sessions=session_checker(mounted))

    # The patient page serves no files. Gradio lets any app in the process serve any file in its shared upload
    # and cache folders, which is where the staff console's CSV exports land: block them for the patient app.
    from gradio.utils import get_cache_folder, get_upload_folder

    private = [get_upload_folder(), str(get_cache_folder()), str(settings.data_dir)]
    private += [app.state.staff._exports] if credentials is not None else []
    add_patient_routes(app, chat)  # before the Gradio mount at "/", so the page at "/" is ours
    patient = build_patient_blocks(chat).queue(**queue)
    gr.mount_gradio_app(
        app,
        patient,
        path="/",
        theme=_theme(),
        blocked_paths=[str(Path(p).resolve()) for p in private],
        max_file_size="64kb",
        **common,
    )
    return app
