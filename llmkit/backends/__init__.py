"""Backends: one module per kind of model, behind llmkit.Client.

Public, for plugin authors: `base` (Backend, the contract), `local` (LocalBackend, what
in-process backends share), `mock` (the scripted backend for tests) and
`fake_embeddings`. The rest is internal and reached through model ids, not imports:
`openai` (+ `openai_errors`, `openai_wire`) for "openai:" and configured endpoints,
`hf` (+ `hf_loading`, `hf_chat`, `hf_engine`, `hf_scoring`) for "hf:", `mini` for the
bundled GPT. No backend imports the client, the registry, another backend or anything
above them (checked by import-linter, see pyproject.toml).
"""

__all__: list[str] = []
