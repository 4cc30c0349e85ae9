"""tokenizer (being written)."""
