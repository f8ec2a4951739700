"""indicator.broken: registered, but its module cannot be imported (a missing dependency)."""

raise ImportError("runner_test_plugin.broken needs a dependency that is not installed")
