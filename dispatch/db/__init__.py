"""Persistence: declarative base, portable types, per-dialect strategy, unit of work."""
