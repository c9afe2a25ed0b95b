"""Load and city simulations that use a running server only through its public HTTP and
websocket API (never the ``dispatch`` package), exactly as phones and control screens do."""
