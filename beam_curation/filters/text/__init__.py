"""Text from pages and words from text: HTML decoding, extraction, and the tokenisers each recipe counts with."""
