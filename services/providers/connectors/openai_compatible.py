"""Any OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio...) named in the routing
config: Chat Completions at its own base URL, with its key when it has one. It reports the
server's configured name as the provider (HttpConnector stamps the deployment's provider on
the started event), so sessions show which server answered."""

from __future__ import annotations

from services.providers.connectors.openai import OpenAIChatConnector


class OpenAICompatibleConnector(OpenAIChatConnector):
    connector_name = "openai-compatible"
