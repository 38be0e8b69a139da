"""The web app (Gradio 6 on FastAPI): the patient chat at `/` and the staff console at `/staff`.

One concept a module: `render` (reply and sources HTML, API text), `limits` (rate limit, message length),
`assets` (CSS and the page head), `patient` (patient chat handlers and page), `staff` (staff console handlers
and page), `guard` (the staff login wall), `app` (`build_app`: the whole app) and `server` (serve it on a
background thread). `ui.py` at the top level runs it. Every module logs as `bot.ui`.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no telemetry calls
