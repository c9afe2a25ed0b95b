"""The city simulator's errors, in a module of their own so every layer (the HTTP client,
the crews, the booked transports, the run) can raise and catch them without importing
one another."""


class CityError(Exception):
    """The server answered a simulated action unexpectedly."""


class HttpStatusError(CityError):
    """The server answered with a status the caller did not expect."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class TransportSetupError(Exception):
    """The server cannot hold this transport day (no care centre, a refused booking)."""
