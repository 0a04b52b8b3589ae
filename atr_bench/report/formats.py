"""The choices of ``atr-bench leaderboard`` (the files a board is written as, what its intervals
resample), named apart from pandas, matplotlib and scipy so the command line offers them
without loading any."""

FORMATS = ("md", "csv", "tex", "png", "html")
"""Markdown, CSV and LaTeX tables, a PNG plot, and a static HTML page (``html_page``)."""
INTERVAL_METHODS = ("seeds+queries", "queries")
"""What a board's intervals resample (``significance``); the first is the default."""
LATEX_COLUMNS = ("t2a_R1", "t2a_R5", "t2a_R10", "a2t_R1", "a2t_R5", "a2t_R10")
"""The LaTeX table's statistic columns by default (``--columns``): the headline recalls both
ways, as Lou et al. (2022) and most audio-text retrieval papers report them; the Markdown and
CSV boards keep every column."""
