"""Start the llm_demo app: `python app.py` (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are honoured)."""

from llm_demo.ui import build_app, launch_options

demo = build_app()

if __name__ == "__main__":
    demo.launch(**launch_options())
