"""Built-in planners."""
