"""Dedup keys per document: datasketch-compatible MinHash, LSH bucket keys, exact-text hashes."""
