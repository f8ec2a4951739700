"""bot-runner: run trading bots described as YAML pipelines of reusable blocks."""

__version__ = "0.1.0"
