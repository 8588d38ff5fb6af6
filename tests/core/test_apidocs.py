"""``/api/docs`` and ``/api/redoc`` work without internet: every asset comes from Junction.

The pages reference no external host (ReDoc used to come from a CDN, so ``/api/redoc`` was blank
offline), and every script and stylesheet they reference is served here with 200 and a
JavaScript or CSS content type -- without a token, like the pages. The vendored ReDoc and
Swagger UI are the files their READMEs name (by sha256).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from flask import Flask

from app.apidocs import REDOC_DIR, REDOC_SCRIPT, SWAGGER_UI_DIR, SWAGGER_UI_FILES, SWAGGER_UI_URL

PAGES = ["/api/docs", "/api/redoc"]
ASSET_TYPES = {"text/javascript", "application/javascript", "text/css"}
URL_IN_TEXT = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+[^\s"'<>)]*""")


class _References(HTMLParser):
    """Every ``src``/``href`` of a page, and every URL written in its inline text."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.links: list[str] = []
        self.text_urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "src" or (tag == "link" and name == "href"):
                self.assets.append(value)
            elif name in {"href", "spec-url", "action", "data"}:
                self.links.append(value)
            elif "//" in value:
                self.text_urls.append(value)

    def handle_data(self, data: str) -> None:
        self.text_urls.extend(URL_IN_TEXT.findall(data))


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """An app that requires a token: the documentation must not need one."""
    return make_app({"JUNCTION_API_TOKENS": "docs-token"})


@pytest.mark.parametrize("page", PAGES)
def test_the_page_references_no_external_host(app: Flask, page: str) -> None:
    response = app.test_client().get(page)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    refs = _References()
    refs.feed(response.get_data(as_text=True))
    assert refs.assets, "the page loads its scripts from somewhere"
    for url in refs.assets + refs.links + refs.text_urls:
        assert not urlsplit(url).netloc, f"{page} references {url!r}, outside Junction"


@pytest.mark.parametrize("page", PAGES)
def test_every_referenced_asset_is_served(app: Flask, page: str) -> None:
    client = app.test_client()
    refs = _References()
    refs.feed(client.get(page).get_data(as_text=True))
    assert refs.assets
    for asset in refs.assets:
        response = client.get(urljoin(page, asset))
        assert response.status_code == 200, asset
        assert response.mimetype in ASSET_TYPES, (asset, response.mimetype)
        assert len(response.get_data()) > 1000, asset
    # The specification the pages render is served without a token too.
    assert client.get("/api/openapi.json").status_code == 200


def test_redoc_is_the_vendored_file_its_readme_names() -> None:
    readme = (REDOC_DIR / "README.md").read_text()
    digest = hashlib.sha256((REDOC_DIR / REDOC_SCRIPT).read_bytes()).hexdigest()
    assert f"sha256 `{digest}`" in readme
    licence = (REDOC_DIR / "LICENSE").read_text()
    assert "MIT License" in licence
    assert (REDOC_DIR / f"{REDOC_SCRIPT}.LICENSE.txt").is_file()


def test_swagger_ui_is_the_vendored_files_its_readme_names() -> None:
    readme = (SWAGGER_UI_DIR / "README.md").read_text()
    assert re.search(r"`swagger-ui-dist` \*\*5\.\d+\.\d+\*\*", readme), "a 5.x version is named"
    for name in SWAGGER_UI_FILES:
        digest = hashlib.sha256((SWAGGER_UI_DIR / name).read_bytes()).hexdigest()
        assert f"`package/{name}`\n    (sha256 `{digest}`)" in readme, name
    assert "Apache License" in (SWAGGER_UI_DIR / "LICENSE").read_text()
    assert "SmartBear" in (SWAGGER_UI_DIR / "NOTICE").read_text()
    for name in SWAGGER_UI_FILES:
        if name.endswith(".js"):
            assert (SWAGGER_UI_DIR / f"{name}.LICENSE.txt").is_file(), name


def test_swagger_ui_page_uses_the_vendored_files_without_the_validator(app: Flask) -> None:
    client = app.test_client()
    html = client.get("/api/docs").get_data(as_text=True)
    for name in SWAGGER_UI_FILES:
        assert f"{SWAGGER_UI_URL}{name}" in html, name
        response = client.get(SWAGGER_UI_URL + name)
        assert response.status_code == 200, name
        assert response.mimetype in ASSET_TYPES, (name, response.mimetype)
        assert response.get_data() == (SWAGGER_UI_DIR / name).read_bytes(), name
    # The online validator badge would load an image from validator.swagger.io.
    assert '"validatorUrl": null' in html


def test_assets_outside_the_asset_folders_are_not_served(app: Flask) -> None:
    client = app.test_client()
    for url in ("/api/_redoc/../apidocs.py", "/api/_redoc/%2e%2e/apidocs.py", "/api/_redoc/x.js"):
        assert client.get(url).status_code == 404, url
    for url in (
        "/api/_swagger-ui/../apidocs.py",
        "/api/_swagger-ui/%2e%2e/apidocs.py",
        "/api/_swagger-ui/index.html",
    ):
        assert client.get(url).status_code == 404, url
    assert Path(REDOC_DIR).is_dir()
    assert Path(SWAGGER_UI_DIR).is_dir()
