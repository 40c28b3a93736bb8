"""Rule-based quality signals of the published recipes: RedPajama-V2, Gopher, C4, FineWeb, FineWeb-2."""
