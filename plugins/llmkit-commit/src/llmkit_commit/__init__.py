"""llmkit-commit: `llmkit commit` writes a commit message for the staged changes.

    command.py   the command: arguments, confirmation, committing (`git commit -F -`)
    git.py       running git (never through a shell): the repository, the staged diff
    writer.py    the message: the diff split to fit the model's window, summarised, written

The command is registered in the entry-point group `llmkit.commands`, so `llmkit --help`
lists it from metadata without importing this package.
"""

__version__ = "0.1.0"
