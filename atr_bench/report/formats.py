"""The choices of ``atr-bench leaderboard`` (the files a board is written as, what its intervals
resample), named apart from pandas, matplotlib and scipy so the command line offers them
without loading any."""

FORMATS = ("md", "csv", "tex", "png", "html")
"""Markdown, CSV and LaTeX tables, a PNG plot, and a static HTML page (``html_page``)."""
INTERVAL_METHODS = ("seeds+queries", "queries")
"""What a board's intervals resample (``significance``); the first is the default."""
