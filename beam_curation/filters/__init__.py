"""Pure per-document logic, grouped by role: text, heuristics, models, dedup, release; rules on top.

Nothing in this package imports Apache Beam; every function here can be called on a string.
"""
