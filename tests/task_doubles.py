"""Scripted models for the task tests (a module of its own: test files import it by
name, which a conftest cannot be, since every test folder has one)."""

import llmkit


def scripted(*answers, **settings):
    """A mock Client answering `answers` in order (strings, Responses, or errors to raise);
    settings such as capabilities={"structured_output": False} or context_window=64."""
    return llmkit.Client("mock", responses=list(answers), **settings)
