"""Loaded by pytest with `-p` before any other plugin: makes `import httpx` resolve to
httpx2 (which openai 3.x uses) so that respx can intercept the SDK's requests.
Library code never does this: it is process-wide and for tests only."""

import httpx2

httpx2.alias_httpx()
