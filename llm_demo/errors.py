"""Errors the user caused or can act on, kept apart from bugs so the UI and CLI can show them plainly."""

from __future__ import annotations


class UserFacingError(Exception):
    """An error whose message is meant for the person using the app or the CLI.

    `key` names the kind of problem so the UI can show it in the reader's language;
    `params` fill the placeholders of the message template in either language.
    """

    def __init__(self, key: str, template: str, **params: object) -> None:
        self.key = key
        self.template = template
        self.params = params
        super().__init__(template.format(**params))


class InputError(UserFacingError):
    """The text, file or setting the user gave cannot be used."""


class ModelError(UserFacingError):
    """A model could not be found, downloaded, loaded or used for the task."""
