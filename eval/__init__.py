"""kotae.eval."""
