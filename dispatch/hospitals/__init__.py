"""Receiving hospitals and their diversion state."""
