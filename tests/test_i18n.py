"""Every string the UI shows exists in English and Simplified Chinese."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llm_demo.ui import translations
from llm_demo.ui.i18n import CHINESE, ENGLISH, language_of

PACKAGE = Path(__file__).resolve().parent.parent / "llm_demo"
CJK = re.compile(r"[\u4e00-\u9fff]")
SAME_IN_BOTH = {"generation.top_p"}  # a technical name readers know as is


def _source() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py"))


def test_every_key_used_in_the_ui_has_both_translations():
    used = set(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", _source()))
    used |= set(re.findall(r"""\.text\(\s*["']([\w.]+)["']""", _source()))
    texts = translations().texts
    assert used, "no translated strings found: the pattern is out of date"
    missing = sorted(used - set(texts))
    assert not missing, f"keys used but not translated: {missing}"


def test_every_translation_has_real_english_and_chinese():
    for key, (english, chinese) in translations().texts.items():
        assert english.strip() and chinese.strip(), key
        if key not in SAME_IN_BOTH:
            assert CJK.search(chinese), f"{key}: Chinese text has no Chinese: {chinese!r}"
            assert not CJK.search(english), f"{key}: English text has Chinese: {english!r}"


def test_every_error_the_backend_raises_has_chinese_wording():
    raised = set(re.findall(r"""(?:Error|UserFacingError)\(\s*["'](\w+)["']""", _source()))
    missing = sorted(raised - set(translations().errors_zh))
    assert not missing, f"error keys without Chinese: {missing}"


def test_templates_take_the_same_placeholders_in_both_languages():
    placeholder = re.compile(r"\{(\w+)")
    for key, (english, chinese) in translations().texts.items():
        assert set(placeholder.findall(chinese)) <= set(placeholder.findall(english)), key


@pytest.mark.parametrize(
    "header, expected",
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", CHINESE),
        ("zh-TW", CHINESE),
        ("en-US,en;q=0.9,zh;q=0.8", ENGLISH),
        ("", ENGLISH),
        ("fr-FR", ENGLISH),
    ],
)
def test_reader_language_comes_from_accept_language(header, expected):
    class Request:
        headers = {"accept-language": header}

    assert language_of(Request()) == expected
