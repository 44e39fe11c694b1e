"""report.html: written beside metrics.json by the CLI and offered by the evaluation tab; one file that opens in
a browser with no network and shows what metrics.json says."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from gradio_client import Client, handle_file
from helpers import evaluate_args, read_predictions, screenshot

from llm_demo.__main__ import main

ROLES = ("text", "label", "question", "context", "answer", "source", "reference")
HOSTILE = "<script>document.title='pwned'</script> great"  # text of the file shown as text, never run


def write_reviews(folder: Path) -> Path:
    data = folder / "reviews.csv"
    data.write_text(
        f'text,label\n"{HOSTILE}",negative\nbad,negative\nfine,neutral\nlovely,positive\n', encoding="utf-8"
    )
    return data


def cell(page, header: str) -> str:
    """The first data cell under `header` in the page's first table."""
    headers = page.locator("table").first.locator("th").all_inner_texts()
    return page.locator("table").first.locator("tbody tr").first.locator("td").nth(headers.index(header)).inner_text()


def test_cli_report_opens_offline_in_chromium_and_shows_the_accuracy_of_metrics_json(tiny, tmp_path, browser):
    data, out = write_reviews(tmp_path), tmp_path / "out"
    assert (
        main(
            ["evaluate", "--task", "sentiment", "--model", "Tiny BERT sentiment", "--csv", str(data), "--out", str(out)]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["models"][0]["metrics"]
    with browser.new_context(offline=True) as context:  # closed even when an assertion fails
        page = context.new_page()
        fetched = []
        page.on("request", lambda request: fetched.append(request.url))
        page.goto((out / "report.html").as_uri())
        assert all(url.startswith(("file:", "data:")) for url in fetched), fetched  # nothing from the network
        assert page.title() == "Evaluation report: reviews.csv"  # the file's script did not run
        assert float(cell(page, "Accuracy")) == round(metrics["accuracy"], 4)
        low, high = metrics["accuracy_ci"]
        assert cell(page, "Accuracy 95% CI") == f"[{low:.4f}, {high:.4f}]"
        facts = dict(zip(page.locator("dt").all_inner_texts(), page.locator("dd").all_inner_texts()))
        assert facts["File"] == "reviews.csv" and facts["Rows"] == "4"
        assert facts["SHA-256 of the file"] == hashlib.sha256(data.read_bytes()).hexdigest()
        assert page.locator("img").evaluate("image => image.complete && image.naturalWidth > 0")  # confusion matrix
        wrong = read_predictions(out)[0]["prediction"] != "negative"
        assert page.get_by_text(HOSTILE).count() == int(wrong)  # a misclassified row is listed, as text
        screenshot(page, "report-en.png")


def test_evaluation_tab_offers_the_report_in_the_readers_language(app_url, tmp_path):
    chinese = Client(app_url, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    _, _, _, _, _, files, *_ = chinese.predict(
        handle_file(str(write_reviews(tmp_path))),
        "sentiment",
        ["Tiny BERT sentiment"],
        "text",
        "label",
        *[None] * (len(ROLES) - 2),
        api_name="/evaluate",
    )
    by_name = {Path(path).name: Path(path) for path in files}
    assert sorted(by_name) == ["metrics.json", "predictions.csv", "report.html"]
    page = by_name["report.html"].read_text(encoding="utf-8")
    metrics = json.loads(by_name["metrics.json"].read_text(encoding="utf-8"))["models"][0]["metrics"]
    assert '<html lang="zh-CN">' in page and "<h1>评测报告</h1>" in page and "<th>准确率</th>" in page
    assert f"<td>{round(metrics['accuracy'], 4)}" in page
    assert "<script>" not in page  # the file's text is escaped wherever it is shown


def test_report_html_shows_robustness_and_slices_from_metrics_json(tiny, tmp_path):
    from llm_demo.evaluation.html_report import english

    data = tmp_path / "reviews.csv"
    data.write_text(
        "text,label,source\ngood film,positive,web\nBad film!,negative,web\n"
        "这部电影很好看。,positive,weibo\nterrible 2 hours,negative,weibo\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(evaluate_args(data, out, "--robustness", "--slice-column", "source")) == 0
    model = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["models"][0]
    page = (out / "report.html").read_text(encoding="utf-8")
    robustness, slices = page.index(english("report.robustness")), page.index(english("report.slices"))
    assert robustness < slices
    for item in model["robustness"]:
        assert english(f"evaluation.perturbation.{item['perturbation']}") in page[robustness:slices]
    assert page.count('src="data:image/png;base64,') == 2  # the confusion matrix and the fail-rate chart
    assert [value for value in ("web", "weibo") if f"<td>{value}</td>" in page[slices:]] == ["web", "weibo"]


MATH_LOOKING = ["$\\foo$", "costs $5 or $6"]  # matplotlib would read both as mathematics; the first fails to draw


def test_a_confusion_matrix_draws_labels_with_dollar_signs_as_written():
    import io
    from types import SimpleNamespace

    from llm_demo.evaluation.figures import confusion_figure

    metrics = SimpleNamespace(confusion=[[1, 0], [1, 1]], labels=MATH_LOOKING)
    result = SimpleNamespace(models=[SimpleNamespace(model="$model$", metrics=metrics)])
    figure = confusion_figure(result)
    figure.savefig(io.BytesIO(), format="png")  # raised ValueError on "$\foo$" when read as mathematics
    axes = figure.axes[0]
    for texts in (axes.get_xticklabels(), axes.get_yticklabels()):
        assert [(text.get_text(), text.get_parse_math()) for text in texts] == [
            (label, False) for label in MATH_LOOKING
        ]
    assert axes.title.get_text().endswith("$model$") and not axes.title.get_parse_math()


def test_report_of_a_zero_shot_run_with_a_math_looking_label_is_written(tiny, tmp_path):
    data, out = tmp_path / "topics.csv", tmp_path / "out"
    data.write_text(f"text,label\nhello,{MATH_LOOKING[0]}\nworld,{MATH_LOOKING[1]}\n", encoding="utf-8")
    arguments = ["evaluate", "--task", "zero-shot", "--model", "Tiny BERT NLI", "--csv", str(data), "--out", str(out)]
    assert main(arguments) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert all(label in page for label in MATH_LOOKING) and "data:image/png;base64," in page
