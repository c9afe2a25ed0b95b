"""Tenants: dispatch centres, care centres and hospital operators."""
