"""Pages and static files. The pages are plain HTML + ES modules talking to the public API
(the same endpoints and websockets any other client uses), so the screens add no server
logic beyond this router."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from dispatch.config import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
ATTRIBUTION = "© OpenStreetMap contributors"
LANGUAGES = ("en", "th", "vi")

#: Scripts only from this origin (no CDN, no inline code); tiles from anywhere the
#: operator configures; live data only from this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob: https: http:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

PAGES = {
    "control": "control.html",
    "crew": "crew.html",
    "care": "care.html",
    "station": "station.html",
}

router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(
        STATIC_DIR / name,
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/screens", status_code=307)


@router.get("/screens")
async def screens() -> FileResponse:
    return _page("index.html")


@router.get("/control")
async def control() -> FileResponse:
    return _page(PAGES["control"])


@router.get("/crew")
async def crew() -> FileResponse:
    return _page(PAGES["crew"])


@router.get("/care")
async def care() -> FileResponse:
    return _page(PAGES["care"])


@router.get("/station")
async def station() -> FileResponse:
    return _page(PAGES["station"])


# API documentation from this server's own files: a control room may have no internet,
# and FastAPI's defaults load Swagger UI and ReDoc from a CDN.
_VENDOR = "/static/vendor"
_OAUTH2_REDIRECT = "/docs/oauth2-redirect"


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Dispatch API",
        swagger_js_url=f"{_VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{_VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{_VENDOR}/swagger-ui/favicon-32x32.png",
        oauth2_redirect_url=_OAUTH2_REDIRECT,
    )


@router.get(_OAUTH2_REDIRECT)
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="Dispatch API",
        redoc_js_url=f"{_VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{_VENDOR}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )


def client_config(settings: Settings) -> dict[str, Any]:
    """What every screen needs before it logs in: where tiles come from, the credit the
    tiles' licence requires, and the organisation's time zone for every displayed time."""
    return {
        "tile_url": settings.tile_url,
        "attribution": ATTRIBUTION,
        "timezone": settings.timezone,
        "stale_after_s": settings.stale_gps_s,
        "languages": list(LANGUAGES),
        "map_local_language": settings.map_local_language,
    }


@router.get("/web/config.json")
async def config(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.dispatch.settings
    return JSONResponse(client_config(settings), headers={"Cache-Control": "no-cache"})


def install(app: FastAPI) -> None:
    """Add the pages and mount ``/static`` on ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
