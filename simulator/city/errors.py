"""The city simulator's error for a server answer it did not expect."""


class CityError(Exception):
    """The server answered a simulated action unexpectedly."""
