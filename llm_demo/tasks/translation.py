"""Translation of whole texts, line breaks kept: sentence by sentence with a sequence-to-sequence model here,
or whole by an instruct model on a server."""

from __future__ import annotations

from ..models import Model
from ..models.types import TranslationSettings, in_input_order

__all__ = ["TranslationSettings", "translate"]


def translate(
    model: Model, texts: list[str], settings: TranslationSettings = TranslationSettings(), budget: int | None = None
) -> list[str]:
    """Translate each text, in input order."""
    return in_input_order(len(texts), model.translate(texts, settings, budget))
