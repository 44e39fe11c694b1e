"""Chat, Compare and Arena in a real browser: the conversation survives a reload, Stop stops, votes reveal."""

from __future__ import annotations

import re
import threading
import time

import pytest
from helpers import screenshot
from playwright.sync_api import expect

STORAGE_KEY = "llm_demo-chat"  # where the chat tab keeps conversations in the browser's localStorage
ANSWER_FIGURES = re.compile(r"^First token [\d.]+ s · \d+ tokens · [\d.–]+ tokens/s$")  # under a finished answer


@pytest.fixture
def slow_replies(monkeypatch):
    """A reply that takes 50 slow steps, so Stop has time to act; records how far it got and whether it was closed."""
    from llm_demo.ui import chat_branches

    seen = {"steps": 0, "closed": threading.Event()}

    def slow(loaded, messages, settings):
        try:
            for step in range(1, 51):
                seen["steps"] = step
                yield " ".join(["word"] * step)
                time.sleep(0.2)
        finally:
            seen["closed"].set()

    monkeypatch.setattr(chat_branches, "stream_chat", slow)
    return seen


def _chat(page, max_new_tokens: int | None = None):
    page.get_by_role("tab", name="Chat", exact=True).click()
    panel = page.locator("#tab-chat")
    if max_new_tokens:  # the tiny model's window is 128 tokens, less than the default reply length
        panel.get_by_text("Settings").click()
        panel.locator('input[type="number"]').first.fill(str(max_new_tokens))
        panel.locator('input[type="number"]').first.press("Tab")
    return panel


def test_conversation_is_restored_after_a_reload(open_app, app_url):
    page = open_app(app_url)
    panel = _chat(page, max_new_tokens=16)
    panel.get_by_label("System prompt").fill("Answer in one short sentence.")
    panel.locator("#chat-message textarea").fill("What is a language model?")
    panel.get_by_role("button", name="Send").click()
    window = panel.locator("#chat-window")
    window.get_by_text("What is a language model?").wait_for(timeout=30_000)
    page.wait_for_function("document.querySelectorAll('#chat-window .message').length >= 2", timeout=30_000)
    # Once the reply ends the conversation is saved in the browser, and the saved list names it.
    expect(panel.get_by_label("Saved conversations")).to_have_value("What is a language model?", timeout=30_000)
    page.wait_for_function("key => localStorage.getItem(key) !== null", arg=STORAGE_KEY, timeout=10_000)
    screenshot(page, "chat-en.png")
    page.reload()
    panel = _chat(page)
    panel.locator("#chat-window").get_by_text("What is a language model?").wait_for(timeout=30_000)
    assert panel.get_by_label("System prompt").input_value() == "Answer in one short sentence."


def test_stop_ends_the_reply_and_keeps_what_was_written(open_app, app_url, slow_replies):
    page = open_app(app_url)
    panel = _chat(page, max_new_tokens=16)
    panel.locator("#chat-message textarea").fill("Write a long story.")
    panel.get_by_role("button", name="Send").click()
    panel.locator("#chat-window").get_by_text("word word").first.wait_for(timeout=30_000)
    panel.get_by_role("button", name="Stop").click()
    assert slow_replies["closed"].wait(10)  # the reply's generator was closed: it takes no step after this
    assert slow_replies["steps"] < 50  # closed by Stop, not by running out of steps
    expect(panel.get_by_label("Saved conversations")).to_have_value("Write a long story.")  # saved after Stop
    assert "word word" in panel.locator("#chat-window").inner_text()


def test_compare_and_blind_battle_in_the_page(open_app, app_url):
    page = open_app(app_url)
    page.set_viewport_size({"width": 1600, "height": 900})  # every tab name in one row, none in the overflow menu
    page.get_by_role("tab", name="Compare", exact=True).click()
    panel = page.locator("#tab-compare")
    panel.get_by_label("Prompt or text").fill("Tell me about the sea.")
    panel.locator('input[type="number"]').first.fill("24")  # max new tokens, within the tiny models' window
    panel.locator('input[type="number"]').first.press("Tab")
    panel.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_function(
        """() => { const cells = [...document.querySelectorAll('#tab-compare [role=gridcell][data-col="4"]')];
        return cells.length == 2 && cells.every(cell => cell.innerText.trim() !== ''); }""",
        timeout=60_000,
    )
    screenshot(page, "compare-en.png")
    page.get_by_role("tab", name="Arena", exact=True).click()
    panel = page.locator("#tab-arena")
    panel.get_by_label("Prompt").fill("Write a haiku about the sea.")
    panel.locator('input[type="number"]').first.fill("24")
    panel.locator('input[type="number"]').first.press("Tab")
    panel.get_by_role("button", name="Start a blind battle").click()
    page.wait_for_function("document.querySelector('#arena-right textarea').value.length > 0", timeout=60_000)
    # Both answers finished (each says so): an update still streaming would blank the reveal again.
    expect(panel.get_by_text("✓ Finished", exact=True)).to_have_count(2, timeout=60_000)
    assert "Tiny" not in panel.inner_text() and "tokens/s" not in panel.inner_text()  # speed would fingerprint
    panel.get_by_label("A is better").check()
    panel.get_by_role("button", name="Vote", exact=True).click()
    panel.locator("#arena-revealed").get_by_text("Model A").wait_for(timeout=30_000)
    assert "Tiny" in panel.locator("#arena-revealed").inner_text()
    expect(panel.get_by_text(ANSWER_FIGURES)).to_have_count(2, timeout=30_000)  # the figures come with the names
    screenshot(page, "arena-en.png")


def test_chinese_browser_gets_the_new_tabs_in_chinese(open_app, app_url):
    page = open_app(app_url, "zh-CN")
    page.set_viewport_size({"width": 1600, "height": 900})
    for name in ("对话", "模型对比", "盲测擂台"):
        assert page.get_by_role("tab", name=name, exact=True).count() == 1, name
    page.get_by_role("tab", name="盲测擂台", exact=True).click()
    page.get_by_role("button", name="开始盲测").wait_for(timeout=10_000)
