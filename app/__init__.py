"""kotae.app."""
