"""The web app (Gradio 6 on FastAPI): the patient chat at `/` and the staff console at `/staff`.

One concept a module: `render` (reply and sources HTML, the page's JSON entry, API text), `limits` (rate limit,
message length), `page` (the patient page's HTML around `static/patient.css` and `static/patient.js`), `assets`
(the staff console's CSS and head), `patient` (patient chat handlers, the page's routes, the `/chat` API),
`staff` (staff console handlers and page), `guard` (the staff login wall), `app` (`build_app`: the whole app)
and `server` (serve it on a background thread). `ui.py` at the top level runs it. Every module logs as `bot.ui`.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no telemetry calls
