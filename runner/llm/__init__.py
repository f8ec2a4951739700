"""The parts of the steps that ask a model (the LLM planner and the LLM veto): prompts, the model client,
the replay cache and the call records.

Nothing here imports litellm at module level: ``runner validate`` must stay fast.
"""

LLM_BLOCKS = ("planner.llm", "validator.llm_veto")
"""The blocks that ask a model: their runs record calls, and ``runner render`` shows their prompts."""
