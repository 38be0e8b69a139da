"""The urgent-item webhook (`BOT_ALERT_WEBHOOK_URL`): one JSON POST per urgent triage item, sent from a background
thread so that a slow or failing receiver never delays the patient's answer."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from bot.triage.store import UrgentAlert

log = logging.getLogger("bot.triage")


def alert_payload(alert: UrgentAlert, console_url: str = "") -> dict[str, Any]:
    """What the receiver gets: ids, kind and time, never the patient's words (staff read those in the console)."""
    return {
        "event": "urgent_triage_item",
        "item_id": alert.item_id,
        "turn_id": alert.turn_id,
        "category": alert.category,
        "priority": alert.priority,
        "created_at": alert.created_at.isoformat(),
        "console_url": console_url,
        "text": f"Urgent triage item #{alert.item_id} ({alert.category.replace('_', ' ')}): open the staff console.",
    }


class WebhookAlerter:
    """A Store urgent-item listener that posts each alert to `url`; `__call__` only enqueues, a daemon thread
    sends (a few attempts, short timeouts) and logs what it could not deliver."""

    def __init__(self, url: str, *, console_url: str = "", timeout_s: float = 5.0, attempts: int = 3) -> None:
        self.url = url
        self.console_url = console_url
        self.timeout_s = timeout_s
        self.attempts = attempts
        self._queue: queue.Queue[UrgentAlert | None] = queue.Queue(maxsize=1000)
        self._thread = threading.Thread(target=self._run, name="urgent-webhook", daemon=True)
        self._thread.start()

    def __call__(self, alert: UrgentAlert) -> None:
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            log.error("urgent webhook backlog full: alert for item %s dropped", alert.item_id)

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
            while (alert := self._queue.get()) is not None:
                self._send(client, alert)

    def _send(self, client: Any, alert: UrgentAlert) -> None:
        import time

        payload = alert_payload(alert, self.console_url)
        for attempt in range(1, self.attempts + 1):
            try:
                response = client.post(self.url, json=payload)
                if response.status_code < 300:
                    return
                problem = f"HTTP {response.status_code}"
            except Exception as exc:  # network faults of every kind: log, retry, never raise
                problem = type(exc).__name__
            if attempt < self.attempts:
                time.sleep(0.5 * attempt)
        log.error("urgent webhook failed for item %s after %d attempts: %s", alert.item_id, self.attempts, problem)

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=timeout_s)
