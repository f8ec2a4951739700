"""The LLM planner's parts: prompts, the model client, the replay cache and the call records.

Nothing here imports litellm at module level: ``runner validate`` must stay fast.
"""
