"""Metrics and logs: what an operator needs to see a worker's health from outside."""
