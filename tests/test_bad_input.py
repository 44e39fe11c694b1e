"""Every bad value a user can give the task tabs, and what they see: a message, never a traceback.

Each row: what the user does, the endpoint, the arguments, and the message they get (a regular
expression). After each, the app must still answer a normal request.
"""

from __future__ import annotations

import pytest
from gradio_client.exceptions import AppError

S, QA, NLI, FIXED, GPT = "Tiny BERT sentiment", "Tiny BERT QA", "Tiny BERT NLI", "Tiny BERT classifier", "Tiny GPT-2"
GEN = (GPT, "", 16, 0.7, 0.95, 1.1, None)  # model and default settings of /generate

CASES = [
    # what the user does                      endpoint       arguments                         message shown
    ("empty text", "/sentiment", ("", S), "Please enter the text"),
    ("only spaces and blank lines", "/sentiment", ("  \n \n\t", S), "Please enter the text"),
    ("text over the length limit", "/sentiment", ("x" * 30_000, S), "the limit is 20,000"),
    ("empty text to translate", "/translate", ("   ", "Tiny BART", 1, 16, "", ""), "Please enter the text"),
    ("unknown target language code", "/translate", ("hi", "Tiny BART", 1, 16, "", "xx_Nope"), "not a language code"),
    ("empty prompt", "/generate", ("", *GEN), "Please enter the prompt"),
    ("negative temperature", "/generate", ("hi", GPT, "", 16, -1, 0.95, 1.1, None), "less than minimum"),
    ("absurd max new tokens", "/generate", ("hi", GPT, "", 10**6, 0.7, 0.95, 1.1, None), "greater than maximum"),
    ("negative seed", "/generate", ("hi", GPT, "", 16, 0.7, 0.95, 1.1, -5), "less than minimum"),
    ("prompt longer than the model's window", "/generate", ("word " * 400, *GEN), "fills this model's window"),
    ("no zero-shot labels", "/classify", ("text", NLI, " , ", False), "Give the candidate labels"),
    ("one zero-shot label, single-label", "/classify", ("text", NLI, "sport", False), "at least two labels"),
    ("duplicate zero-shot labels", "/classify", ("text", NLI, "sport, Sport", False), "given twice"),
    ("question with no context", "/answer", ("Where?", "", QA, 1, 30, False), "Please enter the context"),
    ("context with no question", "/answer", ("", "Paris.", QA, 1, 30, False), "Please enter the question"),
    ("model id that does not exist", "/sentiment", ("text", "no-such-org/no-such-model"), "Hugging Face Hub"),
    ("model id that is not an id", "/sentiment", ("text", "not a model!"), "not a valid model id"),
    ("local folder with no model", "/sentiment", ("text", "/tmp"), "No model found in folder"),
    (
        "a generation model for QA",
        "/answer",
        ("Where?", "Paris.", "TINY_GPT2_PATH", 1, 30, False),
        "cannot do extractive",
    ),
]


@pytest.mark.parametrize("what, endpoint, arguments, message", CASES, ids=[case[0] for case in CASES])
def test_bad_input_gets_a_clear_message_and_the_app_keeps_serving(client, tiny, what, endpoint, arguments, message):
    arguments = tuple(str(tiny.gpt2) if value == "TINY_GPT2_PATH" else value for value in arguments)
    with pytest.raises(AppError, match=message) as raised:
        client.predict(*arguments, api_name=endpoint)
    assert "Traceback" not in str(raised.value)
    table, _ = client.predict("still here", S, api_name="/sentiment")
    assert table["data"][0][0] == "still here"


def test_control_characters_and_mixed_scripts_are_accepted_cleanly(client):
    table, _ = client.predict("bad\x00 \x1b[31m day 今天 très", S, api_name="/sentiment")
    assert table["data"][0][0] == "bad   [31m day 今天 très"  # NUL and ESC become spaces
