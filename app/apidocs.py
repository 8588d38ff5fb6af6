"""The API documentation pages' assets, served by Junction itself (no CDN).

``/api/docs`` loads Swagger UI 5 vendored in ``app/static/swagger-ui`` at ``/api/_swagger-ui/``
(4.x refused OpenAPI 3.1 documents); ``/api/redoc`` loads the ReDoc bundle vendored in
``app/static/redoc`` at ``/api/_redoc/``. Each folder's README gives the version, licence, file
digests and how to update. The pages themselves are flask-smorest's; :func:`docs_config` points
them at these URLs and turns off Swagger UI's online validator badge, which would fetch an image
from ``validator.swagger.io``.

The pages are also sent with a Content-Security-Policy that lets them load from Junction only:
ReDoc's footer shows Redocly's logo from ``cdn.redoc.ly``, which the browser then does not even
try to fetch (a machine without internet would wait on it; any machine would tell a third party
who reads the documentation).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, request, send_from_directory

from app.auth import auth_exempt

SWAGGER_UI_URL = "/api/_swagger-ui/"
SWAGGER_UI_DIR = Path(__file__).parent / "static" / "swagger-ui"
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css")
REDOC_ASSETS_URL = "/api/_redoc/"
REDOC_DIR = Path(__file__).parent / "static" / "redoc"
REDOC_SCRIPT = "redoc.standalone.js"
PAGES = frozenset({"/api/docs", "/api/redoc"})
# Scripts and styles inline (the Swagger UI page's start-up script, ReDoc's generated styles),
# ReDoc's search in a blob: worker, Swagger UI's data: icons; nothing from elsewhere.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'self'"
)


def docs_config(app: Flask) -> None:
    """Point flask-smorest's documentation pages at the local assets."""
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", SWAGGER_UI_URL)
    # ``validatorUrl: null``: no badge, so the page makes no request outside Junction.
    app.config.setdefault("OPENAPI_SWAGGER_UI_CONFIG", {"validatorUrl": None})
    app.config.setdefault("OPENAPI_REDOC_PATH", "redoc")
    app.config.setdefault("OPENAPI_REDOC_URL", REDOC_ASSETS_URL + REDOC_SCRIPT)


def register_assets(app: Flask) -> None:
    """Serve the Swagger UI and ReDoc files (no token needed, as for the pages), and send the
    pages with :data:`PAGE_POLICY`."""

    @app.after_request
    def docs_page_policy(response: Response) -> Response:
        if request.path in PAGES and response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        return response

    @app.get(SWAGGER_UI_URL + "<path:filename>")
    @auth_exempt
    def swagger_ui_asset(filename: str) -> Response:
        """A file of the vendored Swagger UI."""
        return send_from_directory(SWAGGER_UI_DIR, filename)

    @app.get(REDOC_ASSETS_URL + "<path:filename>")
    @auth_exempt
    def redoc_asset(filename: str) -> Response:
        """A file of the vendored ReDoc."""
        return send_from_directory(REDOC_DIR, filename)
