"""Live state: the event broker shared by API workers (Redis or in-process)."""
