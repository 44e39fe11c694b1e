"""What an answers run shows beyond the per-model table: the judge's ratings beside people's (one Bradley-Terry
scale), the win-rate matrix, how often the judge agrees with people, and the rows worth reading: where the
models' grades differ most, and where the judge and people disagree, every answer side by side."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from ..safe_csv import csv_text
from ..settings import get_settings
from . import report
from .judge import PairwiseRating, Verdict, pairwise_ratings
from .results import EvaluationResult
from .reviews import Agreement, Review, ReviewStore, agreement
from .store import RunFolder, write_file

Say = Callable[..., str]
DISAGREEMENTS = 10  # rows of each kind shown
REVIEWS_FILE = "reviews.csv"
TEXT = {
    "answers.col.rating": ("Rating", "评分"),
    "answers.col.interval": ("95% CI", "95% 置信区间"),
    "answers.col.wins": ("Wins", "胜"),
    "answers.col.losses": ("Losses", "负"),
    "answers.col.ties": ("Ties", "平"),
    "answers.col.by": ("Judged by", "评判者"),
    "answers.col.spread": ("Spread of grades", "分数差距"),
    "answers.col.judge": ("Judge", "评审模型"),
    "answers.col.people": ("People", "人工"),
    "answers.by_judge": ("judge {judge}", "评审模型 {judge}"),
    "answers.by_people": ("people (review)", "人工审阅"),
    "answers.ratings": ("Pairwise ratings (Bradley-Terry, Elo scale)", "两两比较评分（Bradley-Terry，Elo 尺度）"),
    "answers.win_rates": ("Win rate of the row's model against the column's", "行模型对列模型的胜率"),
    "answers.position_bias": (
        "Position bias: {share:.0%} of the judge's verdicts changed when the answers swapped places "
        "({verdicts} pairs, {unreadable} unreadable).",
        "位置偏差：交换答案位置后，评审模型 {share:.0%} 的判断发生了变化（{verdicts} 对，{unreadable} 对无法读取）。",
    ),
    "answers.agreement": (
        "Judge and people: {pairs} pairs compared, {agree} the same verdict, Cohen's kappa {kappa}; "
        "{grades} answers graded by both, Spearman {spearman}.",
        "评审模型与人工：比较了 {pairs} 对，{agree} 判断一致，Cohen's kappa {kappa}；"
        "{grades} 个答案双方都评了分，Spearman 相关 {spearman}。",
    ),
    "answers.cache": (
        "Answers: {answers_reused} reused, {answers_generated} generated. Judge verdicts: {verdicts_reused} reused, "
        "{verdicts_judged} judged.",
        "答案：复用 {answers_reused} 个，新生成 {answers_generated} 个。评审结果：复用 {verdicts_reused} 个，"
        "新评审 {verdicts_judged} 个。",
    ),
    "answers.disagree_models": ("Rows where the models' grades differ most", "各模型分数差距最大的行"),
    "answers.disagree_people": ("Rows where the judge and people disagree", "评审模型与人工意见不一致的行"),
}


def english(key: str, **params: object) -> str:
    return TEXT[key][0].format(**params) if key in TEXT else report.english(key, **params)


def reviews_of(result: EvaluationResult) -> list[Review]:
    """People's reviews of this run (of any earlier run of the same file, models and options too)."""
    if result.task != "answers" or not result.run_id:
        return []
    return ReviewStore(get_settings().db_path).reviews(result.run_id)


def write_reviews(result: EvaluationResult) -> Path | None:
    """reviews.csv beside the run's other files, when people have reviewed it: every grade and pick, as kept."""
    if result.task != "answers" or not result.run_id or not reviews_of(result):
        return None
    path = RunFolder(result.folder).folder / REVIEWS_FILE
    write_file(path, csv_text(ReviewStore(get_settings().db_path).export_rows(result.run_id)))
    return path


def agreement_of(result: EvaluationResult, reviews: list[Review]) -> Agreement | None:
    if result.judging is None or not reviews:
        return None
    return agreement(reviews, result.judging.pairs, result.judging.grades)


def human_ratings(reviews: Iterable[Review]) -> list[PairwiseRating]:
    """People's pairwise picks rated as the judge's verdicts are, so the two rankings share one scale."""
    picks = [
        (review.model, review.other, Verdict(review.value, None, None, False, "", None))
        for review in reviews
        if review.kind == "pair"
    ]
    return pairwise_ratings(picks) if picks else []


def answers_dict(result: EvaluationResult) -> dict[str, Any]:
    """The run-level keys metrics.json has for the answers task."""
    reviews = reviews_of(result)
    out: dict[str, Any] = {"cache": result.cache, "run_id": result.run_id}
    judging = result.judging
    if judging is not None:
        out.update(
            judge=judging.judge,
            judge_mode=judging.mode,
            pairwise=[dataclasses.asdict(rating) for rating in judging.ratings],
            win_rates={"models": [model.model for model in result.models], "matrix": judging.win_rates},
            position_bias=judging.position_bias,
            verdicts=judging.verdicts,
            unreadable_verdicts=judging.unreadable,
        )
    if reviews:
        found = agreement_of(result, reviews)
        out["reviews"] = len(reviews)
        out["human_pairwise"] = [dataclasses.asdict(rating) for rating in human_ratings(reviews)]
        if found is not None:
            out["agreement"] = dataclasses.asdict(found)
    return out


def ratings_frame(result: EvaluationResult, say: Say = english, reviews: list[Review] | None = None) -> pd.DataFrame:
    """The judge's ratings and people's, one row per model and judge."""
    judging = result.judging
    groups = [(say("answers.by_judge", judge=judging.judge), judging.ratings)] if judging else []
    people = human_ratings(reviews or [])
    if people:
        groups.append((say("answers.by_people"), people))
    return pd.DataFrame(
        [
            {
                say("answers.col.by"): by,
                say("evaluation.col.model"): rating.model,
                say("answers.col.rating"): round(rating.rating, 1),
                say("answers.col.interval"): f"{rating.low:.0f} – {rating.high:.0f}",
                say("answers.col.wins"): rating.wins,
                say("answers.col.losses"): rating.losses,
                say("answers.col.ties"): rating.ties,
            }
            for by, ratings in groups
            for rating in ratings
        ]
    )


def win_rate_frame(result: EvaluationResult, say: Say = english) -> pd.DataFrame:
    if result.judging is None or not result.judging.ratings:
        return pd.DataFrame()
    names = [model.model for model in result.models]
    frame = pd.DataFrame(
        [[None if value is None else f"{value:.0%}" for value in row] for row in result.judging.win_rates],
        columns=names,
    )
    frame.insert(0, say("evaluation.col.model"), names)
    return frame


def summary_lines(result: EvaluationResult, say: Say = english, reviews: list[Review] | None = None) -> list[str]:
    """Position bias, agreement with people, and what the cache saved, one sentence each."""
    lines = []
    judging = result.judging
    if judging is not None and judging.position_bias is not None:
        lines.append(
            say(
                "answers.position_bias",
                share=judging.position_bias,
                verdicts=judging.verdicts,
                unreadable=judging.unreadable,
            )
        )
    found = agreement_of(result, reviews or [])
    if found is not None:
        lines.append(
            say(
                "answers.agreement",
                pairs=found.pairs,
                agree="–" if found.pair_agreement is None else f"{found.pair_agreement:.0%}",
                kappa="–" if found.kappa is None else f"{found.kappa:.2f}",
                grades=found.grades,
                spearman="–" if found.spearman is None else f"{found.spearman:.2f}",
            )
        )
    if result.cache:
        lines.append(say("answers.cache", **result.cache))
    return lines


def disagreement_rows(result: EvaluationResult, reviews: list[Review]) -> tuple[list[int], list[int]]:
    """Rows (0-based) where the models' grades are furthest apart, and rows where people's pick differs from
    the judge's verdict, each list worst first."""
    judging = result.judging
    if judging is None:
        return [], []
    by_row: dict[int, list[float]] = {}
    for (row, _), score in judging.grades.items():
        by_row.setdefault(row, []).append(score)
    spread = sorted((row for row, scores in by_row.items() if _spread(scores) > 0), key=lambda r: -_spread(by_row[r]))
    differ = [
        review.row
        for review in reviews
        if review.kind == "pair"
        and judging.pairs.get((review.row, review.model, review.other), review.value) != review.value
    ]
    return spread[:DISAGREEMENTS], list(dict.fromkeys(differ))[:DISAGREEMENTS]


def _spread(scores: list[float]) -> float:
    return max(scores) - min(scores)


def rows_frame(result: EvaluationResult, rows: list[int], say: Say = english) -> pd.DataFrame:
    """Those rows of predictions.csv, each model's answer and grade side by side (read back from the file, as
    the run keeps no answers in memory)."""
    if not rows:
        return pd.DataFrame()
    wanted = {row: position for position, row in enumerate(rows)}
    found: list[dict[str, Any] | None] = [None] * len(rows)
    with RunFolder(result.folder).predictions.open(encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        for row, cells in enumerate(reader):
            if row in wanted:
                found[wanted[row]] = {say("evaluation.col.row"): row + 1, **_shown(result, cells)}
    return pd.DataFrame([cells for cells in found if cells is not None])


def _shown(result: EvaluationResult, cells: dict[str, str]) -> dict[str, str]:
    prompt, reference = result.columns.get("prompt"), result.columns.get("reference")
    shown = {prompt: cells.get(prompt, "")}
    if reference:
        shown[reference] = cells.get(reference, "")
    several = len(result.models) > 1
    for model in result.models:
        suffix = f" [{model.model}]" if several else ""
        shown[model.model] = cells.get(f"prediction{suffix}", "")
        if f"judge_score{suffix}" in cells:
            shown[f"{model.model} · 1-10"] = cells[f"judge_score{suffix}"]
    return shown


def text_tables(result: EvaluationResult) -> str:
    """The ratings, the win-rate matrix and the sentences, as plain text for the command line."""
    reviews = reviews_of(result)
    frames = [ratings_frame(result, english, reviews), win_rate_frame(result)]
    parts = [frame.to_string(index=False, na_rep="") for frame in frames if not frame.empty]
    return "\n\n".join(parts + summary_lines(result, english, reviews))
