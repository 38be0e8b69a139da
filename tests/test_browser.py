"""The app in a real browser (Debian's chromium through Playwright), checked as a patient and a staff member would,
on a 1280x900 desktop and a 390x844 phone.

The real app runs on a free loopback port around the session bot; every request the page makes off the machine
is blocked and fails the test. Screenshots go to artifacts/screenshots/ (or $BOT_SCREENSHOTS). axe-core comes from
npm (tests/package.json, installed by `make axe`) and is injected into each page it checks.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from bot.chat import ChatBot
from bot.evaluation.qa_format import load_items
from bot.evaluation.report import write_report
from bot.evaluation.runner import evaluate
from bot.triage.staff_auth import hash_password
from bot.triage.store import Store
from bot.web.app import build_app
from bot.web.server import start_server
from tests.conftest import DATA, ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
SHOTS = Path(os.environ.get("BOT_SCREENSHOTS", str(ROOT / "artifacts" / "screenshots")))
AXE = ROOT / "tests" / "node_modules" / "axe-core" / "axe.min.js"
STAFF_USER, STAFF_PASSWORD = "nurse.jones", "correct horse battery staple"
UNANSWERED = "Is the HALT-MS treatment covered by insurance?"
RISKS = "What risks did the article report?"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]


class _Receiver(BaseHTTPRequestHandler):
    posts: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Receiver.posts.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on loopback that keeps every JSON body posted to it."""
    _Receiver.posts = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.posts
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def served(
    bot: ChatBot, tmp_path_factory: pytest.TempPathFactory, webhook: tuple[str, list[dict[str, Any]]]
) -> Iterator[dict[str, Any]]:
    store = Store(tmp_path_factory.mktemp("browser") / "ui.sqlite3")
    app_bot = copy.copy(bot)
    app_bot.store = store
    app_bot.ask(UNANSWERED, session_id="earlier-patient", source="ui")
    settings = bot.settings.model_copy(
        update={
            "staff_user": STAFF_USER,
            "staff_password_hash": hash_password(STAFF_PASSWORD, iterations=2_000),
            "alert_webhook_url": webhook[0],
            "public_url": "http://127.0.0.1:7860",
            "rate_limit_per_minute": 100,
            "rate_limit_per_ip_per_minute": 500,  # every page in these tests comes from one address
        }
    )
    app = build_app(app_bot, store, settings)
    server = start_server(app)
    try:
        yield {"url": server.url, "store": store, "hooks": webhook[1]}
    finally:
        app.state.chat.close()
        server.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install -y chromium (make browser)"
    pw = sync_playwright().start()
    yield pw
    pw.stop()


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield browser
    browser.close()


@pytest.fixture
def open_page(browser: Browser, served: dict[str, Any]) -> Iterator[Callable[..., Page]]:
    """New pages, each in its own browser context, at a viewport; any request leaving the loopback interface
    is blocked and fails the test."""
    outside: list[str] = []
    contexts: list[BrowserContext] = []

    def make(viewport: dict[str, int] = DESKTOP, path: str = "/", **options: Any) -> Page:
        context = browser.new_context(viewport=viewport, **options)  # type: ignore[arg-type]
        contexts.append(context)

        def guard(route: Any) -> None:
            url = route.request.url
            if urlparse(url).hostname in ("127.0.0.1", "localhost") or url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                outside.append(url)
                route.abort()

        context.route("**/*", guard)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(served["url"] + path)
        return page

    yield make
    for context in contexts:
        context.close()
    assert outside == [], f"the page tried to reach the network: {outside}"


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def ask(page: Page, question: str) -> Any:
    """Type a question and press Enter; returns the new answer once it is on the page."""
    count = page.locator("#log article.msg.bot").count()
    box = page.locator("#question")
    box.fill(question)
    box.press("Enter")
    expect(page.locator("#log article.msg.bot")).to_have_count(count + 1)
    return page.locator("#log article.msg.bot").last


def axe_violations(page: Page) -> list[str]:
    """Serious and critical axe-core (WCAG 2 A/AA) violations on the page, one line each."""
    assert AXE.exists(), "axe-core is missing: run `make axe` (npm ci in tests/)"
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => {
          const r = await axe.run(document, {runOnly: {type: 'tag',
                                 values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
          return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                  .map(v => v.id + ' (' + v.impact + '): '
                       + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '));
        }"""
    )
    return list(found)


def first_line_in_view(page: Page, answer: Any) -> None:
    """The answer's first line is inside the conversation box and inside the window."""
    top = answer.locator(".answer p, .answer .notice, .answer .emergency p").first.bounding_box()
    chat = page.locator("#chat").bounding_box()
    viewport = page.viewport_size
    assert top and chat and viewport
    assert chat["y"] - 1 <= top["y"] and top["y"] + 16 <= chat["y"] + chat["height"], (top, chat)
    assert top["y"] >= 0 and top["y"] + 16 <= viewport["height"], (top, viewport)


def tab_to(page: Page, test: str, limit: int = 60) -> None:
    """Press Tab until the focused element satisfies the JS predicate `test` (el => bool)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(({test}))(document.activeElement)"):
            return
    pytest.fail(f"Tab never reached an element where {test}")


# ------------------------------------------------------------------------------------------- patient


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_each_answer_arrives_with_its_first_line_in_view_and_is_announced_once(
    open_page: Callable[..., Page], viewport: dict[str, int]
) -> None:
    page = open_page(viewport)
    expect(page.locator("h1")).to_have_text("HALT-MS article helper")
    expect(page.locator("#question")).to_be_focused()  # the question box comes first
    page.evaluate(
        """() => { window.announced = 0; new MutationObserver(() => window.announced++)
                   .observe(document.getElementById('announce'), {childList: true, characterData: true,
                                                                  subtree: true}); }"""
    )
    questions = [RISKS, "How many people took part in the study?", "Did anyone die?", "How old were they?"]
    for n, question in enumerate(questions, start=1):
        answer = ask(page, question)
        first_line_in_view(page, answer)
        expect(answer.locator(".pending")).to_have_count(0)
        assert page.evaluate("window.announced") == n, "the live region is updated once per answer"
    expect(page.locator("#announce")).to_contain_text("Answer:")
    name = "desktop" if viewport is DESKTOP else "phone"
    shot(page, f"patient-{name}-answer")

    # Scrolled up while waiting: the answer does not yank the page; a "new answer" control appears instead.
    page.evaluate(
        """() => { const box = document.getElementById('question');
                   box.value = 'What did the study show after five years?';
                   document.getElementById('ask').requestSubmit();
                   document.getElementById('chat').scrollTop = 0; }"""
    )
    expect(page.locator("#log article.msg.bot")).to_have_count(len(questions) + 1)
    control = page.locator("#new-answer")
    expect(control).to_be_visible()
    assert page.evaluate("document.getElementById('chat').scrollTop") < 50, "the reader's place is kept"
    shot(page, f"patient-{name}-new-answer-control")
    control.focus()
    page.keyboard.press("Enter")
    latest = page.locator("#log article.msg.bot").last
    expect(latest).to_be_focused()
    first_line_in_view(page, latest)
    expect(control).to_be_hidden()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_risks_disclosure_and_feedback_by_keyboard(
    open_page: Callable[..., Page], served: dict[str, Any], viewport: dict[str, int]
) -> None:
    store: Store = served["store"]
    page = open_page(viewport)
    answer = ask(page, RISKS)
    summary = answer.locator(".caveat-summary")
    expect(summary).to_have_count(1)
    expect(answer.locator(".footer-note")).to_contain_text("not medical advice")
    risks = answer.locator("details.risks")
    expect(risks).not_to_have_attribute("open", "")
    minimum = 44 if viewport is PHONE else 24

    page.locator("#question").focus()
    tab_to(page, "el => el.tagName === 'SUMMARY'")
    page.keyboard.press("Enter")
    expect(risks.locator(".risk-list")).to_be_visible()
    assert risks.locator(".risk-list li").count() >= 2

    for button in ("Helpful", "Not helpful", "Report a problem"):  # exact names
        box = answer.get_by_role("button", name=button, exact=True).bounding_box()
        assert box and box["width"] >= minimum and box["height"] >= minimum, (button, box)
    report = answer.get_by_role("button", name="Report a problem")
    expect(report).to_be_visible()  # visible without hovering
    tab_to(page, "el => el.textContent.trim() === 'Report a problem'")
    page.keyboard.press("Enter")
    comment = answer.locator(".fb-panel textarea")
    expect(comment).to_be_focused()
    panel, message = answer.locator(".fb-panel").bounding_box(), answer.bounding_box()
    assert panel and message and message["y"] <= panel["y"] <= message["y"] + message["height"], "panel by the message"
    page.keyboard.type("The risk list is long")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Send
    expect(report).to_be_focused()
    expect(answer.locator(".fb-status")).to_contain_text("Thanks")
    name = "desktop" if viewport is DESKTOP else "phone"
    shot(page, f"patient-{name}-risks-and-report")

    # Thumbs down then Cancel: nothing is sent, focus returns to the thumb.
    down = answer.get_by_role("button", name="Not helpful")
    down.focus()
    page.keyboard.press("Enter")
    expect(comment).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Cancel
    expect(down).to_be_focused()
    expect(down).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # thumbs up
    expect(answer.get_by_role("button", name="Helpful", exact=True)).to_have_attribute("aria-pressed", "true")

    turn = [t for t in store.turns() if t.question == RISKS][-1]
    deadline = time.monotonic() + 10
    while len(store.feedback(turn.id)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [(f.rating, f.comment) for f in store.feedback(turn.id)] == [
        ("report", "The risk list is long"),
        ("up", None),
    ], "one record per action; Cancel sends nothing"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_conversation_survives_a_reload_until_cleared_and_prints_for_the_neurologist(
    open_page: Callable[..., Page], viewport: dict[str, int]
) -> None:
    page = open_page(viewport)
    page.add_init_script("window.print = () => { window.printed = (window.printed || 0) + 1; };")
    ask(page, "How many people took part in the study?")
    ask(page, UNANSWERED)
    page.locator('#log a.cite[aria-label^="Source 1, paragraph"]').first.click()
    expect(page.locator("#sources .src.active")).to_be_in_viewport()

    page.reload()
    expect(page.locator("#log article.msg.bot")).to_have_count(2)
    expect(page.locator("#log")).to_contain_text("24 volunteers")
    expect(page.locator("#sources")).to_contain_text("Sources for")
    first_line_in_view(page, page.locator("#log article.msg.bot").last)

    page.get_by_role("button", name="Print or save for my neurologist").click()
    assert page.evaluate("window.printed") == 1
    page.emulate_media(media="print")
    printable = page.locator("#printable")
    expect(printable).to_be_visible()
    expect(page.locator("#chat")).to_be_hidden()
    expect(printable.locator("h2").first).to_have_text("Questions and answers")
    expect(printable).to_contain_text("Q: How many people took part in the study?")
    expect(printable).to_contain_text("24 volunteers")
    expect(printable.locator(".print-citations li").first).to_contain_text("paragraph")
    gaps = printable.locator(".print-gaps")
    expect(gaps.locator("h2")).to_have_text("Questions the article could not answer: ask your neurologist")
    expect(gaps).to_contain_text(UNANSWERED)
    name = "desktop" if viewport is DESKTOP else "phone"
    shot(page, f"patient-{name}-print", full_page=True)
    page.emulate_media(media="screen")

    page.get_by_role("button", name="Clear conversation").click()
    expect(page.locator("#log article")).to_have_count(0)
    page.reload()
    expect(page.locator("#log article")).to_have_count(0)
    expect(page.locator("#starters")).to_be_visible()


def test_emergency_message_and_the_webhook_post(open_page: Callable[..., Page], served: dict[str, Any]) -> None:
    page = open_page()
    answer = ask(page, "My husband suddenly can't move his left side and his face is drooping")
    alert = answer.locator('.emergency[role="alert"]')
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("911")
    first_line_in_view(page, answer)
    shot(page, "patient-emergency")
    deadline = time.monotonic() + 10
    while not served["hooks"] and time.monotonic() < deadline:
        time.sleep(0.1)
    post = served["hooks"][-1]
    assert post["event"] == "urgent_triage_item" and post["category"] == "emergency" and post["priority"] == "urgent"
    assert served["store"].get_item(post["item_id"]).priority == "urgent"
    assert "drooping" not in json.dumps(post), "the webhook carries ids, not the patient's words"


def test_patient_page_has_no_serious_accessibility_violation_after_an_answer(
    open_page: Callable[..., Page],
) -> None:
    for viewport in (DESKTOP, PHONE):
        page = open_page(viewport)
        answer = ask(page, RISKS)
        answer.locator("details.risks summary").click()
        answer.get_by_role("button", name="Report a problem").click()
        assert axe_violations(page) == []


# ------------------------------------------------------------------------------------------- staff


def sign_in(page: Page) -> None:
    expect(page.get_by_text("Staff console: sign in with the staff account.")).to_be_visible()
    page.get_by_label("username").fill(STAFF_USER)
    page.get_by_label("password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_role("heading", name="Staff console")).to_be_visible()


def test_staff_see_a_new_emergency_within_ten_seconds_without_a_click(
    open_page: Callable[..., Page], served: dict[str, Any]
) -> None:
    staff = open_page(DESKTOP, "/staff", timezone_id="America/Chicago")
    expect(staff).to_have_title("Sign in: staff console")
    sign_in(staff)
    table = staff.locator("#queue-table")
    expect(table).to_contain_text(UNANSWERED)
    expect(table).to_contain_text("CST")  # the staff member's local time
    before = staff.locator("#urgent-count").get_attribute("data-count") or "0"

    patient = open_page(PHONE)
    message = "My father has crushing chest pain and is sweating right now"
    ask(patient, message)
    started = time.monotonic()
    expect(table).to_contain_text("crushing chest pain", timeout=10_000)
    waited = time.monotonic() - started
    assert waited < 10
    count = int(before) + 1
    expect(staff.locator("#urgent-count")).to_have_attribute("data-count", str(count))
    expect(staff.locator("#urgent-badge")).to_contain_text(f"{count} urgent item")
    expect(staff).to_have_title(f"({count} urgent) Staff console")
    shot(staff, "staff-live-urgent")


def test_staff_assign_resolve_audit_search_export_and_accessibility(
    open_page: Callable[..., Page], served: dict[str, Any]
) -> None:
    store: Store = served["store"]
    page = open_page(DESKTOP, "/staff")
    sign_in(page)
    table = page.locator("#queue-table")
    expect(table).to_contain_text(UNANSWERED)
    assert axe_violations(page) == [], "staff queue"
    shot(page, "staff-queue", full_page=True)

    page.locator("#search textarea, #search input").first.fill("insurance")
    page.locator("#search textarea, #search input").first.press("Enter")
    expect(page.locator("#queue-summary")).to_contain_text("insurance")
    table.get_by_text(UNANSWERED).locator("visible=true").first.click()
    detail = page.locator("#item-detail")
    expect(detail).to_contain_text("Conversation (")
    expect(detail.locator(".turn.flagged")).to_contain_text(UNANSWERED)
    expect(page.locator("#assignee textarea, #assignee input").first).to_have_value(STAFF_USER)
    page.locator("#assign").click()
    expect(page.locator("#action-status")).to_contain_text("assigned to")
    page.locator("#resolve-note textarea").fill("Insurance is not covered by the article; added to the FAQ backlog")
    page.locator("#resolve").click()
    expect(page.locator("#action-status")).to_contain_text("resolved")
    expect(detail).to_contain_text("Audit trail")
    expect(detail).to_contain_text(f"{STAFF_USER} · resolve: Insurance is not covered")
    expect(detail).to_contain_text(f"{STAFF_USER} · assign: assigned to {STAFF_USER}")
    assert axe_violations(page) == [], "item view"
    shot(page, "staff-item", full_page=True)

    page.locator("#filter-status input").first.click()
    page.get_by_role("option", name="All", exact=True).click()
    expect(page.locator("#action-status")).to_have_text("")  # messages clear when the context changes
    page.locator("#export").click()
    expect(page.locator("#export-file")).to_contain_text(".csv")
    item = next(i for i in store.list_items(status="resolved") if i.turn.question == UNANSWERED)
    assert [e.action for e in item.events] == ["assign", "status", "resolve"]
    assert all(e.actor == STAFF_USER for e in item.events)

    page.get_by_role("tab", name="Insights").click()
    expect(page.locator("#chart-unanswered")).to_contain_text(UNANSWERED)
    expect(page.locator("#table-messages table")).to_be_visible()
    expect(page.locator("#table-feedback table")).to_be_attached()
    page.wait_for_timeout(1500)  # let the charts draw for the screenshot
    shot(page, "staff-insights", full_page=True)


def test_evaluation_report_has_no_serious_accessibility_violation(
    open_page: Callable[..., Page], bot: ChatBot, tmp_path: Path
) -> None:
    items = load_items(DATA / "qa" / "own.dev.jsonl")[:6]
    quiet = copy.copy(bot)
    quiet.store = None
    run = evaluate(quiet, items, None, run={"file": "own.dev.jsonl"})
    _, html_path = write_report(run, tmp_path / "report", thresholds={"pass_rate": 0.99})
    page = open_page(DESKTOP, "/healthz")
    page.set_content(html_path.read_text(encoding="utf-8"))
    expect(page.locator("h1")).to_be_visible()
    expect(page.get_by_role("heading", name="What the metrics mean")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_label("Show failures only").check()
    shot(page, "eval-report-failures", full_page=True)
