"""The browser screens (control room, crew phone, care centre), served by the same app as
the API so a deployment is one process and the pages need no build step or CDN."""

from __future__ import annotations

from dispatch.web.router import STATIC_DIR, install

__all__ = ["STATIC_DIR", "install"]
