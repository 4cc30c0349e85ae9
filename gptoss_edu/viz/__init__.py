"""viz (being written)."""
