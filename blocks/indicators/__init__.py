"""Built-in indicators."""
