"""Run records: what a run writes under ``runs/`` and how it is read back."""
