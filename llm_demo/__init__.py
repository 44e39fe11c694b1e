"""llm_demo: a Gradio showcase of Hugging Face language models, with a backend usable on its own."""

__version__ = "0.1.0"
