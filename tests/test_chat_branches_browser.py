"""The chat as people expect it, in a real browser: Enter sends (Shift+Enter breaks the line, in the arena and
compare too), an edit answers again and keeps the old branch, Retry keeps the earlier answers as alternatives, and a
like is kept with the conversation and on the server, without the conversation's text."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import time

import pytest
from helpers import screenshot
from playwright.sync_api import expect


@pytest.fixture
def numbered_answers(monkeypatch):
    """Answers that say which they are ("answer 1", "answer 2", ...), so a test knows what each window shows."""
    from llm_demo.ui import chat_branches

    count = itertools.count(1)

    def numbered(loaded, messages, settings):
        yield f"answer {next(count)}"

    monkeypatch.setattr(chat_branches, "stream_chat", numbered)


def _chat(page):
    """The chat tab, its replies set within the tiny model's window (the default reply length is longer)."""
    page.get_by_role("tab", name="Chat", exact=True).click()
    panel = page.locator("#tab-chat")
    panel.get_by_text("Settings").click()
    expect(panel.get_by_text("This model writes at most")).to_be_visible()  # the slider follows the model first
    panel.locator('input[type="number"]').first.fill("16")
    panel.locator('input[type="number"]').first.press("Tab")
    return panel


def _send(panel, text: str, answers: int) -> None:
    """Type a message, press Enter, and wait until the window shows `answers` answers."""
    box = panel.locator("#chat-message textarea")
    box.fill(text)
    box.press("Enter")
    expect(panel.locator("#chat-window [data-testid=bot]")).to_have_count(answers, timeout=30_000)


def _window(panel) -> list[str]:
    """The messages the window shows, first to last."""
    messages = panel.locator("#chat-window [data-testid=user], #chat-window [data-testid=bot]")
    return [text.strip() for text in messages.all_inner_texts()]


def test_enter_sends_and_shift_enter_starts_a_new_line(open_app, app_url, numbered_answers):
    page = open_app(app_url)
    panel = _chat(page)
    box = panel.locator("#chat-message textarea")
    box.fill("first line")
    box.press("Shift+Enter")
    box.press_sequentially("second line")
    page.wait_for_timeout(500)
    assert box.input_value() == "first line\nsecond line"
    assert panel.locator("#chat-window [data-testid=user]").count() == 0  # Shift+Enter sent nothing
    box.press("Enter")
    expect(panel.locator("#chat-window [data-testid=bot]")).to_have_text("answer 1", timeout=30_000)
    assert panel.locator("#chat-window [data-testid=user]").inner_text().split() == ["first", "line", "second", "line"]
    assert box.input_value() == ""


def _two_lines_then_enter(panel, box_id: str) -> None:
    """Type two lines into a prompt box (Shift+Enter between them, which must not send) and press Enter."""
    panel.locator('input[type="number"]').first.fill("8")  # max new tokens, within the tiny models' window
    panel.locator('input[type="number"]').first.press("Tab")
    box = panel.locator(f"{box_id} textarea")
    box.fill("Tell me")
    box.press("Shift+Enter")
    box.press_sequentially("about the sea.")
    assert box.input_value() == "Tell me\nabout the sea."
    box.press("Enter")


@pytest.fixture
def plain_battle_answers(monkeypatch):
    """Arena answers in plain words ("answer 1", "answer 2"), which a text box shows exactly as they were written
    (a random model's bytes may hold control characters that a browser's text box changes)."""
    from llm_demo.ui import arena_tab

    count = itertools.count(1)
    monkeypatch.setattr(arena_tab, "stream", lambda loaded, prompt, settings: iter([f"answer {next(count)}"]))


def test_enter_starts_a_battle_whose_vote_downloads_as_a_preference_pair(open_app, app_url, plain_battle_answers):
    page = open_app(app_url)
    page.set_viewport_size({"width": 1600, "height": 900})
    page.get_by_role("tab", name="Arena", exact=True).click()
    panel = page.locator("#tab-arena")
    _two_lines_then_enter(panel, "#arena-prompt")
    expect(panel.get_by_text("✓ Finished", exact=True)).to_have_count(2, timeout=60_000)
    left, right = (panel.locator(f"#arena-{side} textarea").input_value() for side in ("left", "right"))
    panel.get_by_label("B is better").check()
    panel.get_by_role("button", name="Vote", exact=True).click()
    panel.locator("#arena-revealed").get_by_text("Model A").wait_for(timeout=30_000)
    panel.get_by_role("button", name="Export preference pairs").click()
    expect(panel.locator("#arena-preferences")).to_contain_text("from arena votes", timeout=30_000)
    link = panel.locator("#arena-preferences-file a").first.get_attribute("href")
    pairs = [json.loads(line) for line in page.request.get(link).text().splitlines()]
    assert sorted([left, right]) == ["answer 1", "answer 2"]
    assert {
        "prompt": [{"role": "user", "content": "Tell me\nabout the sea."}],
        "chosen": [{"role": "assistant", "content": right}],
        "rejected": [{"role": "assistant", "content": left}],
    }.items() <= pairs[-1].items()  # the vote just cast, each side's answer as it was shown


def test_enter_starts_a_comparison(open_app, app_url):
    page = open_app(app_url)
    page.get_by_role("tab", name="Compare", exact=True).click()
    panel = page.locator("#tab-compare")
    _two_lines_then_enter(panel, "#compare-input")
    page.wait_for_function(
        """() => { const cells = [...document.querySelectorAll('#tab-compare [role=gridcell][data-col="4"]')];
        return cells.length == 2 && cells.every(cell => cell.innerText.trim() !== ''); }""",
        timeout=60_000,
    )


def test_retry_keeps_every_answer_and_the_arrows_step_between_them(open_app, app_url, numbered_answers):
    page = open_app(app_url)
    panel = _chat(page)
    _send(panel, "Name a colour.", 1)
    for answer in ("answer 2", "answer 3"):
        panel.locator("#chat-retry").click()
        expect(panel.locator("#chat-window [data-testid=bot]")).to_have_text(answer, timeout=30_000)
    expect(panel.locator("#chat-position")).to_have_text("Answer 3/3", timeout=10_000)
    panel.get_by_role("button", name="◀ Previous").click()
    expect(panel.locator("#chat-position")).to_have_text("Answer 2/3", timeout=10_000)
    assert _window(panel) == ["Name a colour.", "answer 2"]
    screenshot(page, "chat-alternatives.png", full_page=False)
    _send(panel, "Why that one?", 2)  # the conversation goes on from the answer shown; its alternatives stay
    assert _window(panel) == ["Name a colour.", "answer 2", "Why that one?", "answer 4"]
    expect(panel.locator("#chat-position")).to_have_text("Answer 2/3")
    panel.get_by_role("button", name="Next ▶").click()
    expect(panel.locator("#chat-position")).to_have_text("Answer 3/3", timeout=10_000)
    assert _window(panel) == ["Name a colour.", "answer 3"]  # the follow-up stays with answer 2
    page.reload()  # every alternative is kept in the browser
    panel = _chat(page)
    expect(panel.locator("#chat-position")).to_have_text("Answer 3/3", timeout=30_000)
    panel.get_by_role("button", name="◀ Previous").click()
    expect(panel.locator("#chat-position")).to_have_text("Answer 2/3", timeout=10_000)
    assert _window(panel) == ["Name a colour.", "answer 2", "Why that one?", "answer 4"]


def test_an_edit_answers_again_from_there_and_the_old_branch_comes_back(open_app, app_url, numbered_answers):
    page = open_app(app_url)
    panel = _chat(page)
    _send(panel, "one", 1)
    _send(panel, "two", 2)
    panel.locator("#chat-window").get_by_role("button", name="Edit").first.click()
    panel.locator("#chat-window textarea").fill("uno")
    panel.locator("#chat-window").get_by_role("button", name="Submit").click()
    expect(panel.locator("#chat-position")).to_have_text("Your message, version 2/2", timeout=30_000)
    assert _window(panel) == ["uno", "answer 3"]  # the turns after the edited message are replaced
    panel.get_by_role("button", name="◀ Previous").click()
    expect(panel.locator("#chat-position")).to_have_text("Your message, version 1/2", timeout=10_000)
    assert _window(panel) == ["one", "answer 1", "two", "answer 2"]  # the old branch, whole
    page.reload()  # the branches are kept in the browser
    panel = _chat(page)
    expect(panel.locator("#chat-position")).to_have_text("Your message, version 1/2", timeout=30_000)


def _feedback_rows(since: float, wanted: int) -> list[tuple]:
    """The server's ratings given since `since`, once there are `wanted` of them (a like is written as it is given)."""
    query = "SELECT rating, model, prompt, text FROM chat_feedback WHERE given >= ? ORDER BY rating"
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(os.environ["LLM_DEMO_DB"]) as db:
            rows = db.execute(query, (since,)).fetchall()
        if len(rows) == wanted or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_a_like_is_kept_with_the_conversation_and_on_the_server_without_text(open_app, app_url, numbered_answers):
    assert not os.environ.get("LLM_DEMO_KEEP_FEEDBACK_TEXT")
    started = time.time()
    page = open_app(app_url)
    panel = _chat(page)
    _send(panel, "Name a colour.", 1)
    panel.locator("#chat-retry").click()
    expect(panel.locator("#chat-window [data-testid=bot]")).to_have_text("answer 2", timeout=30_000)
    expect(panel.locator("#chat-position")).to_have_text("Answer 2/2", timeout=10_000)
    liked = panel.locator("#chat-window").get_by_role("button", name="Liked")
    panel.locator("#chat-window").get_by_role("button", name="Like", exact=True).click()
    expect(liked).to_have_count(1, timeout=10_000)
    # Server side: the liked answer, and the one it was preferred to; which model wrote them, not what was said.
    assert _feedback_rows(started, 2) == [
        ("like", "Tiny chat GPT-2", None, None),
        ("passed_over", "Tiny chat GPT-2", None, None),
    ]
    screenshot(page, "chat-liked.png", full_page=False)
    panel.get_by_role("button", name="◀ Previous").click()  # the thumbs follow the answer shown
    expect(panel.locator("#chat-window [data-testid=bot]")).to_have_text("answer 1", timeout=10_000)
    expect(liked).to_have_count(0)
    page.reload()  # and the like is kept with the conversation, in the browser
    panel = _chat(page)
    expect(panel.locator("#chat-position")).to_have_text("Answer 1/2", timeout=30_000)
    panel.get_by_role("button", name="Next ▶").click()
    expect(panel.locator("#chat-window [data-testid=bot]")).to_have_text("answer 2", timeout=10_000)
    expect(liked).to_have_count(1, timeout=10_000)
    liked.click()  # taken back: nothing is left to pair
    assert _feedback_rows(started, 0) == []
