"""Fetch SmolLM2-135M-Instruct (GGUF) for the end-to-end tests: see llmkit/testing/smollm2.py."""

import sys

from llmkit.testing.smollm2 import main

sys.exit(main())
