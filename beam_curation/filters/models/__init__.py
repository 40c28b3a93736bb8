"""Model-based scores: fastText language ID and classifiers, KenLM perplexity, DSIR importance weights."""
