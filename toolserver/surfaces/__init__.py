"""The ways a tool call reaches toolserver; each is a thin adapter over the executor."""
