"""kotae.index.retrieval: a question's plan, the hybrid retriever, the one reciprocal-rank fusion, the glossary."""
