"""Matplotlib settings shared by every figure the app draws (confusion matrices, attention maps)."""

from __future__ import annotations

import functools
from pathlib import Path

CJK_FONTS = ("Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei", "PingFang SC")
CJK_FONT_FILES = ("CJK", "wqy", "WenQuanYi")  # how their files are named on Linux


@functools.cache
def font_families() -> tuple[str, ...]:
    """A Latin font first, then any installed CJK font for Chinese text (matplotlib falls back per glyph).

    CJK font files are registered here because matplotlib's font cache, once built, misses fonts
    installed after it; without them Chinese titles and labels draw as empty boxes.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager

    for path in font_manager.findSystemFonts():
        if any(mark in Path(path).name for mark in CJK_FONT_FILES):
            font_manager.fontManager.addfont(path)
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return ("DejaVu Sans", *(name for name in CJK_FONTS if name in installed))


def figure_settings() -> dict:
    """rcParams for a figure drawn from users' words: fonts for Latin and Chinese, and text taken literally, so that
    a label such as `$\\foo$` is drawn as written rather than read as mathematics (which fails, or draws other
    text)."""
    return {"font.family": list(font_families()), "text.parse_math": False}
