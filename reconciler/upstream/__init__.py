"""Upstream model listings (OpenAI, Anthropic, Google) and the retry policy for HTTP."""
