"""Data files shipped with llmkit (the OpenAI model table). No code."""

__all__: list[str] = []
