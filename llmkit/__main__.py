"""`python -m llmkit ...` is the `llmkit` command."""

import sys

from llmkit.cli import main

sys.exit(main())
