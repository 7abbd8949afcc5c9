"""The agents that call models: the LLM generator and the LLM critic."""
