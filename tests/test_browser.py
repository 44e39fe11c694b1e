"""End to end in a real browser: headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import pytest
from helpers import screenshot


def test_sentiment_tab_analyses_lines_typed_in_the_page(open_app, app_url):
    page = open_app(app_url)
    page.get_by_role("tab", name="Sentiment").click()
    panel = page.locator("#tab-sentiment")
    panel.get_by_label("Text — one per line for several").fill("what a lovely day\nterrible service")
    panel.get_by_role("button", name="Analyse").click()
    panel.get_by_role("gridcell", name="terrible service").wait_for(timeout=30_000)
    labels = panel.locator('[role="gridcell"][data-col="1"]').all_inner_texts()
    assert len(labels) == 2 and set(label.strip() for label in labels) <= {"negative", "neutral", "positive"}
    screenshot(page, "sentiment-en.png")


def test_chinese_browser_gets_chinese_tab_names(open_app, app_url):
    page = open_app(app_url, "zh-CN")
    for name in ("翻译", "文本生成", "文本分类", "情感分析", "问答", "评测", "微调", "模型内部"):
        assert page.get_by_role("tab", name=name).count() == 1, name
    page.get_by_role("tab", name="问答").click()
    screenshot(page, "qa-zh.png")


@pytest.mark.parametrize(
    "locale, names",
    [
        (
            "en-US",
            {
                "tab": "Evaluation",
                "robustness": "Robustness",
                "slices": "Metrics per value of this column",
                "run": "Run evaluation",
                "cost": "Robustness multiplies the model calls",
                "upper": "UPPER CASE",
                "table": "Perturbation",
            },
        ),
        (
            "zh-CN",
            {
                "tab": "评测",
                "robustness": "稳健性",
                "slices": "按此列的取值分组计算指标",
                "run": "开始评测",
                "cost": "稳健性测试使模型调用次数增加到约",
                "upper": "全部大写",
                "table": "扰动",
            },
        ),
    ],
)
def test_evaluation_tab_shows_robustness_and_slices(open_app, app_url, tmp_path, locale, names):
    data = tmp_path / "reviews.csv"
    data.write_text(
        "text,label,source\ngood film,positive,web\nBad film!,negative,web\n这部电影很好看。,positive,weibo\n",
        encoding="utf-8",
    )
    page = open_app(app_url, locale)
    page.get_by_role("tab", name=names["tab"]).click()
    panel = page.locator("#tab-evaluation")
    panel.locator('input[type="file"]').first.set_input_files(str(data))
    panel.get_by_role("gridcell", name="这部电影很好看。").wait_for(timeout=30_000)  # the preview
    panel.get_by_role("checkbox", name=names["robustness"]).check()
    panel.get_by_text(names["cost"]).wait_for(timeout=30_000)
    cost = panel.get_by_text(names["cost"]).inner_text()
    assert "17" in cost  # 2+1+2+2+2+3+3+1+1 perturbed rows for the 3 rows of the file
    panel.get_by_label(names["slices"]).click()
    page.get_by_role("option", name="source").click()
    panel.get_by_role("button", name=names["run"]).click()
    robustness = panel.locator("#evaluation-robustness-table")
    robustness.get_by_role("gridcell", name=names["upper"]).wait_for(timeout=60_000)
    assert robustness.get_by_role("columnheader", name=names["table"]).count() >= 1
    slices = panel.locator("#evaluation-slices-table")
    slices.get_by_role("gridcell", name="weibo").wait_for(timeout=30_000)
    screenshot(page, f"robustness-{locale}.png")
