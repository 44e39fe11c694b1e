"""On Hugging Face Spaces (SPACE_ID set) a public app offers only its listed models unless the deployment says
otherwise: a typed-in Hub id or folder is refused, the listed models still work."""

from __future__ import annotations

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from helpers import cpu_placement
from served_app import served_app

from llm_demo.settings import get_settings


@pytest.fixture
def space_url(tiny, monkeypatch):
    """The app as a Space runs it: SPACE_ID set, LLM_DEMO_ALLOW_* left unset."""
    from llm_demo.registry import Registry

    monkeypatch.setenv("SPACE_ID", "someone/llm-demo")
    monkeypatch.delenv("LLM_DEMO_ALLOW_CUSTOM_MODELS", raising=False)
    monkeypatch.delenv("LLM_DEMO_ALLOW_LOCAL_PATHS", raising=False)
    with served_app(Registry.load()) as url:
        yield url


def test_on_spaces_a_typed_hub_id_or_folder_is_refused_and_listed_models_work(space_url, tiny):
    from llm_demo.errors import InputError
    from llm_demo.registry import Registry

    client = Client(space_url, verbose=False)
    for typed in ("someone/any-model", str(tiny.root)):
        with pytest.raises(AppError, match="is not in the list of choices"):  # the picker takes no typed value
            client.predict("good film", typed, api_name="/sentiment")
        with pytest.raises(InputError, match="This deployment only offers its listed models"):  # nor the backend
            Registry.load().resolve("sentiment", typed)
    table, status = client.predict("good film", "Tiny BERT sentiment", api_name="/sentiment")
    assert table["data"][0][0] == "good film" and cpu_placement() in status


@pytest.mark.parametrize(
    "space_id, custom, local, expected",
    [
        ("someone/llm-demo", None, None, (False, False)),  # a Space: both off by default
        ("someone/llm-demo", "1", None, (True, False)),  # the deployment opted in to Hub ids only
        ("someone/llm-demo", "1", "yes", (True, True)),
        (None, None, None, (True, True)),  # elsewhere: both on, as before
        (None, "0", None, (False, True)),
    ],
)
def test_space_defaults_give_way_to_what_the_deployment_sets(monkeypatch, space_id, custom, local, expected):
    for name, value in (
        ("SPACE_ID", space_id),
        ("LLM_DEMO_ALLOW_CUSTOM_MODELS", custom),
        ("LLM_DEMO_ALLOW_LOCAL_PATHS", local),
    ):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    settings = get_settings()
    assert (settings.allow_custom_models, settings.allow_local_paths) == expected
