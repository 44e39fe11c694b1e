"""Untrusted text (a model's reply, a label from a file, a typed model id) shown as Markdown that fetches nothing:
a public page must not make its readers' browsers request a stranger's URLs."""

from __future__ import annotations

import re

WORD_JOINER = "\u2060"  # invisible and zero-width: breaks a Markdown or HTML construct without changing what is read
_LINES = re.compile(r"(\r\n|\r|\n)")  # the line breaks Markdown knows (marked turns \r\n and \r into \n)
_OPENER = re.compile(r"( {0,3})(`{3,})([^`|]*)|( {0,3})(~{3,})([^|]*)")  # opens code (a | could start a table)
_LATEX = (re.compile(r"\$(?=\$)"), "$" + WORD_JOINER)  # Gradio finds $$…$$ blocks anywhere, even inside code
_BREAKS = (
    (re.compile(r"!\["), "!" + WORD_JOINER + "["),  # an image: ![alt](url), ![alt][ref]
    (re.compile(r"<(?=[A-Za-z/!?])"), "<" + WORD_JOINER),  # raw HTML (<img>, <video>, <source>, styles), autolinks
    (re.compile(r"``(?=`)"), "``" + WORD_JOINER),  # a code fence, or a ```mermaid diagram (labels may hold HTML)
    (re.compile(r"~~(?=~)"), "~~" + WORD_JOINER),
    (re.compile(r"^( {0,3})\["), r"\1" + WORD_JOINER + "["),  # a link definition: its title may span lines
    _LATEX,
)


def _plain(line: str) -> str:
    for pattern, replacement in _BREAKS:
        line = pattern.sub(replacement, line)
    return line


def _in_fence(line: str, run: str, indent: int) -> str:
    """A line after a fence that opened with `run`, `indent` spaces in: "close", "code", or "unsure" where Markdown
    readers may disagree (marked and CommonMark close on different lines; a list item may end inside its code)."""
    lead = len(line) - len(line.lstrip(" "))
    closing = re.fullmatch(f"{re.escape(run[0])}{{{len(run)},}}[~`]*[ \t]*", line.lstrip(" \t"))
    if closing and indent <= lead <= 3 and re.fullmatch(f"{re.escape(run[0])}+ *", line[lead:]):
        return "close"
    if not line.strip(" \t"):
        return "code"
    return "unsure" if lead < indent or (closing and (lead <= 3 or indent)) else "code"


def safe_markdown(text: str | None) -> str:
    """Untrusted text (a model's reply, a label from a file) as Markdown that fetches nothing when shown.

    Images, raw HTML and autolinks would have the reader's browser request any URL in the text; a word joiner
    breaks each such construct, so it reads the same but shows as text (links stay links, loaded only if clicked).
    Fenced code stays as written, for copying, where every Markdown reader sees code: a fence at most three spaces
    in, up to its closing fence. From a line where readers could disagree on that, the rest of the text is broken
    like prose. `as_typed` undoes it all, so a conversation shown this way can be sent back unchanged.
    """
    parts = _LINES.split(text or "")  # lines, and the breaks between them
    run, indent, unsure = None, 0, False  # the open fence, how far in it opened, and whether fences still count
    for index in range(0, len(parts), 2):
        line = parts[index]
        opener = _OPENER.fullmatch(line) if run is None and not unsure else None
        if opener:
            spaces, run, info = opener.group(1, 2, 3) if opener[2] else opener.group(4, 5, 6)
            indent = len(spaces)
            parts[index] = spaces + run + WORD_JOINER * info.startswith("mermaid") + _plain(info)
            continue
        kind = "prose" if run is None else _in_fence(line, run, indent)
        if kind == "code":
            parts[index] = _LATEX[0].sub(_LATEX[1], line)
            continue
        if kind != "close":
            parts[index] = _plain(line)
        unsure = unsure or kind == "unsure"
        run = None
    return "".join(parts)


def as_typed(text: str) -> str:
    """The text as it was before safe_markdown (with word joiners of its own, if it had any, removed too)."""
    return text.replace(WORD_JOINER, "")
