"""The files a leaderboard is written as, named apart from pandas and matplotlib so the command
line offers them without loading either."""

FORMATS = ("md", "csv", "tex", "png")
"""Markdown, CSV and LaTeX tables, and a PNG plot."""
