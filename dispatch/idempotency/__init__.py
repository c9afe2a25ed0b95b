"""Idempotent writes: a write sent again with the same ``Idempotency-Key`` (a double
click, a resend after a network blip, a simulator's retry) gets the first answer again
instead of being done twice (README, "Idempotent writes")."""
