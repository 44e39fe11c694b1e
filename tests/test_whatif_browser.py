"""What if? and sequence salience in Chromium: inputs carried over from the task tabs, an edit compared and stepped
back, counterfactuals found, a span of a generated answer explained; screenshots for the README."""

from __future__ import annotations

from helpers import screenshot

TEXT = "I loved this film, the acting was wonderful."
EDITED = "I hated this film, the acting was wonderful."


def test_a_classification_is_carried_over_edited_compared_and_stepped_back(open_app, app_url):
    page = open_app(app_url)
    page.get_by_role("tab", name="Classification").click()
    source = page.locator("#tab-classification")
    source.get_by_label("Text to classify").fill(TEXT)
    source.get_by_role("button", name="What if? Edit this input").click()
    panel = page.locator("#tab-whatif")
    panel.get_by_text("The label stays").wait_for(timeout=30_000)  # the carried text, compared with itself
    assert panel.get_by_label("Original text").input_value() == TEXT
    edited = panel.get_by_label("Edited copy: change some words")
    edited.fill(EDITED)
    panel.get_by_role("button", name="Compare").click()
    panel.get_by_text("hated").first.wait_for(timeout=30_000)  # the diff
    assert panel.get_by_role("columnheader", name="Change").count() >= 1
    panel.get_by_role("button", name="Find edits that flip the label").click()
    panel.get_by_text("texts classified").wait_for(timeout=60_000)
    panel.get_by_text("This visit's edits").click()
    panel.get_by_role("gridcell", name=EDITED).wait_for(timeout=30_000)
    screenshot(page, "whatif-en.png")
    panel.get_by_role("button", name="Step back to the edit before").click()
    page.wait_for_function(
        "([text]) => [...document.querySelectorAll('#tab-whatif textarea')].some(box => box.value === text "
        "&& box.closest('label')?.innerText.includes('Edited copy'))",
        arg=[TEXT],
        timeout=30_000,
    )


def test_a_question_is_carried_over_and_its_edited_context_answered(open_app, app_url):
    page = open_app(app_url, "zh-CN")
    page.get_by_role("tab", name="问答").click()
    source = page.locator("#tab-qa")
    source.get_by_label("问题").fill("埃菲尔铁塔在哪里？")
    source.get_by_label("上下文：包含答案的文本").fill("埃菲尔铁塔位于法国巴黎，建成于1889年。")
    source.get_by_role("button", name="假如……？修改这条输入").click()
    panel = page.locator("#tab-whatif")
    panel.get_by_text("答案仍为").wait_for(timeout=30_000)
    panel.get_by_label("修改后的上下文").fill("埃菲尔铁塔位于法国里昂，建成于1889年。")
    panel.get_by_role("button", name="比较").last.click()
    panel.get_by_text("里昂").first.wait_for(timeout=30_000)
    screenshot(page, "whatif-qa-zh.png")


def test_a_generation_is_carried_to_salience_and_a_selected_span_explained(open_app, app_url):
    page = open_app(app_url)
    page.get_by_role("tab", name="Text generation").click()
    source = page.locator("#tab-generation")
    source.get_by_label("Prompt").fill("Anna lives in Paris. She likes the city.\n\nBob lives in Rome.")
    source.get_by_text("Settings").click()
    length = source.get_by_role("spinbutton", name="Max new tokens")  # a short reply: the whole of it fits the window
    length.fill("8")
    length.press("Enter")
    source.get_by_role("button", name="Generate", exact=True).click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#tab-generation textarea')].some(box => box.value.length > 4 "
        "&& box.closest('label')?.innerText.includes('Model output'))",
        timeout=60_000,
    )
    source.get_by_role("button", name="Stop").click()  # a reply that no longer grows while it travels
    source.get_by_role("button", name="Where did this come from?").click()
    panel = page.locator("#tab-inside")
    panel.get_by_text("Salience summed by words").wait_for(timeout=120_000)  # the whole reply, by words (fp32 load)
    answer = panel.locator("#salience-answer textarea")
    answer.evaluate("box => { box.focus(); box.setSelectionRange(1, 4); box.dispatchEvent(new Event('select')); }")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#tab-inside input[type=number]')].some(box => box.value === '4')",
        timeout=30_000,
    )
    panel.get_by_role("radio", name="sentences").check()
    panel.get_by_text("Salience summed by sentences").wait_for(timeout=30_000)
    screenshot(page, "salience-en.png")
