"""Retries and fallbacks, shown with the scripted mock backend (no network needed).

The first model fails twice with a transient error (llmkit retries it with backoff),
then for good; the client falls back to the next model and says which one answered.
"""

import llmkit

flaky = llmkit.Client(
    "mock",
    responses=[llmkit.ServerError("overloaded"), llmkit.RateLimitError("slow down", retry_after=0.1), "recovered"],
    retry_policy=llmkit.RetryPolicy(max_retries=2, base_delay=0.05),
)
r = flaky.chat("hello")
print(f"after 2 retries: {r.text!r} from {r.model}")

client = llmkit.Client(
    "mock",
    responses=[llmkit.ServerError("down")] * 3,
    fallbacks=["mock:echo"],
    retry_policy=llmkit.RetryPolicy(max_retries=2, base_delay=0.05),
)
r = client.chat("answered by the fallback")
print(f"fallback: {r.text!r} from {r.model}")

try:
    llmkit.Client("mock:echo").chat("x", temprature=0.2)
except llmkit.InvalidOptionError as exc:
    print(f"bad option -> {exc}")
