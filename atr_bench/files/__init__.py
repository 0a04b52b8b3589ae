"""Files the harness writes: atomic writes, free-space checks, locks, and the rule for names that
become paths."""
