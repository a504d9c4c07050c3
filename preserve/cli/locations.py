"""``preserve locations``: (issue 10, being built)."""
