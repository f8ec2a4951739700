"""One module per ``runner`` command, each with ``run(args) -> exit code``."""
