"""kotae.index."""
