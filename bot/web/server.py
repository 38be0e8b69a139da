"""Serving an app on a background thread (tests, the load script): start it on a free port, stop it."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI


@dataclass
class RunningServer:
    """A uvicorn server on a background thread (tests, the load script)."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.server.should_exit = True
            self.thread.join(timeout=15)


def start_server(app: FastAPI, host: str = "127.0.0.1", port: int = 0, *, timeout_s: float = 60.0) -> RunningServer:
    """Serve `app` on a background thread; port 0 picks a free one. Returns once the server accepts requests."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="uvicorn")
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    return RunningServer(server, thread, f"http://{host}:{sock.getsockname()[1]}")
