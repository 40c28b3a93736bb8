"""The two-phase Beam graph: per-task annotation, then decisions, dedup and writing."""
