"""The answers tab in Chromium: a file of prompts answered by two tiny models, their metrics and the rows worth
reading, then a blind review saved and counted; screenshots for docs/evaluation.md."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from helpers import screenshot

from llm_demo.settings import get_settings

PROMPTS = "prompt,reference\nWhat is the capital of France?,Paris\nHow many legs has a cat?,Four\nName a colour.,Blue\n"


def test_answers_are_run_compared_and_reviewed(open_app, app_url, tmp_path):
    data = tmp_path / "prompts.csv"
    data.write_text(PROMPTS, encoding="utf-8")
    page = open_app(app_url, "en-US")
    page.get_by_role("tab", name="Answers").click()
    panel = page.locator("#tab-answers")
    panel.locator('input[type="file"]').first.set_input_files(str(data))
    panel.get_by_role("gridcell", name="How many legs has a cat?").wait_for(timeout=30_000)  # the preview
    panel.get_by_role("button", name="Run", exact=True).click()
    panel.get_by_text("2 models answered 3 prompts").wait_for(timeout=120_000)
    assert panel.get_by_role("columnheader", name="ROUGE-L").count() >= 1
    screenshot(page, "answers-en.png")
    panel.get_by_text("Review the answers").click()
    panel.get_by_text("Row 1 of 3").wait_for(timeout=30_000)
    assert panel.get_by_text("Answer 1").count() >= 1  # blind: no model names
    panel.get_by_role("radio", name="4").first.check()
    panel.get_by_role("radio", name="tie").check()
    panel.get_by_role("button", name="Save review").click()
    panel.get_by_text("Saved 2 review(s) of row 1").wait_for(timeout=30_000)
    screenshot(page, "answers-review-en.png")
    with closing(sqlite3.connect(get_settings().db_path)) as db:  # what the panel wrote, whatever the run's id
        kinds = sorted(row[0] for row in db.execute("SELECT kind FROM reviews"))
    assert kinds == ["grade", "pair"]
