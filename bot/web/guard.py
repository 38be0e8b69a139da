"""The staff login wall: ASGI middleware that lets only signed-in staff past the console's login form (and locks
out an address after failed sign-ins), the check of the console's session cookie, and the page shown when the
console is disabled."""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi.responses import JSONResponse

from bot.triage.staff_auth import LoginGuard

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("bot.ui")

# Paths under /staff an anonymous browser needs to draw the login form: static files and the form itself.
STAFF_PUBLIC_EXACT = frozenset(
    {"", "/", "/login", "/logout", "/favicon.ico", "/theme.css", "/robots.txt", "/manifest.json"}
    | {"/gradio_api/theme.css"}
)
STAFF_PUBLIC_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")
# The sign-in form has no title of its own; the signed-in console's head script takes over once it loads.
LOGIN_TITLE_SCRIPT = (
    b"<script>setInterval(function () { if (!document.getElementById('urgent-count') && !document.title) "
    b"{ document.title = 'Sign in: staff console'; } }, 300);</script>"
)


class StaffGuard:
    """ASGI middleware in front of the staff console.

    Gradio checks the login on its data routes but leaves a few framework routes open (user, token, app_id,
    reset, cancel, openapi.json...). Here every `/staff/...` request except the login form and its static
    files must carry a valid staff session, and failed logins are locked out per address (Gradio has no
    lockout)."""

    def __init__(self, app: ASGIApp, guard: LoginGuard, prefix: str, sessions: Callable[[Scope], bool]) -> None:
        self.app = app
        self.guard = guard
        self.prefix = prefix.rstrip("/")
        self.signed_in = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] in ("http", "websocket") else ""
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return
        rest = path[len(self.prefix) :]
        if scope["type"] == "http" and scope["method"] == "POST" and rest.rstrip("/") == "/login":
            await self._login(scope, receive, send)
            return
        public = rest.rstrip("/") in STAFF_PUBLIC_EXACT or rest.startswith(STAFF_PUBLIC_PREFIXES)
        if scope["type"] == "http" and scope["method"] == "GET" and rest in ("", "/"):
            await self._page_with_title(scope, receive, send)
            return
        if public or self.signed_in(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = JSONResponse({"detail": "Not authenticated: sign in to the staff console."}, status_code=401)
        await response(scope, receive, send)

    async def _page_with_title(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The console's page, with a script that names the tab on the sign-in form (Gradio leaves it empty)."""
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            if any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers):
                body = body.replace(b"</head>", LOGIN_TITLE_SCRIPT + b"</head>", 1)
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        key = client[0] if client else "unknown"
        wait = self.guard.retry_after(key)
        if wait:
            log.warning("staff login refused: %s is locked out for %.0fs more", key, wait)
            response = JSONResponse(
                {"detail": f"Too many failed sign-in attempts. Try again in {math.ceil(wait)} seconds."},
                status_code=429,
                headers={"Retry-After": str(math.ceil(wait))},
            )
            await response(scope, receive, send)
            return
        status: list[int] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, capture)
        if status and status[0] == 200:
            self.guard.success(key)
        elif status and status[0] in (400, 401, 403):
            locked = self.guard.failure(key)
            log.warning("staff login failed from %s%s", key, f"; locked for {locked:.0f}s" if locked else "")


def session_checker(gradio_app: Any) -> Callable[[Scope], bool]:
    """True when the request carries a session cookie the staff Gradio app issued at login."""
    from starlette.requests import HTTPConnection

    def signed_in(scope: Scope) -> bool:
        cookies = HTTPConnection(scope).cookies
        tokens = getattr(gradio_app, "tokens", {})
        cookie_id = getattr(gradio_app, "cookie_id", "")
        for name in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"):
            token = cookies.get(name)
            if token and token in tokens:
                return True
        return False

    return signed_in


def disabled_page(message: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Staff console disabled</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
        "<body style='font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em'>"
        f"<h1>Staff console disabled</h1><p id='staff-disabled'>{html.escape(message)}</p></body></html>"
    )
