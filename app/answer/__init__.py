"""kotae.app.answer: the Answerer protocol, the extractive answerer and its chain, citing, LLM mode, the Answer types."""
