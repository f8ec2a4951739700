"""``runner render BOT --data FILE [--at TIME]``: print the exact prompts an LLM bot would send, with their
size in tokens, without asking a model."""

from __future__ import annotations

import argparse
import json
import sys

from runner.cliutil import UsageError, fmt_time, load_bot, parse_data, parse_time
from runner.errors import BlockError, DataError
from runner.llm import LLM_BLOCKS


def run(args: argparse.Namespace) -> int:
    try:
        bot = load_bot(args.bot)
        if bot is None:
            return 1
        if not any(step.uses in LLM_BLOCKS for step in bot.steps):
            raise UsageError(f"{args.bot} has no planner.llm or validator.llm_veto step: there is no prompt to render")
        data = parse_data(bot, args.data)
        funding = parse_data(bot, args.funding, flag="--funding")
        at = parse_time(args.at)
    except UsageError as exc:
        print(f"runner render: {exc}", file=sys.stderr)
        return 2
    from runner.llm.dry_run import RenderError, render_prompts

    try:
        rendered = render_prompts(bot, data, at, funding)
    except (DataError, BlockError, RenderError) as exc:
        print(f"runner render: {exc}", file=sys.stderr)
        return 1
    if not rendered.calls:
        reasons = "; ".join(rendered.problems) or "no LLM step ran (no price yet at that time?)"
        print(f"runner render: nothing rendered at {fmt_time(rendered.t)}: {reasons}", file=sys.stderr)
        return 1
    out = []
    for call in rendered.calls:
        if call.error.startswith("prompt:"):
            print(f"runner render: step '{call.step_id}' at {fmt_time(rendered.t)}: {call.error}", file=sys.stderr)
            return 1
        tokens = count_tokens(call.model, call.prompt_system, call.prompt_user) if args.tokens else None
        if args.format == "json":
            out.append(
                json.dumps(
                    {
                        "step": call.step_id,
                        "t": rendered.t,
                        "model": call.model,
                        "system": call.prompt_system,
                        "user": call.prompt_user,
                        "prompt_hash": call.prompt_hash,
                        "tokens": tokens,
                    }
                )
            )
            continue
        out += [
            f"--- step {call.step_id}: system ---",
            call.prompt_system.rstrip("\n"),
            f"--- step {call.step_id}: user ---",
            call.prompt_user.rstrip("\n"),
            f"--- {fmt_time(rendered.t)}  {call.model}  "
            + (f"{tokens:,} tokens  " if tokens is not None else "")
            + f"{len(call.prompt_system) + len(call.prompt_user):,} chars  sha256 {call.prompt_hash[:16]} ---",
        ]
    print("\n".join(out))
    return 0


def count_tokens(model: str, system: str, user: str) -> int | None:
    """The prompt's size in the model's tokens (litellm's counter; a generic tokenizer for unknown models)."""
    from runner.llm.client import count_tokens as count

    return count(model, (("system", system), ("user", user)))
