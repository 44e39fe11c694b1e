"""One module per task. Each takes a list of inputs and returns a list of results, with no Gradio import."""
