"""What a corpus release checks: personal data and overlap with evaluation benchmarks."""
