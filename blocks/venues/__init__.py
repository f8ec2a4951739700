"""Built-in venues."""
