"""The classification tab's examples with a fixed-label model picked: clicking one fills the (hidden) labels
box too, and Classify must still just classify, in the browser and through the API."""

from __future__ import annotations

from helpers import cpu_placement, screenshot

from llm_demo.tasks.classification import classify
from llm_demo.ui.classification_tab import EXAMPLES

FIXED = "Tiny BERT classifier"  # the tiny models file's default classification model: its labels box is hidden


def test_example_clicked_with_a_fixed_label_model_classifies_in_the_browser(open_app, app_url, load):
    from playwright.sync_api import expect

    page = open_app(app_url)
    page.get_by_role("tab", name="Classification").click()
    panel = page.locator("#tab-classification")
    assert panel.get_by_label("Your labels, separated by commas (zero-shot models)").count() == 0  # hidden
    text = EXAMPLES[0][0]
    panel.get_by_text(text[:40]).first.click()  # the example fills the text box and the hidden labels box
    expect(panel.get_by_label("Text to classify")).to_have_value(text)
    panel.get_by_role("button", name="Classify").click()
    expected = classify(load("classification", FIXED, "sequence-classification"), [text])[0]
    panel.locator(".model-status").get_by_text(cpu_placement()).wait_for(timeout=30_000)
    assert page.locator(".toast-body").count() == 0  # no error message popped up
    assert panel.get_by_test_id("label-output-value").inner_text().strip() == expected.label
    screenshot(page, "classification-example-fixed.png")


def test_labels_sent_to_a_fixed_label_model_are_ignored_not_an_error(client, load):
    result, status = client.predict("the match", FIXED, "sport, politics", False, api_name="/classify")
    expected = classify(load("classification", FIXED, "sequence-classification"), ["the match"])[0]
    assert result["label"] == expected.label and cpu_placement() in status
