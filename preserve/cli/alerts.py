"""``preserve alerts``: (issue 10, being built)."""
