"""``runner kill BOT``: see runner.commands.control."""

from __future__ import annotations

import argparse

from runner.commands.control import command


def run(args: argparse.Namespace) -> int:
    return command(args, "kill")
