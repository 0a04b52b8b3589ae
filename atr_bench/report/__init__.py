"""Leaderboards from run records, beside the published reference numbers."""
