"""Helpers for testing code that uses llmkit: an OpenAI-compatible loopback server.
(The scripted `mock` backend lives in llmkit.backends.mock.)"""
