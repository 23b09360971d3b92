"""Tests of the transport-neutral core (toolserver/core)."""
