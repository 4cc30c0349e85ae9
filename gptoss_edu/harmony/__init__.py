"""harmony (being written)."""
