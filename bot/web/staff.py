"""The staff console: the triage queue and conversation detail, assign and resolve, the CSV export, the insight
charts and the evaluation run on an uploaded QA file, and the Gradio page that wires them (mounted behind a login)."""

from __future__ import annotations

import contextlib
import html
import logging
import tempfile
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from bot.settings import Settings
from bot.triage.store import TRIAGE_CATEGORIES, NotFoundError, Status, Store, TriageItem, Turn

if TYPE_CHECKING:
    from bot.chat import ChatBot

log = logging.getLogger("bot.ui")

STAFF_PATH = "/staff"


def _zone(tz: str | None) -> tzinfo:
    """The staff member's time zone (the browser's IANA name), UTC when unknown."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(tz) if tz else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _when(moment: datetime, tz: str | None = None) -> str:
    """A time in the staff member's local time, with the zone's abbreviation (UTC when the browser did not say)."""
    return moment.astimezone(_zone(tz)).strftime("%Y-%m-%d %H:%M %Z")


def _badge(text: str, kind: str = "") -> str:
    return f'<span class="badge {kind}">{html.escape(text.replace("_", " "))}</span>'


STATUS_CHOICES = [
    ("Open (new and in progress)", "open"),
    ("New", "new"),
    ("In progress", "in_progress"),
    ("Resolved", "resolved"),
    ("All", "all"),
]
CATEGORY_CHOICES = [("All categories", "all")] + [(c.replace("_", " ").capitalize(), c) for c in TRIAGE_CATEGORIES]
CATEGORY_COLORS = {
    "answered": "#2b6cb0",
    "not in article": "#2c9d8f",
    "medical advice": "#7b4fb8",
    "emergency": "#c62828",
    "out of scope": "#8a939b",
    "injection": "#3d4852",
    "greeting": "#e0a800",
}
PAGE_SIZE = 25
CHOOSE = "<p>Choose an item in the queue (click its row) or type its ID.</p>"


def _day_range(days: Sequence[str], *, at_least: int = 14, at_most: int = 90) -> list[str]:
    """Every UTC day from the first day with data (or `at_least` days ago) to today, so quiet days show as 0."""
    from datetime import date, timedelta

    today = datetime.now(UTC).date()
    first = today - timedelta(days=at_least - 1)
    if days:
        with contextlib.suppress(ValueError):
            first = min(first, date.fromisoformat(min(days)))
    first = max(first, today - timedelta(days=at_most - 1))
    return [(first + timedelta(days=i)).isoformat() for i in range((today - first).days + 1)]


def urgent_badge(count: int) -> str:
    """The always-visible count of urgent items not yet resolved (the tab title reads it too)."""
    if count:
        label = f"{count} urgent item{'s' if count != 1 else ''} waiting"
        return f'<p role="status"><span id="urgent-count" class="badge urgent" data-count="{count}">{label}</span></p>'
    return (
        '<p role="status"><span id="urgent-count" class="badge calm" data-count="0">No urgent items waiting</span></p>'
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], caption: str) -> str:
    """A plain HTML table: the text version of a chart, for screen readers and exact numbers."""
    head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in headers)
    if not rows:
        rows = [["None yet.", *([""] * (len(headers) - 1))]]
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{v}</td>' if isinstance(v, int) else f"<td>{html.escape(str(v))}</td>" for v in row)
        + "</tr>"
        for row in rows
    )
    return (
        f'<table class="data"><caption>{html.escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


QUEUE_COLUMNS = ["ID", "Priority", "Status", "Category", "Received", "Question", "Assignee"]


class StaffConsole:
    """The staff handlers: queue, conversation detail, assign, note, resolve, export, charts, evaluation."""

    def __init__(self, store: Store, settings: Settings, bot: ChatBot | None = None) -> None:
        self.store = store
        self.settings = settings
        self.bot = bot
        self._exports = tempfile.mkdtemp(prefix="staff-exports-")

    @staticmethod
    def _user(request: gr.Request | None) -> str:
        user = getattr(request, "username", None)
        if not user:
            raise gr.Error("Please sign in to the staff console.")
        return str(user)

    # -- queue

    @staticmethod
    def _filters(status: str, category: str, search: str | None) -> dict[str, Any]:
        return {
            "status": None if status in ("open", "all", None) else status,
            "category": None if category in ("all", None, "") else category,
            "search": (search or "").strip() or None,
            "open_only": status == "open",
        }

    def items(self, status: str, category: str, search: str | None = None, page: int = 1) -> list[TriageItem]:
        f = self._filters(status, category, search)
        return self.store.list_items(
            f["status"],
            f["category"],
            PAGE_SIZE,
            search=f["search"],
            offset=(max(1, page) - 1) * PAGE_SIZE,
            open_only=f["open_only"],
        )

    def queue_table(
        self, status: str, category: str, search: str, page: Any, tz: str, request: gr.Request
    ) -> tuple[pd.DataFrame, str, int, str, str]:
        """(table, summary, page, page label, urgent badge) for the filters; the page is clamped to what exists."""
        self._user(request)
        f = self._filters(status, category, search)
        total = self.store.count_items(f["status"], f["category"], search=f["search"], open_only=f["open_only"])
        pages = max(1, -(-total // PAGE_SIZE))
        try:
            page = min(max(1, int(page)), pages)
        except (TypeError, ValueError):
            page = 1
        items = self.items(status, category, search, page)
        rows = [
            [
                item.id,
                ("URGENT" if item.priority == "urgent" else "normal"),
                item.status.replace("_", " "),
                item.category.replace("_", " "),
                _when(item.created_at, tz),
                item.turn.question if len(item.turn.question) <= 90 else item.turn.question[:87] + "…",
                item.assignee or "",
            ]
            for item in items
        ]
        summary = f"**{total} item{'s' if total != 1 else ''}** match"
        if f["search"]:
            summary += f" “{f['search']}”"
        label = f"Page {page} of {pages}"
        return (
            pd.DataFrame(rows, columns=QUEUE_COLUMNS),
            summary,
            page,
            label,
            urgent_badge(self.store.open_urgent_count()),
        )

    def live(
        self, status: str, category: str, search: str, page: Any, tz: str, seen: Any, request: gr.Request
    ) -> tuple[Any, ...]:
        """The timer's tick: redraw the queue only when something changed (so a row being read stays put)."""
        self._user(request)
        mark = self.store.queue_mark()
        if mark == seen:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), seen
        return (*self.queue_table(status, category, search, page, tz, request), mark)

    def select_row(self, event: gr.SelectData, request: gr.Request) -> Any:
        self._user(request)
        row = event.row_value or []
        try:
            return int(row[0])
        except (IndexError, TypeError, ValueError):
            return gr.update()

    def detail(self, item_id: Any, tz: str, request: gr.Request) -> tuple[str, str]:
        """The item, the whole conversation it came from (its turn highlighted), feedback, notes, audit trail."""
        user = self._user(request)
        if item_id in (None, ""):
            return CHOOSE, user
        try:
            item = self.store.get_item(int(item_id))
        except (NotFoundError, ValueError, TypeError):
            return f"<p>No triage item with ID {html.escape(str(item_id))}.</p>", user
        turns = self.store.session_turns(item.turn.session_id)
        feedback = self.store.feedback(item.turn_id)
        head = (
            f"<h2>Item #{item.id} {_badge(item.priority, 'urgent' if item.priority == 'urgent' else '')}"
            f"{_badge(item.status, 'resolved' if item.status == Status.RESOLVED else '')}{_badge(item.category)}</h2>"
            f"<p>Received {_when(item.created_at, tz)} · updated {_when(item.updated_at, tz)} · "
            f"assigned to <strong>{html.escape(item.assignee or 'nobody')}</strong> · "
            f"session <code>{html.escape(item.turn.session_id[:12])}</code> · "
            f"source {html.escape(item.turn.source)}</p>"
        )
        convo = "".join(self._turn_html(t, tz, flagged=t.id == item.turn_id) for t in turns)
        fb = (
            "<ul class='feedback'>"
            + "".join(
                f"<li>{_when(f.created_at, tz)}: <strong>{html.escape(f.rating)}</strong>"
                + (f": {html.escape(f.comment)}" if f.comment else "")
                + "</li>"
                for f in feedback
            )
            + "</ul>"
            if feedback
            else "<p>No patient feedback on this answer.</p>"
        )
        notes = (
            "<ul class='notes'>"
            + "".join(f"<li>{_when(n.created_at, tz)}: {html.escape(n.text)}</li>" for n in item.notes)
            + "</ul>"
            if item.notes
            else "<p>No notes yet.</p>"
        )
        audit = (
            "<ol class='audit'>"
            + "".join(
                f"<li>{_when(e.created_at, tz)} · <strong>{html.escape(e.actor)}</strong> · "
                f"{html.escape(e.action)}: {html.escape(e.detail)}</li>"
                for e in item.events
            )
            + "</ol>"
            if item.events
            else "<p>Nobody has acted on this item yet.</p>"
        )
        body = (
            f"{head}<h3>Conversation ({len(turns)} turn{'s' if len(turns) != 1 else ''})</h3>{convo}"
            f"<h3>Patient feedback</h3>{fb}<h3>Notes</h3>{notes}<h3>Audit trail</h3>{audit}"
        )
        return f'<div class="item-detail" data-item="{item.id}">{body}</div>', item.assignee or user

    @staticmethod
    def _turn_html(turn: Turn, tz: str, *, flagged: bool) -> str:
        cites = "".join(
            f"<li>[{c.n}] <code>{html.escape(c.anchor)}</code>: “{html.escape(c.quote)}”</li>" for c in turn.citations
        )
        caveats = "".join(f"<li>{html.escape(c)}</li>" for c in turn.caveats)
        return (
            f'<div class="turn{" flagged" if flagged else ""}" data-turn="{turn.id}">'
            f'<div class="meta">{_when(turn.created_at, tz)} · {_badge(turn.category)} · {turn.latency_ms:.0f} ms'
            f"{' · <strong>this item</strong>' if flagged else ''}</div>"
            f'<div class="q">{html.escape(turn.question)}</div><div class="a">{html.escape(turn.answer)}</div>'
            + (f"<details><summary>Citations</summary><ul>{cites}</ul></details>" if cites else "")
            + (f"<details><summary>Caveats</summary><ul>{caveats}</ul></details>" if caveats else "")
            + "</div>"
        )

    def assign(self, item_id: Any, assignee: str, request: gr.Request) -> str:
        user = self._user(request)
        try:
            item = self.store.assign(int(item_id), (assignee or user).strip() or user, actor=user)
        except (NotFoundError, ValueError, TypeError) as exc:
            raise gr.Error(f"Could not assign: {exc}") from None
        log.info("staff %s assigned item %s to %s", user, item.id, item.assignee)
        return f"Item #{item.id} assigned to {item.assignee} ({item.status.replace('_', ' ')})."

    def note(self, item_id: Any, note: str, request: gr.Request) -> tuple[str, str]:
        user = self._user(request)
        if not (note or "").strip():
            raise gr.Error("Write the note first.")
        try:
            item = self.store.add_note(int(item_id), note, actor=user)
        except (NotFoundError, ValueError, TypeError) as exc:
            raise gr.Error(f"Could not add the note: {exc}") from None
        return f"Note added to item #{item.id}.", ""

    def resolve(self, item_id: Any, note: str, request: gr.Request) -> tuple[str, str]:
        user = self._user(request)
        if not (note or "").strip():
            raise gr.Error("Write a resolution note: what was done about this item.")
        try:
            item = self.store.resolve(int(item_id), note.strip(), actor=user)
        except (NotFoundError, ValueError, TypeError) as exc:
            raise gr.Error(f"Could not resolve: {exc}") from None
        log.info("staff %s resolved item %s", user, item.id)
        return f"Item #{item.id} resolved.", ""

    def export_csv(self, request: gr.Request, status: str = "all", category: str = "all", search: str = "") -> str:
        """The queue as CSV, with the filters and search on screen (every page, not just the one shown)."""
        self._user(request)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = Path(self._exports) / f"triage-{stamp}-{uuid.uuid4().hex[:6]}.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            self.store.export("csv", out, what="triage", **self._filters(status, category, search))
        return str(path)

    def export_download(self, status: str, category: str, search: str, request: gr.Request) -> Any:
        """The export button: write the CSV for the current filters and show it as a download."""
        return gr.update(value=self.export_csv(request, status, category, search), visible=True)

    # -- charts

    def charts(self, request: gr.Request) -> tuple[pd.DataFrame, str, str, pd.DataFrame, str]:
        """(messages per day, its table, the unanswered questions, feedback per day, its table)."""
        self._user(request)
        counts = self.store.messages_per_day()
        days = _day_range([d.day for d in counts])
        seen = {d.day for d in counts}
        per_day = pd.DataFrame(
            [(d.day, d.category.replace("_", " "), d.messages) for d in counts]
            + [(day, "answered", 0) for day in days if day not in seen],
            columns=["day", "category", "messages"],
        ).sort_values("day", kind="stable")
        cats = sorted({d.category for d in counts})
        table: dict[str, dict[str, int]] = {}
        for d in counts:
            table.setdefault(d.day, {})[d.category] = d.messages
        per_day_table = _table(
            ["Day (UTC)", *[c.replace("_", " ") for c in cats], "Total"],
            [[day, *[row.get(c, 0) for c in cats], sum(row.values())] for day, row in sorted(table.items())],
            "Messages per day by category",
        )
        questions = self.store.top_not_in_article(limit=10)
        if questions:
            top = max(q.asked for q in questions)
            bars = "".join(
                f'<div class="hbar" aria-hidden="true"><div class="label">{html.escape(q.question)}</div>'
                f'<div class="bar" style="width:{100 * q.asked / top:.0f}%"></div>'
                f'<div class="n">{q.asked}</div></div>'
                for q in questions
            )
            unanswered = (
                "<h3>Most asked questions the article could not answer</h3>"
                "<p>Candidates for the knowledge base, most frequent first (off-topic and garbled messages left "
                "out).</p>"
                + bars
                + _table(["Question", "Times asked"], [[q.question, q.asked] for q in questions], "As a table")
            )
        else:
            unanswered = "<h3>Most asked questions the article could not answer</h3><p>None yet.</p>"
        rows: list[tuple[str, str, int]] = []
        feedback_days = self.store.feedback_over_time()
        for day in feedback_days:
            rows += [(day.day, "helpful", day.up), (day.day, "not helpful or reported", day.down)]
        rated = {r[0] for r in rows}
        rows += [(day, "helpful", 0) for day in _day_range(sorted(rated)) if day not in rated]
        feedback = pd.DataFrame(rows, columns=["day", "rating", "count"]).sort_values("day", kind="stable")
        feedback_table = _table(
            ["Day (UTC)", "Helpful", "Not helpful or reported"],
            [[d.day, d.up, d.down] for d in feedback_days],
            "Patient feedback per day (each action counted once)",
        )
        return per_day, per_day_table, unanswered, feedback, feedback_table

    # -- evaluation

    def evaluate(
        self,
        upload: Any,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, list[str] | None]:
        user = self._user(request)
        log.info("staff %s started an evaluation run", user)
        return run_evaluation(
            self.bot, upload, Path(self._exports), lambda done, total: progress((done, total), desc="questions")
        )


def run_evaluation(
    bot: ChatBot | None, upload: Any, out_dir: Path, progress: Callable[[int, int], None] | None = None
) -> tuple[str, list[str] | None]:
    """Run the evaluation runner (bot.evaluation) on an uploaded QA file (JSONL or CSV) and write its report
    (bot.evaluation.report): the HTML report to show inline, and report.json / report.html to download."""
    import copy
    import hashlib

    from bot.evaluation.qa_format import QAFileError, load_items
    from bot.evaluation.report import write_report
    from bot.evaluation.runner import evaluate

    if bot is None:
        return "<p>No bot is loaded in this console.</p>", None
    path = getattr(upload, "name", upload)
    if not path:
        return "<p>Upload a QA file (JSONL or CSV) first.</p>", None
    source = Path(str(path))
    try:
        items = load_items(source)
    except QAFileError as exc:
        problems = "".join(f"<li>{html.escape(e)}</li>" for e in exc.errors[:50])
        return (
            f"<p><strong>The QA file cannot be used ({len(exc.errors)} problem(s)):</strong></p><ul>{problems}</ul>",
            None,
        )
    except (OSError, ValueError) as exc:
        return f"<p><strong>The QA file could not be read:</strong> {html.escape(str(exc))}</p>", None
    quiet = copy.copy(bot)
    quiet.store = None  # evaluation questions must not land in the conversation log or the triage queue
    info = {"file": source.name, "file_sha256": hashlib.sha256(source.read_bytes()).hexdigest(), "via": "staff console"}
    try:
        run = evaluate(quiet, items, progress, run=info)
    except QAFileError as exc:
        problems = "".join(f"<li>{html.escape(e)}</li>" for e in exc.errors[:50])
        return f"<p><strong>The QA file does not match the knowledge base:</strong></p><ul>{problems}</ul>", None
    target = out_dir / f"eval-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    json_path, html_path = write_report(run, target)
    srcdoc = html.escape(html_path.read_text(encoding="utf-8"), quote=True)
    agg = run.aggregate
    frame = (
        f"<p><strong>{agg['passed']} of {agg['n']} questions passed.</strong></p>"
        f'<iframe class="eval-report" title="Evaluation report" sandbox srcdoc="{srcdoc}" '
        'style="width:100%;height:760px;border:1px solid #d0d7de;border-radius:8px;"></iframe>'
    )
    return frame, [str(json_path), str(html_path)]


def build_staff_blocks(console: StaffConsole) -> gr.Blocks:
    """The staff console: live triage queue and detail, insights, evaluation. Mounted behind a login."""
    with gr.Blocks(title="Staff console", analytics_enabled=False, delete_cache=(3600, 3600)) as page:
        gr.Markdown(f"# Staff console\n[Sign out]({STAFF_PATH}/logout)")
        badge = gr.HTML(urgent_badge(0), elem_id="urgent-badge", js_on_load=None)
        tz = gr.Textbox(value="UTC", visible=False, elem_id="staff-tz")
        seen = gr.State("")
        page_no = gr.State(1)
        timer = gr.Timer(5.0)
        with gr.Tabs():
            with gr.Tab("Triage queue", id="queue"):
                gr.Markdown("The queue refreshes itself every few seconds; new urgent items appear at the top.")
                with gr.Row():
                    status = gr.Dropdown(STATUS_CHOICES, value="open", label="Status", elem_id="filter-status")
                    category = gr.Dropdown(CATEGORY_CHOICES, value="all", label="Category", elem_id="filter-category")
                    search = gr.Textbox(
                        label="Search questions and notes", elem_id="search", placeholder="e.g. insurance"
                    )
                    refresh = gr.Button("Refresh", elem_id="refresh", scale=0, min_width=100)
                summary = gr.Markdown(elem_id="queue-summary")
                table = gr.Dataframe(
                    headers=QUEUE_COLUMNS,
                    interactive=False,
                    wrap=True,
                    elem_id="queue-table",
                    max_height=420,
                    column_widths=["6%", "10%", "10%", "14%", "17%", "31%", "12%"],
                )
                with gr.Row():
                    prev_btn = gr.Button("Previous page", elem_id="prev-page", scale=0, min_width=140)
                    page_label = gr.Markdown("Page 1 of 1", elem_id="page-label")
                    next_btn = gr.Button("Next page", elem_id="next-page", scale=0, min_width=140)
                with gr.Row(equal_height=False):
                    item_id = gr.Number(label="Item ID", precision=0, elem_id="item-id", scale=1)
                    open_btn = gr.Button("Open item", elem_id="open-item", scale=0, min_width=140)
                detail = gr.HTML(CHOOSE, elem_id="item-detail", js_on_load=None, padding=True)
                with gr.Row(equal_height=False):
                    assignee = gr.Textbox(label="Assign to", elem_id="assignee", scale=3)
                    assign_btn = gr.Button("Assign", elem_id="assign", scale=0, min_width=140)
                with gr.Row(equal_height=False):
                    note = gr.Textbox(label="Note (required to resolve)", elem_id="resolve-note", lines=2, scale=3)
                    note_btn = gr.Button("Add note", elem_id="add-note", scale=0, min_width=140)
                    resolve_btn = gr.Button("Resolve", variant="primary", elem_id="resolve", scale=0, min_width=140)
                action = gr.Markdown(elem_id="action-status")
                gr.Markdown("### Export")
                with gr.Row(equal_height=False):
                    export_btn = gr.Button("Export the filtered queue as CSV", elem_id="export", scale=0, min_width=260)
                    export_file = gr.File(label="CSV export", elem_id="export-file", interactive=False, visible=False)
            with gr.Tab("Insights", id="insights") as insights:
                charts_btn = gr.Button("Refresh charts", elem_id="refresh-charts", scale=0)
                with gr.Row(equal_height=False):
                    per_day = gr.BarPlot(
                        x="day",
                        y="messages",
                        color="category",
                        title="Messages per day by category",
                        color_map=CATEGORY_COLORS,
                        x_title="Day (UTC)",
                        y_title="Messages",
                        elem_id="chart-messages",
                        height=320,
                        scale=3,
                    )
                    per_day_table = gr.HTML(elem_id="table-messages", js_on_load=None, padding=True)
                unanswered = gr.HTML(elem_id="chart-unanswered", js_on_load=None, padding=True)
                with gr.Row(equal_height=False):
                    feedback = gr.BarPlot(
                        x="day",
                        y="count",
                        color="rating",
                        title="Patient feedback over time",
                        x_title="Day (UTC)",
                        y_title="Ratings",
                        color_map={"helpful": "#1e7d32", "not helpful or reported": "#b00020"},
                        elem_id="chart-feedback",
                        height=280,
                        scale=3,
                    )
                    feedback_table = gr.HTML(elem_id="table-feedback", js_on_load=None, padding=True)
            with gr.Tab("Evaluate", id="evaluate"):
                gr.Markdown(
                    "Upload a QA test file (JSONL or CSV, the format in `docs/evaluation.md`); the bot answers every "
                    "question (nothing is logged) and the report appears below, with report.json and report.html "
                    "to download."
                )
                qa_file = gr.File(label="QA file", file_types=[".jsonl", ".csv"], elem_id="qa-file")
                run_btn = gr.Button("Run evaluation", variant="primary", elem_id="run-eval", scale=0)
                report = gr.HTML(elem_id="eval-report", js_on_load=None)
                report_files = gr.File(label="Report files", file_count="multiple", interactive=False)

        filters = [status, category, search, page_no, tz]
        listing = [table, summary, page_no, page_label, badge]
        first_page = [status, category, search, gr.State(1), tz]
        # The queue redraws in place (timer, filters, after actions): no dimming overlay, which would also drop the
        # text's contrast while it lasts.
        quiet: dict[str, Any] = {"show_progress": "hidden"}
        # The browser's time zone first (times are shown in the staff member's local time), then the queue.
        page.load(None, None, tz, js="() => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'").then(
            console.queue_table, filters, listing
        )
        timer.tick(console.live, [*filters, seen], [*listing, seen], **quiet)
        refresh.click(console.queue_table, filters, listing, api_name="queue", **quiet)
        clear_action = (lambda: "", None, action)
        for control in (status, category):
            control.change(console.queue_table, first_page, listing, **quiet).then(*clear_action)
        search.submit(console.queue_table, first_page, listing, **quiet).then(*clear_action)

        def step(delta: int) -> Callable[[Any], int]:
            return lambda n: max(1, int(n or 1) + delta)

        prev_btn.click(step(-1), page_no, page_no).then(console.queue_table, filters, listing, **quiet)
        next_btn.click(step(1), page_no, page_no).then(console.queue_table, filters, listing, **quiet)
        opened = [detail, assignee]
        table.select(console.select_row, None, item_id).then(console.detail, [item_id, tz], opened).then(*clear_action)
        open_btn.click(console.detail, [item_id, tz], opened, api_name="item").then(*clear_action)
        item_id.submit(console.detail, [item_id, tz], opened).then(*clear_action)
        assign_btn.click(console.assign, [item_id, assignee], [action]).success(
            console.detail, [item_id, tz], opened
        ).then(console.queue_table, filters, listing, **quiet)
        note_btn.click(console.note, [item_id, note], [action, note]).success(
            console.detail, [item_id, tz], opened
        ).then(console.queue_table, filters, listing, **quiet)
        resolve_btn.click(console.resolve, [item_id, note], [action, note]).success(
            console.detail, [item_id, tz], opened
        ).then(console.queue_table, filters, listing, **quiet)
        export_btn.click(console.export_download, [status, category, search], export_file, api_name="export_csv")
        chart_outputs = [per_day, per_day_table, unanswered, feedback, feedback_table]
        insights.select(console.charts, None, chart_outputs)
        charts_btn.click(console.charts, None, chart_outputs)
        run_btn.click(console.evaluate, [qa_file], [report, report_files])
    return page
