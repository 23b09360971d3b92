"""Bridges: tools made from systems that already describe their API."""
