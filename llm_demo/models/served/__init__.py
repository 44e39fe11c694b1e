"""Models an OpenAI-compatible server runs (vLLM): the shared request machinery, and each operation's payload."""
