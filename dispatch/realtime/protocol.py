"""Websocket wire protocol: message shapes and close codes (see README, "Live updates").

Control room (``/ws/control``)::

    client → {"type": "hello", "token": "...", "resume": {"epoch": "...", "seq": 41}}
    server → {"type": "snapshot", "epoch", "seq", "vehicles", "positions", "incidents",
              "assignments", "hospitals", "stale_after_s"}
           | {"type": "resumed", "epoch", "seq"} followed by the missed events
    server → {"type": "event", "seq", "event": {"type", "data"}}        never dropped
    server → {"type": "positions", "positions": [...]}                  coalesced, latest wins
    server → {"type": "heartbeat", "seq", "at"}
    close 4409: fell behind; 1012: worker restarting. Either way: reconnect and resume.

Driver phone (``/ws/driver``)::

    client → {"type": "hello", "token": "dvt_..."}
    client → {"type": "fixes", "id": "m1", "fixes": [{"lat", "lon", "t", "speed", ...}]}
    client → {"type": "status", "id": "m2", "assignment_id", "status", "at"}
    server → {"type": "ack", "id", ...} | {"type": "error", "id", "code", "field", "message"}
    server → {"type": "assignment", "assignment", "incident"} | {"type": "cancellation", ...}
           | {"type": "status", "assignment_id", "status"}
"""

from __future__ import annotations

#: Policy violation: bad or missing credentials.
CLOSE_UNAUTHORIZED = 4401
#: The client fell too far behind; reconnect and resume (or reload the snapshot).
CLOSE_RESYNC = 4409
#: The server is going away (restart); reconnect, possibly to another worker.
CLOSE_GOING_AWAY = 1001
#: This worker is draining before a restart: reconnect (through the proxy, to another
#: worker) and resume from the last sequence number.
CLOSE_SERVICE_RESTART = 1012
#: A message over ``MAX_MESSAGE_CHARS`` (500 fixes take ~100 kB).
CLOSE_TOO_BIG = 1009
MAX_MESSAGE_CHARS = 1_000_000
#: Malformed first message.
CLOSE_BAD_HELLO = 4400

HELLO_TIMEOUT_S = 10.0
