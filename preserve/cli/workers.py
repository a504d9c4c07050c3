"""``preserve workers``: (issue 10, being built)."""
