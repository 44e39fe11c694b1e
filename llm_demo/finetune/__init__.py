"""Fine-tuning: a pretrained encoder turned into a classifier for the user's labelled rows.

data.py reads and splits the rows, training.py trains and saves the best epoch, job.py runs a training on a
background thread and hands the saved model out, cli.py is `python -m llm_demo finetune`. The names the tab
and the tests use are importable from here.
"""

from .data import LabelledRows, capped, labelled_rows, split_rows
from .job import FinetuneJob, base_models, output_folder, push_to_hub, resolve_base_model, zip_model
from .training import RECORD_FILE, EpochResult, FinetuneResult, FinetuneSettings, StepLoss, finetune

__all__ = [
    "RECORD_FILE",
    "EpochResult",
    "FinetuneJob",
    "FinetuneResult",
    "FinetuneSettings",
    "LabelledRows",
    "StepLoss",
    "base_models",
    "capped",
    "finetune",
    "labelled_rows",
    "output_folder",
    "push_to_hub",
    "resolve_base_model",
    "split_rows",
    "zip_model",
]
