"""The app in a real browser (Debian's chromium through Playwright), checked as a patient and a staff member would.

The real app runs on a free loopback port around the session bot; every request the page makes off the machine
is blocked and fails the test. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from bot.chat import ChatBot
from bot.triage.staff_auth import hash_password
from bot.triage.store import Store
from bot.web.app import build_app
from bot.web.server import start_server
from tests.conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
SHOTS = ROOT / "artifacts" / "screenshots"
STAFF_USER, STAFF_PASSWORD = "nurse.jones", "correct horse battery staple"
UNANSWERED = "Is the HALT-MS treatment covered by insurance?"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def served(bot: ChatBot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    store = Store(tmp_path_factory.mktemp("browser") / "ui.sqlite3")
    app_bot = copy.copy(bot)
    app_bot.store = store
    app_bot.ask(UNANSWERED, session_id="earlier-patient", source="ui")
    app_bot.ask("My wife collapsed and is not breathing", session_id="earlier-patient-2", source="ui")
    settings = bot.settings.model_copy(
        update={"staff_user": STAFF_USER, "staff_password_hash": hash_password(STAFF_PASSWORD, iterations=2_000)}
    )
    app = build_app(app_bot, store, settings)
    server = start_server(app)
    try:
        yield {"url": server.url, "store": store}
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
    """New pages at a viewport; any request leaving the loopback interface is blocked and fails the test."""
    outside: list[str] = []
    contexts = []

    def make(viewport: dict[str, int] = DESKTOP, path: str = "/") -> Page:
        context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
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


def ask(page: Page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def answers(page: Page) -> Any:
    return page.locator('#chat [data-testid="bot"]')


# ------------------------------------------------------------------------------------------- patient


def test_banner_cited_answer_source_panel_caveat_and_clear(open_page: Callable[..., Page]) -> None:
    page = open_page()
    banner = page.locator("#banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Education about one news article on one study")
    expect(banner).to_contain_text("not medical advice")
    expect(banner).to_contain_text("call 911")
    expect(page.locator("#sources")).to_contain_text("click a marker")

    ask(page, "What risks did the article report?")
    link = page.locator('#chat a[href="#src-0-1"]').first
    expect(link).to_be_visible()
    answer = answers(page).last
    expect(answer).to_contain_text("Adverse events, such as infections, were both minimal and expected.")
    caveats = answer.locator(".caveats")
    expect(caveats).to_be_visible()
    expect(caveats).to_contain_text("Keep in mind")
    expect(caveats).to_contain_text("investigational")
    link_box, caveat_box = link.bounding_box(), caveats.bounding_box()
    assert link_box and caveat_box and caveat_box["y"] > link_box["y"], "the caveats sit under the answer"

    page.locator('#chat a[href="#src-0-2"]').first.click()
    source = page.locator("#src-0-2")
    expect(source).to_have_class("src active")
    expect(source).to_be_in_viewport()
    expect(source).to_contain_text("Paragraph 8")
    expect(source).to_contain_text("Immunosuppressive Therapy, Stem Cell Transplant Induces Remission")
    expect(source.locator("mark")).to_have_text(
        "Three participants died during the study, however, none of the deaths were due to the treatment."
    )
    assert page.evaluate("document.activeElement.id") == "src-0-2"
    page.wait_for_timeout(400)  # let the highlight finish fading in for the screenshot
    shot(page, "patient-desktop-answer")

    page.locator("#clear").click()
    expect(answers(page)).to_have_count(0)
    expect(page.locator("#sources")).to_contain_text("click a marker")


def test_phone_width_with_the_keyboard_alone(open_page: Callable[..., Page]) -> None:
    page = open_page(PHONE)
    expect(page.locator("#question textarea")).to_be_focused()
    for _ in range(40):  # Tab from the question box to the first starter question
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "How many people took part in the study?":
            break
    else:
        pytest.fail("the starter questions cannot be reached with Tab")
    page.keyboard.press("Enter")
    expect(answers(page).last).to_contain_text("in 24 volunteers aged 26 to 52")
    link = page.locator('#chat a[href^="#src-0-"]').first
    assert link.evaluate("el => el.tabIndex") >= 0
    link.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#sources .src.active")).to_be_in_viewport()

    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    time.sleep(0.3)
    banner = page.locator("#banner")
    expect(banner).to_be_in_viewport()
    expect(banner).to_contain_text("Not medical advice")
    expect(banner).to_contain_text("call 911")
    shot(page, "patient-phone-answer")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "patient-phone-top")


def test_emergency_message(open_page: Callable[..., Page]) -> None:
    page = open_page()
    ask(page, "My husband suddenly can't move his left side and his face is drooping")
    alert = page.locator('#chat .emergency[role="alert"]')
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("call 911 now")
    expect(alert).to_contain_text("emergency department")
    shot(page, "patient-emergency")


def test_feedback_is_stored_with_the_turn(open_page: Callable[..., Page], served: dict[str, Any]) -> None:
    store: Store = served["store"]
    question = "What happened to participants after five years?"
    page = open_page()
    ask(page, question)
    expect(page.locator("#sources .src").first).to_be_visible()
    page.get_by_role("button", name="Dislike").last.click()
    panel = page.locator("#feedback-panel")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("your feedback was recorded")
    page.locator("#feedback-text textarea").fill("It does not say how many people relapsed")
    page.locator("#feedback-send").click()
    expect(panel).to_be_hidden()
    shot(page, "patient-feedback")

    (turn,) = [t for t in store.turns() if t.question == question]
    deadline = time.monotonic() + 10
    while len(store.feedback(turn.id)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [(f.rating, f.comment) for f in store.feedback(turn.id)] == [
        ("down", None),
        ("report", "It does not say how many people relapsed"),
    ]
    (item,) = [i for i in store.list_items() if i.turn_id == turn.id]
    assert item.category == "negative_feedback" and item.status == "new"


# ------------------------------------------------------------------------------------------- staff


def _rows_with(table: Any, text: str) -> list[int]:
    """The on-screen rows (by their y position) of the visible table cells showing exactly `text`."""
    boxes = table.get_by_text(text, exact=True).evaluate_all(
        "els => els.filter(e => e.offsetParent !== null).map(e => Math.round(e.getBoundingClientRect().y))"
    )
    return sorted(set(boxes))


def test_staff_login_wall_login_and_resolve(open_page: Callable[..., Page], served: dict[str, Any]) -> None:
    store: Store = served["store"]
    page = open_page(DESKTOP, "/staff")
    expect(page.get_by_text("HALT-MS staff console: sign in with the staff account.")).to_be_visible()
    expect(page.get_by_text("Triage queue")).to_have_count(0)
    shot(page, "staff-login")

    page.get_by_label("username").fill(STAFF_USER)
    page.get_by_label("password").fill("not the password")
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_text("Incorrect Credentials")).to_be_visible()
    expect(page.locator("#queue-table")).to_have_count(0)

    page.get_by_label("username").fill(STAFF_USER)
    page.get_by_label("password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_role("heading", name="HALT-MS staff console")).to_be_visible()
    table = page.locator("#queue-table")
    expect(table).to_contain_text(UNANSWERED)
    expect(page.locator("#queue-summary")).to_contain_text("urgent and not resolved")
    urgent_rows = _rows_with(table, "URGENT")
    emergencies = _rows_with(table, "emergency")
    assert urgent_rows and all(any(abs(u - e) < 20 for e in emergencies) for u in urgent_rows), "urgent = emergency"
    assert max(urgent_rows) < min(_rows_with(table, UNANSWERED)), "urgent items come first"

    table.get_by_text(UNANSWERED).click()
    detail = page.locator("#item-detail")
    expect(detail).to_contain_text("Conversation (1 turn)")
    expect(detail).to_contain_text(UNANSWERED)
    expect(page.locator("#assignee textarea, #assignee input").first).to_have_value(STAFF_USER)
    page.locator("#resolve-note textarea").fill("Insurance is not covered by the article; added to the FAQ backlog")
    page.locator("#resolve").click()
    expect(page.locator("#action-status")).to_contain_text("resolved")
    expect(detail).to_contain_text("added to the FAQ backlog")
    expect(table).not_to_contain_text(UNANSWERED)
    page.locator("#export").click()
    expect(page.locator("#export-file")).to_contain_text(".csv")
    shot(page, "staff-console", full_page=True)

    (item,) = [i for i in store.list_items() if i.turn.question == UNANSWERED]
    assert item.status == "resolved" and any("FAQ backlog" in n.text for n in item.notes)

    page.get_by_role("tab", name="Insights").click()
    expect(page.locator("#chart-unanswered")).to_contain_text(UNANSWERED)
    expect(page.locator("#chart-messages")).to_contain_text("Messages per day by category")
    shot(page, "staff-insights", full_page=True)
