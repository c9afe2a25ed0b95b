"""Stations and vehicles, their states and device tokens, and the claim primitive."""
