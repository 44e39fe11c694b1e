"""The answers task: every model answers the file's prompts (its chat template, the row's system prompt), the
answers are scored against references where the file has them, and a judge model may grade and compare them
(judging.py). Answers come from the response cache when the same model already answered the same prompt with
the same settings, so adding a model or changing the judge does not generate everything again."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..models import Model, get_model
from ..models.types import GenerationSettings, Message, as_messages
from ..registry import KIND_OF_TASK, ModelEntry, Registry
from ..settings import get_settings
from .answer_metrics import AnswerTally
from .judge import LANGUAGES, Judge
from .judging import Answered, Judging
from .response_cache import ResponseCache
from .results import Predictor
from .tallies import Tally
from .task import TaskEvaluation

JUDGE_MODES = ("grade", "pairwise", "both")
MAX_MODELS = 6


@dataclass(frozen=True)
class AnswerOptions:
    """How the models answer, and who judges them. Greedy by default, so a run is repeatable and cacheable."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    seed: int = 0
    judge: str | None = None  # a generation model's name or id; None: reference metrics only
    judge_mode: str = "both"  # grade | pairwise | both
    instructions: str | None = None  # the judge's grading instructions for this run, replacing the default
    language: str = "en"  # of the judge's prompts: en | zh
    cache: bool = True  # False: generate and judge everything again, and store nothing

    def checked(self) -> AnswerOptions:
        self.settings().checked()
        if self.judge_mode not in JUDGE_MODES:
            raise InputError(
                "bad_judge_mode",
                "Unknown judge mode '{mode}'; choose one of: {modes}.",
                mode=self.judge_mode,
                modes=", ".join(JUDGE_MODES),
            )
        if self.language not in LANGUAGES:
            raise InputError(
                "bad_judge_language",
                "The judge's prompts are in {languages}, not '{language}'.",
                languages=", ".join(LANGUAGES),
                language=self.language,
            )
        return self

    def settings(self) -> GenerationSettings:
        return GenerationSettings(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            repetition_penalty=1.0,
            seed=self.seed,
        )

    @property
    def grades(self) -> bool:
        return bool(self.judge) and self.judge_mode in ("grade", "both")

    @property
    def compares(self) -> bool:
        return bool(self.judge) and self.judge_mode in ("pairwise", "both")


@dataclass(frozen=True)
class Prompt:
    """One row as the models read it: the prompt, the row's system prompt, and the judge's criteria for it."""

    text: str
    system: str = ""
    criteria: str = ""

    @property
    def messages(self) -> list[Message]:
        return as_messages(self.text, self.system or None)

    def __str__(self) -> str:  # what batches are sorted by, longest first
        return self.system + self.text


def model_identity(entry: ModelEntry, model: Model) -> dict[str, Any]:
    """What decides a model's answers besides the prompt and settings: which weights, and where they run (the
    device and dtype, as bf16 and fp32 answers differ, or the server's address)."""
    return {"model": entry.model, "revision": entry.option("revision"), "where": model.placement}


class AnswersEvaluation(TaskEvaluation):
    """Free answers to the file's prompts; one instance per run, holding the run's options and cache."""

    name, registry_task = "answers", "generation"
    optional_roles = ("reference", "system", "criteria")
    optional_columns = ("reference", "system", "criteria")
    shown_roles = ("prompt", "reference")
    window_rows = 256  # the judge starts on a window once every model has answered it; the state is saved after it

    def __init__(self, options: AnswerOptions | None = None, cache: ResponseCache | None = None) -> None:
        self.options = (options or AnswerOptions()).checked()
        self.cache = cache

    @property
    def score_name(self) -> str:
        return "judge_score" if self.options.grades else "rouge_l"

    @property
    def note_name(self) -> str:
        return "judge_rationale" if self.options.grades else ""

    def note_of(self, result):
        grade = getattr(result, "grade", None)
        return "" if grade is None else grade.rationale or grade.error or ""

    def configured(self, options: AnswerOptions | None) -> AnswersEvaluation:
        options = (options or AnswerOptions()).checked()
        return AnswersEvaluation(options, ResponseCache(get_settings().db_path, enabled=options.cache))

    def slice_metrics(self, columns: dict[str, str | None]) -> tuple[str, ...]:
        """The judge's grade when it grades, else the reference metrics; without either, the answers' length."""
        judged = ("judge_score",) if self.options.grades else ()
        return judged + (("rouge_l", "exact_match") if columns.get("reference") else ()) or ("mean_length",)

    def options_state(self) -> dict:
        return dataclasses.asdict(self.options)

    def decisive_options(self) -> dict:
        """What decides the answers (not the judge, nor the cache): reviews of answers outlive another judge."""
        return {key: getattr(self.options, key) for key in ("max_new_tokens", "temperature", "seed")}

    def cache_counts(self) -> dict[str, int]:
        reused, computed = self.cache.reused, self.cache.computed
        return {
            "answers_reused": reused["answer"],
            "answers_generated": computed["answer"],
            "verdicts_reused": reused["grade"] + reused["verdict"],
            "verdicts_judged": computed["grade"] + computed["verdict"],
        }

    def judging(self, models: list[str], registry: Registry | None) -> Judging | None:
        """The run's judge, loaded before any model answers, so a judge that cannot load fails at once."""
        if len(models) > MAX_MODELS:
            raise InputError(
                "too_many_answer_models",
                "At most {limit} models answer in one run; {count} were chosen.",
                limit=MAX_MODELS,
                count=len(models),
            )
        if not self.options.judge:
            return None
        if len(models) < 2 and not self.options.grades:
            raise InputError("pairwise_needs_two", "Comparing answers needs at least two models; pick another.")
        entry = (registry or Registry.load()).resolve("generation", self.options.judge)
        judge = Judge(
            get_model(entry, KIND_OF_TASK["generation"]),
            entry.name,
            self.options.language,
            self.options.instructions,
        )
        return Judging(judge, self.options.judge_mode, self.cache, models)

    def input_of(self, cells):
        return Prompt(cells["prompt"], cells.get("system", ""), cells.get("criteria", ""))

    def reference_of(self, cells):
        return cells.get("reference") or None

    def predictor(self, model, entry, file_labels, budget):
        settings = self.options.settings()
        identity = {"model": model_identity(entry, model), "settings": dataclasses.asdict(settings)}

        def run(prompts: list[Prompt]):
            keys = [{**identity, "messages": prompt.messages} for prompt in prompts]
            return self.cache.map(
                "answer", keys, lambda missing: model.respond([prompts[i].messages for i in missing], settings)
            )

        return Predictor(entry.name, run, device=model.placement)

    def prediction_of(self, result):
        if isinstance(result, Answered):
            return result.text, result.grade.score if result.grade is not None else None
        return result, None

    def tally(self, predictor):
        return AnswersTally(self.options.grades)


class AnswersTally(Tally):
    """answer_metrics.AnswerTally as the run loop folds rows into it: the per-row score is the judge's grade
    when the judge grades, else ROUGE-L against the reference."""

    def __init__(self, graded: bool) -> None:
        self.graded = graded
        self.answers = AnswerTally()

    def add(self, references, predictions, results):
        rouge = self.answers.add(references, predictions)
        if not self.graded:
            return rouge
        grades = [result.grade.score if getattr(result, "grade", None) is not None else None for result in results]
        self.answers.add_grades(grades)
        return grades

    def badness(self, reference, prediction, score):
        if score is None:
            return None
        return (10 - score) / 9 if self.graded else 1 - score

    def metrics(self, bootstrap):
        return self.answers.metrics(bootstrap)

    def state(self):
        return self.answers.state()

    def restore(self, state):
        self.answers.restore(state)
