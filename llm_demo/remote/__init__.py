"""Models served by an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, Ollama...).

`client` holds what every request shares (the client, the concurrency cap, timeouts and retries,
errors a user can act on); `served` holds one small function per endpoint and task. Tasks call
`served` at their entry points when they are handed a RemoteModel; nothing else knows HTTP.
"""

from .client import Endpoint, RemoteModel, connect

__all__ = ["Endpoint", "RemoteModel", "connect"]
