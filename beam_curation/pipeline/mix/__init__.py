"""`beam-curation mix`: a mixture drawn from finished runs by groups, weights, token budgets and rehydration.

config.py (the mixture config), read.py (a run's files, joined, and each document's group, tokens and keys),
graph.py (the Beam job), run.py (the driver). The arithmetic is beam_curation.filters.mixture.
"""
