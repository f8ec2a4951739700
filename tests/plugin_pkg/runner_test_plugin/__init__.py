"""Test-only third-party blocks for bot-runner.

Registered in the "runner.blocks" entry-point group by this package's pyproject.toml:

- ``indicator.threshold`` (threshold.py): a working indicator with two outputs.
- ``executor.testvenue`` (testvenue.py): a live-capable executor that needs a credential.
- ``indicator.broken`` (broken.py): a module that fails to import, to test how that is reported.

This module imports nothing, so that loading one block never imports the broken one.
"""
