"""Issue 23's hostile requests, sent to the running app as an attacker would: each gets a clear message (or the
right answer) within a time bound, and the app keeps serving. Rows 4, 5, 6, 9 and 10 of the issue's table."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from helpers import screenshot

from llm_demo.tasks.classification import zero_shot

NLI, S, CHAT = "Tiny BERT NLI", "Tiny BERT sentiment", "Tiny chat GPT-2"
ROLES = ("text", "label", "question", "context", "answer", "source", "reference")
FOUR_HUNDRED_WORDS = " ".join(["word"] * 400)


def timed(client, *arguments, api_name: str, seconds: float):
    """The endpoint's answer, or its error, within `seconds` (a TimeoutError fails the test if it takes longer)."""
    started = time.perf_counter()
    try:
        return client.submit(*arguments, api_name=api_name).result(timeout=seconds)
    finally:
        assert time.perf_counter() - started < seconds


def refused(client, *arguments, api_name: str, seconds: float) -> str:
    """The message of a request the app refuses, checked to be a message and not a traceback."""
    with pytest.raises(AppError) as raised:
        timed(client, *arguments, api_name=api_name, seconds=seconds)
    message = str(raised.value)
    assert "Traceback" not in message and "went wrong on our side" not in message
    return message


def still_serving(client) -> None:
    table, _ = timed(client, "still here", S, api_name="/sentiment", seconds=10)
    assert table["data"][0][0] == "still here"


def test_row_4_zero_shot_with_3000_labels_is_refused_at_once_naming_the_limit(client):
    labels = ",".join(f"l{i}" for i in range(1, 3001))
    message = refused(client, FOUR_HUNDRED_WORDS, NLI, labels, False, api_name="/classify", seconds=5)
    assert message == "3,000 candidate labels were given; the limit is 100 (LLM_DEMO_MAX_LABELS)."
    still_serving(client)


def test_row_4_a_long_text_with_100_labels_is_split_across_batches_and_scored(client, load):
    labels = [f"l{i}" for i in range(1, 101)]  # 100 pairs of ~410 tokens: 20 times the CPU's token budget
    result, _ = timed(client, FOUR_HUNDRED_WORDS, NLI, ",".join(labels), False, api_name="/classify", seconds=60)
    expected = zero_shot(load("classification", NLI, "sequence-classification"), [FOUR_HUNDRED_WORDS], labels)[0]
    shown = {c["label"]: c["confidence"] for c in result["confidences"]}  # the top ten
    assert len(shown) == 10 and shown == pytest.approx({s.label: s.score for s in expected.scores[:10]}, abs=1e-6)


def _history(turns: int, characters: int) -> list[dict]:
    history = []
    for _ in range(turns):
        history += [
            {"role": "user", "content": [{"type": "text", "text": "u" * characters}]},
            {"role": "assistant", "content": [{"type": "text", "text": "a" * characters}]},
        ]
    return history


def test_row_5_a_chat_with_2000_earlier_turns_is_refused_at_once_naming_the_limit(client):
    message = refused(client, "hi", _history(2_000, 1_000), "", CHAT, 4, 0, api_name="/chat", seconds=15)
    assert message == (
        "The conversation has 2,000 earlier turns; the limit is 200 (LLM_DEMO_MAX_CHAT_TURNS). "
        "Start a new conversation to go on."
    )
    message = refused(client, "hi", [], "s" * 30_000, CHAT, 4, 0, api_name="/chat", seconds=5)
    assert message == "The system prompt is 30,000 characters long; the limit is 20,000 (LLM_DEMO_MAX_INPUT_CHARS)."
    still_serving(client)


def test_row_5_a_long_history_within_the_caps_is_cut_to_the_window_quickly(client):
    history, _, note, _ = timed(client, "hi", _history(150, 600), "", CHAT, 4, 0, api_name="/chat", seconds=30)
    assert note.startswith("150 oldest turn(s) left out")  # the tiny model's window holds the new message only
    assert len(history) == 302  # the page keeps every turn


def test_row_6_a_sentiment_box_of_200000_lines_is_refused_at_once_naming_the_limit(client):
    message = refused(client, "ok\n" * 200_000, S, api_name="/sentiment", seconds=5)
    assert message == (
        "The text has 200,000 lines; the limit is 1,000 (LLM_DEMO_MAX_LINES). "
        "Evaluate a longer list as a file in the Evaluation tab."
    )
    table, _ = timed(client, "ok\n" * 1_000, S, api_name="/sentiment", seconds=30)
    assert len(table["data"]) == 1_000


def test_row_9_a_zero_shot_label_with_dollar_signs_is_plotted_and_reported(client, tmp_path):
    data = tmp_path / "topics.csv"
    data.write_text("text,label\nhello,$\\foo$\nworld,costs $5 or $6\nthird,$\\foo$\n", encoding="utf-8")
    roles = [{"text": "text", "label": "label"}.get(role) for role in ROLES]
    status, _, per_class, _, plot, files, *_ = timed(
        client, handle_file(str(data)), "zero-shot", [NLI], *roles, api_name="/evaluate", seconds=60
    )
    assert status.startswith("Finished: 3 rows, 1 model(s).") and plot is not None
    assert {row[1] for row in per_class["data"]} == {"$\\foo$", "costs $5 or $6"}
    report = next(path for path in files if path.endswith("report.html"))
    assert "$\\foo$" in open(report, encoding="utf-8").read()


# --- row 10: Markdown from untrusted text, in a real browser ---------------------------------------------


@pytest.fixture
def attacker() -> Iterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 standing in for the attacker's: its URL, and the paths that were requested from it."""
    hits: list[str] = []

    class Recording(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *arguments) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


def test_row_10_labels_replies_and_errors_never_make_the_browser_fetch_an_attackers_url(
    open_app, app_url, attacker, monkeypatch, tmp_path
):
    evil, hits = attacker
    from llm_demo.ui import chat_branches

    reply = (
        f"Look: ![pic]({evil}/chat-image.png) <img src='{evil}/chat-html.png'> [a link]({evil}/chat-link)\n\n"
        f"```html\n<img src='{evil}/chat-code.png'>\n```\n\n"
        f"```mermaid\ngraph TD\nA[\"<img src='{evil}/chat-mermaid.png'>\"]\n```\n\nThe end."
    )
    monkeypatch.setattr(chat_branches, "stream_chat", lambda loaded, messages, settings: iter([reply]))
    labelled = (
        "text,label\ngood film,positive\nbad,![x]({evil}/{where}-image.png)\nmeh,<img src={evil}/{where}-html.png>\n"
    )
    for where in ("evaluation", "finetune"):
        (tmp_path / f"{where}.csv").write_text(labelled.format(evil=evil, where=where), encoding="utf-8")
    page = open_app(app_url)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url) if request.url.startswith(evil) else None)

    page.get_by_role("tab", name="Evaluation").click()  # unknown labels are named in the status line
    panel = page.locator("#tab-evaluation")
    panel.locator('input[type="file"]').first.set_input_files(str(tmp_path / "evaluation.csv"))
    panel.get_by_role("gridcell", name="good film").wait_for(timeout=30_000)
    panel.get_by_role("button", name="Run evaluation").click()
    panel.get_by_text("Finished: 3 rows").wait_for(timeout=60_000)
    unknown = panel.get_by_text("does not know these labels").inner_text()  # named as text, not shown as images
    assert f"<img src={evil}/evaluation-html.png>" in unknown.replace("\u2060", "")

    page.get_by_role("tab", name="Fine-tuning").click()  # the labels of the file are listed
    panel = page.locator("#tab-finetune")
    panel.locator("input[type=file]").first.set_input_files(str(tmp_path / "finetune.csv"))
    panel.get_by_text("3 rows · 3 labels").wait_for(timeout=30_000)

    page.get_by_role("tab", name="Classification").click()  # an error quoting a label
    panel = page.locator("#tab-classification")
    panel.get_by_label("Model").click()
    page.get_by_role("option", name=NLI).click()
    panel.get_by_label("Text to classify").fill("some text")
    panel.get_by_label("Your labels, separated by commas (zero-shot models)").fill(
        f"<img src={evil}/error-html.png>, <img src={evil}/error-html.png>"
    )
    panel.get_by_role("button", name="Classify").click()
    page.get_by_text("is given twice").wait_for(timeout=30_000)

    page.get_by_role("tab", name="Chat", exact=True).click()  # a reply written to leak
    panel = page.locator("#tab-chat")
    panel.locator("#chat-message textarea").fill("hello")
    panel.get_by_role("button", name="Send").click()
    window = panel.locator("#chat-window")
    window.get_by_text("The end.").wait_for(timeout=30_000)
    assert f"<img src='{evil}/chat-code.png'>" in window.locator("pre code").first.inner_text()  # code as written
    screenshot(page, "hostile-chat.png")

    time.sleep(2)  # time for any image, video or diagram to load
    assert requested == [] and hits == []
    page.evaluate("url => { new Image().src = url; }", f"{evil}/control.png")  # the watch works: this one loads
    page.wait_for_timeout(2_000)
    assert hits == ["/control.png"]
