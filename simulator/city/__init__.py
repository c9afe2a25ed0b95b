"""``python -m simulator city``: a seeded day of a city in accelerated virtual time."""
