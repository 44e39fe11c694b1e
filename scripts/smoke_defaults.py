"""Download every model the app offers and run it on its tab's examples, through the app's own registry,
loading and tasks; print a table of model, task, seconds and output. Run it before a release and on a
new Space (it needs the Hugging Face Hub): a model that fails here fails for the first user too.

    python scripts/smoke_defaults.py                  # every model in models.yaml (or $LLM_DEMO_MODELS)
    python scripts/smoke_defaults.py --models my.yaml --task translation --task qa

Exits 1 when any model failed; each failure is one row saying why, and the others still run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from llm_demo.errors import UserFacingError
from llm_demo.models import get_model
from llm_demo.models.local.loaded import LoadedModel
from llm_demo.registry import TASKS, ModelEntry, read_models_file
from llm_demo.settings import get_settings

OUTPUT_WIDTH = 70  # characters of each output shown in the table
MAX_NEW_TOKENS = 48  # enough to see a model answer sensibly; --max-new-tokens changes it


@dataclass(frozen=True)
class SmokeResult:
    model: str
    task: str
    seconds: float  # download, load and run together
    output: str  # what the model answered, or why it failed
    ok: bool


def _translation(entry: ModelEntry, loaded: LoadedModel, max_new_tokens: int) -> str:
    from llm_demo.tasks.translation import TranslationSettings, translate
    from llm_demo.ui.translation_tab import EXAMPLES

    text = next((row[0] for row in EXAMPLES if row[1] == entry.name), EXAMPLES[0][0])
    settings = TranslationSettings(
        max_new_tokens=max_new_tokens, source_lang=entry.option("source_lang"), target_lang=entry.option("target_lang")
    )
    return f"{text} → {translate(loaded, [text], settings)[0]}"


def _generation(entry: ModelEntry, loaded: LoadedModel, max_new_tokens: int) -> str:
    from llm_demo.tasks.generation import GenerationSettings, generate
    from llm_demo.ui.generation_tab import EXAMPLES

    return generate(loaded, [EXAMPLES[0][0]], GenerationSettings(max_new_tokens=max_new_tokens, temperature=0))[0]


def _classification(entry: ModelEntry, loaded: LoadedModel, max_new_tokens: int) -> str:
    from llm_demo.tasks.classification import classify, parse_labels, zero_shot
    from llm_demo.ui.classification_tab import EXAMPLES

    text, labels = EXAMPLES[0]
    result = (
        zero_shot(loaded, [text], parse_labels(labels, False))
        if entry.option("zero_shot")
        else classify(loaded, [text])
    )[0]
    return f"{result.label} ({result.score:.2f})"


def _sentiment(entry: ModelEntry, loaded: LoadedModel, max_new_tokens: int) -> str:
    from llm_demo.tasks.sentiment import analyse_lines
    from llm_demo.ui.sentiment_tab import EXAMPLES

    return "; ".join(f"{row.label} ({row.score:.2f})" for row in analyse_lines(loaded, EXAMPLES[0][0]))


def _qa(entry: ModelEntry, loaded: LoadedModel, max_new_tokens: int) -> str:
    from llm_demo.tasks.qa import QASettings, answer
    from llm_demo.ui.qa_tab import EXAMPLES

    question, context = EXAMPLES[0]
    best = answer(loaded, [question], [context], QASettings(allow_no_answer=bool(entry.option("no_answer"))))[0][0]
    return f"{question} → {best.text or '(no answer)'} ({best.score:.2f})"


def _fill_mask(entry: ModelEntry, loaded: LoadedModel, max_new_tokens: int) -> str:
    from llm_demo.tasks.fill_mask import fill_mask
    from llm_demo.ui.inside_tab import FILL_MASK_EXAMPLES

    return ", ".join(f"{f.word} ({f.probability:.2f})" for f in fill_mask(loaded, [FILL_MASK_EXAMPLES[0][0]], 3)[0])


def _finetune(entry: ModelEntry, loaded: LoadedModel, max_new_tokens: int) -> str:
    """A base for fine-tuning only needs to load and read text; training is the finetune tests' job."""
    ids = loaded.tokenizer("The cat sat on the mat.", return_tensors="pt").to(loaded.device)
    hidden = loaded.model(**ids).last_hidden_state
    return f"encodes {hidden.shape[1]} tokens into {hidden.shape[2]} dimensions"


# What each task's tab does with a model: (kind of model to load, run on the tab's example).
RUNNERS: dict[str, tuple[str, Callable[[ModelEntry, LoadedModel, int], str]]] = {
    "translation": ("seq2seq", _translation),
    "generation": ("causal-lm", _generation),
    "classification": ("sequence-classification", _classification),
    "sentiment": ("sequence-classification", _sentiment),
    "qa": ("question-answering", _qa),
    "fill_mask": ("masked-lm", _fill_mask),
    "finetune": ("encoder", _finetune),
}


def smoke(entry: ModelEntry, max_new_tokens: int = MAX_NEW_TOKENS) -> SmokeResult:
    """Load one model as its tab does and run it on the tab's example; a failure is a result, not a crash."""
    import torch

    kind, run = RUNNERS[entry.task]
    started = time.perf_counter()
    try:
        with torch.inference_mode():
            output, ok = run(entry, get_model(entry, kind), max_new_tokens), True
    except UserFacingError as error:
        output, ok = f"FAILED: {error}", False
    except Exception as error:  # noqa: BLE001 - the table reports every model, whatever broke
        output, ok = f"FAILED ({type(error).__name__}): {error}", False
    return SmokeResult(entry.model, entry.task, time.perf_counter() - started, output, ok)


def table(results: list[SmokeResult]) -> str:
    """A Markdown table, one row per model and task, on one line each: outputs cut to OUTPUT_WIDTH, failures whole."""

    def cell(text: str, width: int | None = None) -> str:
        text = " ".join(text.split()).replace("|", "\\|")
        return text if width is None or len(text) <= width else text[: width - 1] + "…"

    lines = ["| model | task | seconds | output |", "| --- | --- | ---: | --- |"]
    lines += [
        f"| {cell(r.model)} | {r.task} | {r.seconds:.1f} | {cell(r.output, OUTPUT_WIDTH if r.ok else None)} |"
        for r in results
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", type=Path, default=None, help="models file (default: $LLM_DEMO_MODELS or assets/models.yaml)"
    )
    parser.add_argument("--task", action="append", choices=TASKS, help="only these tasks (repeatable)")
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=MAX_NEW_TOKENS,
        help=f"tokens generated per translation or reply (default {MAX_NEW_TOKENS})",
    )
    arguments = parser.parse_args(argv)
    models = read_models_file(arguments.models or get_settings().models_file)
    results = []
    for task in arguments.task or TASKS:
        for entry in models[task]:
            results.append(smoke(entry, arguments.max_new_tokens))
            status = "ok" if results[-1].ok else "FAILED"
            print(f"{status:6} {results[-1].seconds:6.1f} s  {task}: {entry.model}", file=sys.stderr, flush=True)
    print(table(results))
    failed = sum(not result.ok for result in results)
    print(f"\n{len(results) - failed} of {len(results)} models ran; {failed} failed.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
