"""Tests of llmkit.compress (a package, so its conftest does not clash with the others by name)."""
