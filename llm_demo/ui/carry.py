"""Buttons that carry a tab's input to another view, which opens and runs on it: "What if?" on the task tabs,
into the What if? tab; a generation's prompt and reply into the Inside tab's sequence salience.

A tab's build() returns its Carry buttons and Receivers among its ResultTables; build_app wires each Carry to
the Receiver of its name once every tab exists, since a button is often built before the view it feeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

Step = tuple[Callable, list[Any], list[Any]]  # an event's handler, inputs and outputs


def then_all(event: Any, steps: list[Step]) -> Any:
    """Run `steps` one after another once `event` is done, none of them an API endpoint."""
    for step in steps:
        event = event.then(*step, api_visibility="private")
    return event


@dataclass(frozen=True)
class Carry:
    button: gr.Button
    inputs: list[Any]  # the components whose values travel
    to: str  # the receiving view's name
    values: Callable[..., list[Any]]  # the inputs' values -> the receiving fields' values, in order


@dataclass(frozen=True)
class Receiver:
    name: str
    fields: list[Any]
    tab: str  # the id of the top-level tab that holds the view
    inner: list[tuple[gr.Tabs, str]] = field(default_factory=list)  # nested Tabs to switch, and to which id
    run: list[Step] = field(default_factory=list)  # what the view runs on arrival, one step after another


def connect(tabs: gr.Tabs, built: list[Any]) -> None:
    """Within the Blocks, after every tab: each Carry's click fills its Receiver's fields, opens its tab, and
    runs the view."""
    receivers = {item.name: item for item in built if isinstance(item, Receiver)}
    for carry in (item for item in built if isinstance(item, Carry)):
        receiver = receivers[carry.to]
        switches = [(tabs, receiver.tab), *receiver.inner]

        def arrive(*values: Any, carry: Carry = carry, switches: list = switches) -> list[Any]:
            return [*carry.values(*values), *(gr.Tabs(selected=tab) for _, tab in switches)]

        event = carry.button.click(
            arrive, carry.inputs, [*receiver.fields, *(tabs for tabs, _ in switches)], api_visibility="private"
        )
        then_all(event, receiver.run)
