"""Pieces every tab uses: the model picker, loading a picked model, and turning errors into messages."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from ..errors import UserFacingError
from ..models import Model, get_model, longest_reply
from ..models.hub import DOWNLOADING, LoadProgress, reporting_loads
from ..registry import KIND_OF_TASK, Registry, Tasks
from .i18n import language_of, t
from .safe_markdown import safe_markdown

log = logging.getLogger("llm_demo")
DOWNLOADS_KEPT_SECONDS = 6 * 3600


def request_of(args: tuple, kwargs: dict) -> gr.Request | None:
    return next((value for value in (*args, *kwargs.values()) if isinstance(value, gr.Request)), None)


def error_message(error: Exception, request: gr.Request | None) -> str:
    """What to tell the reader about an error, in their language; a bug is logged and named, never traced."""
    from . import translations

    language = language_of(request)
    if isinstance(error, UserFacingError):  # may quote a label or a file name, and a toast renders HTML
        return safe_markdown(translations().error(error.key, error.template, language, **error.params))
    log.error("unexpected error in a handler", exc_info=error)
    return translations().text("error.unexpected", language, kind=type(error).__name__)


def _as_gradio_error(error: Exception, request: gr.Request | None) -> gr.Error:
    return gr.Error(error_message(error, request))


def user_errors(handler: Callable) -> Callable:
    """Show a user's mistake as a clear message in their language, and never a traceback.

    Works for plain and generator (streaming) handlers; a handler that wants messages in the
    reader's language takes a `request: gr.Request` argument.
    """
    if inspect.isgeneratorfunction(handler):

        @functools.wraps(handler)
        def streaming(*args: Any, **kwargs: Any):
            try:
                yield from handler(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as error:
                raise _as_gradio_error(error, request_of(args, kwargs)) from error

        return streaming

    @functools.wraps(handler)
    def plain(*args: Any, **kwargs: Any):
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as error:
            raise _as_gradio_error(error, request_of(args, kwargs)) from error

    return plain


def bind(handler: Callable, *leading: Any) -> Callable:
    """functools.partial that Gradio can still read: it keeps the type hints that mark `gr.Request`."""
    signature = inspect.signature(handler)
    remaining = list(signature.parameters.values())[len(leading) :]
    if inspect.isgeneratorfunction(inspect.unwrap(handler)):

        @functools.wraps(handler)
        def bound_stream(*args: Any, **kwargs: Any):
            yield from handler(*leading, *args, **kwargs)

        bound = bound_stream
    else:

        @functools.wraps(handler)
        def bound(*args: Any, **kwargs: Any):
            return handler(*leading, *args, **kwargs)

    bound.__signature__ = signature.replace(parameters=remaining)
    return bound


def model_picker(registry: Registry, task: Tasks) -> gr.Dropdown:
    """A dropdown of the task's (or tasks') models; typing another id is allowed when the deployment allows it."""
    choices = registry.choices(task)
    custom = registry.settings.allow_custom_models
    picker = gr.Dropdown(
        choices=choices,
        value=choices[0] if choices else None,
        label=t("common.model"),
        allow_custom_value=custom,
        info=t("common.model_info") if custom else t("common.model_info_fixed"),
    )
    # Re-read the list when the user opens it, so a model fine-tuned a minute ago is offered.
    picker.focus(
        lambda: gr.Dropdown(choices=registry.choices(task)), None, picker, api_visibility="private", queue=False
    )
    return picker


def examples(rows: list[list], inputs: list) -> gr.Examples:
    """Clickable examples shown by their first field, so no column header needs translating."""
    labels = [str(row[0]) if len(str(row[0])) <= 60 else f"{str(row[0])[:57]}…" for row in rows]
    return gr.Examples(rows, inputs=inputs, label=t("common.examples"), example_labels=labels)


@dataclass(frozen=True)
class ResultTable:
    """A results table whose empty headers are filled in the reader's language when the page loads
    (Gradio translates labels in the browser but not a table's headers)."""

    component: gr.Dataframe
    header_keys: tuple[str, ...]

    def empty(self, language: str) -> pd.DataFrame:
        from . import translations

        return pd.DataFrame(columns=[translations().text(key, language) for key in self.header_keys])


def result_table(label_key: str, header_keys: tuple[str, ...], **options: Any) -> ResultTable:
    return ResultTable(gr.Dataframe(label=t(label_key), interactive=False, **options), header_keys)


def download_folder(name: str | None = None) -> Path:
    """A folder for files a user downloads: a fresh one, or the one called `name` (kept while it is in use, so
    Continue finds a stopped run). They live in this process's own parent folder, made by mkdtemp: a name no one
    can guess, that only this user may enter (0o700), so no other local user can plant a link where the app
    writes. Folders untouched for DOWNLOADS_KEPT_SECONDS go first, so a Space that runs for weeks does not fill
    its disk with old predictions and zips."""
    parent = _downloads_parent()
    _prune(parent, time.time() - DOWNLOADS_KEPT_SECONDS)
    if name is None:
        return Path(tempfile.mkdtemp(dir=parent))
    folder = parent / name
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.is_symlink():  # only this user can enter the parent, so only a bug of ours could have made one
        raise RuntimeError(f"{folder} is a link, not a folder of this app")
    return folder


DOWNLOADS_PREFIX = "llm_demo-downloads-"
_parents: dict[str, Path] = {}  # per temporary folder (tests point tempfile at their own): this process's parent
_parents_lock = threading.Lock()


def _downloads_parent() -> Path:
    """This process's parent of download folders, made again if something removed it."""
    root = tempfile.gettempdir()
    with _parents_lock:
        parent = _parents.get(root)
        if parent is None or parent.is_symlink() or not parent.is_dir():
            parent = _parents[root] = Path(tempfile.mkdtemp(prefix=DOWNLOADS_PREFIX, dir=root))
        return parent


def _prune(parent: Path, cutoff: float) -> None:
    """Remove this process's download folders untouched since `cutoff`, and whole parents that earlier runs of
    the app by this user left behind once nothing in them is newer."""
    for old in parent.iterdir():
        with contextlib.suppress(FileNotFoundError):  # another request pruned it first
            if old.lstat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
    for other in parent.parent.glob(f"{DOWNLOADS_PREFIX}*"):
        if other == parent or not _left_behind(other, cutoff):
            continue
        shutil.rmtree(other, ignore_errors=True)


def _left_behind(folder: Path, cutoff: float) -> bool:
    """A folder of this user's, not a link, with nothing in it (itself included) touched since `cutoff`."""
    try:
        status = folder.lstat()
        mine = status.st_uid == os.getuid() if hasattr(os, "getuid") else True  # Windows has no owners to compare
        if folder.is_symlink() or not mine or status.st_mtime >= cutoff:
            return False
        return all(child.lstat().st_mtime < cutoff for child in folder.iterdir())
    except OSError:  # gone meanwhile, or not ours to read
        return False


def new_token_limit(registry: Registry, task: Tasks, choice: str | None, ceiling: int) -> int:
    """What a max-new-tokens slider may go up to for the picked model: the app's ceiling, or less where the
    model's config says its positions end. Reads the config alone; an unreadable one leaves the ceiling."""
    try:
        limit = longest_reply(registry.resolve(task, choice))
    except UserFacingError:
        return ceiling
    return min(ceiling, limit or ceiling)


def new_token_slider(
    registry: Registry, task: Tasks, picker: gr.Dropdown, ceiling: int, value: int, label_key: str
) -> gr.Slider:
    """A max-new-tokens slider whose maximum and note follow the picked model's real limit, on page load and
    whenever another model is picked. Its first maximum is the app's ceiling, so API calls, which see no page
    load, may ask for any model's full length (the task caps it)."""
    slider = gr.Slider(1, ceiling, value=value, step=1, label=t(label_key), info=t("common.new_token_info"))

    def resize(choice: str, request: gr.Request) -> gr.Slider:
        limit = new_token_limit(registry, task, choice, ceiling)
        return gr.Slider(
            maximum=limit, value=min(value, limit), info=say("common.new_token_limit", request, limit=limit)
        )

    gr.on(None, resize, picker, slider, api_visibility="private")
    return slider


def page_state(default: Any, storage_key: str) -> gr.BrowserState:
    """A value kept in the reader's browser, placed at the top of the page: inside a tab it would be read only
    when that tab first opens, and between the tabs it would shift their labels."""
    from gradio.context import Context, get_render_context, set_render_context

    inside = get_render_context()
    set_render_context(Context.root_block)
    try:
        return gr.BrowserState(default, storage_key=storage_key)
    finally:
        set_render_context(inside)


def on_page_load(handler: Callable, inputs: list, outputs: list, *also: Any) -> None:
    """Run `handler` each time a page opens or reloads (and on the triggers in `also`): for tabs that bring
    back what the browser kept, which may arrive from its storage just after the page loads."""
    gr.on([gr.context.Context.root_block.load, *also], handler, inputs, outputs, api_visibility="private", queue=False)


def model_status() -> gr.Markdown:
    return gr.Markdown(elem_classes=["model-status"])


def load_picked(
    registry: Registry,
    task: Tasks,
    choice: str | None,
    request: gr.Request | None = None,
    show_loading: bool = True,
    kind: str | None = None,
    **options: Any,
) -> Model:
    """The picked model, loaded once as its task's kind of model (or `kind`); a first load shows its download
    and then its loading in the tab (unless `show_loading` is off, as in the blind arena, where the progress
    text would name the model)."""
    entry = registry.resolve(task, choice)
    kind = kind or KIND_OF_TASK[entry.task]
    if not show_loading:
        return get_model(entry, kind, **options)
    with showing_loads(request):
        return get_model(entry, kind, **options)


@contextlib.contextmanager
def showing_loads(request: gr.Request | None, progress: gr.Progress | None = None) -> Iterator[None]:
    """Within the block, a model that downloads or loads says so in the event's progress bar:
    "Downloading X: 120 of 480 MB, 12 MB/s", then "Loading X onto cpu…"."""
    progress = progress or gr.Progress()

    def show(step: LoadProgress) -> None:
        if step.stage == DOWNLOADING:
            progress(
                step.done / step.total if step.total else 0.0,
                desc=say(
                    "common.downloading",
                    request,
                    model=step.model_id,
                    done=step.done / 1e6,
                    total=step.total / 1e6,
                    speed=step.bytes_per_second / 1e6,
                ),
            )
        else:  # a full bar: Gradio shows a description only beside a bar, and the fetching is done
            progress(1.0, desc=say("common.loading_model", request, model=step.model_id, device=step.device))

    with reporting_loads(show):
        yield


def say(key: str, request: gr.Request | None, **params: object) -> str:
    """A string the server builds (a status line, a table header), in the reader's language."""
    from . import translations

    return translations().text(key, language_of(request), **params)


def visitor(request: gr.Request | None) -> tuple[str | None, str | None]:
    """Who is asking, as Gradio's request tells it: the session, and the client's address (for rate limits)."""
    client = getattr(request, "client", None)
    return getattr(request, "session_hash", None), getattr(client, "host", None)


def runs_on(model: Model, request: gr.Request | None) -> str:
    """The status line under a tab, in the reader's language: model, then device, dtype and load time, or the
    server and whether the answer is generated from a prompt."""
    key, values = model.status()
    return safe_markdown(f"`{model.model_id}` · {say(key, request, **values)}")  # a typed model id too


# --- untrusted text shown as Markdown ----------------------------------------------------------------


def runs_that_continue(
    buttons: tuple[gr.Button, gr.Button, gr.Button], handlers: tuple, inputs: list, outputs: list, api_name: str
) -> None:
    """Run and Continue of an evaluation (`api_name` and `api_name`_continue), one at a time across every
    evaluation tab, and Cancel stopping whichever is going (it keeps the rows that finished)."""
    run_button, continue_button, cancel_button = buttons
    events = [
        button.click(handler, inputs, outputs, api_name=name, concurrency_limit=1, concurrency_id="evaluation")
        for button, handler, name in (
            (run_button, handlers[0], api_name),
            (continue_button, handlers[1], f"{api_name}_continue"),
        )
    ]
    cancel_button.click(None, None, None, cancels=events, api_visibility="private")
