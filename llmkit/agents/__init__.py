"""Tools (Python functions described as JSON schema) and, later, the agent loop."""
