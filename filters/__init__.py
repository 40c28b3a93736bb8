"""Pure per-document logic: extraction, language ID, signals, rules, classifiers, MinHash.

Nothing in this package imports Apache Beam; every function here can be called on a string.
"""
