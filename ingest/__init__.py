"""kotae.ingest."""
