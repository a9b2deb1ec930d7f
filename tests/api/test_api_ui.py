"""The web UI served at /ui/: files as built, history routes to index.html, caching, authentication."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from kestra_stream.api import ApiSettings, create_app, serving
from kestra_stream.embedded import EmbeddedEngine
from kestra_stream.search import SqliteRepository
from tests.api.conftest import build_services
from tests.e2e.conftest import E2E_ENVIRON

INDEX = "<!doctype html><html><body><div id=app></div><script src=/ui/assets/index-3f2a1b.js></script></body></html>"
SCRIPT = "console.log('ui')"

Serve = Callable[..., AbstractAsyncContextManager[TestClient[Any, Any]]]


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    folder = tmp_path / "dist"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text(INDEX)
    (folder / "assets" / "index-3f2a1b.js").write_text(SCRIPT)
    (folder / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside the build")
    return folder


@pytest.fixture
def serve(tmp_path: Path) -> Serve:
    @asynccontextmanager
    async def serving(ui_dist: Path, settings: ApiSettings | None = None) -> AsyncIterator[TestClient[Any, Any]]:
        search = SqliteRepository(tmp_path / "search.db")
        async with EmbeddedEngine(tmp_path / "home", environ=E2E_ENVIRON) as engine:
            services = build_services(engine, engine.flows, search, engine.storage, "embedded", settings)
            try:
                async with TestClient(TestServer(create_app(services, ui_dist=ui_dist))) as client:
                    yield client
            finally:
                search.close()

    return serving


async def test_root_and_ui_without_slash_redirect_to_the_ui(serve: Serve, dist: Path) -> None:
    async with serve(dist) as client:
        for path in ("/", "/ui"):
            answer = await client.get(path, allow_redirects=False)
            assert answer.status == 302 and answer.headers["Location"] == "/ui/"


async def test_files_are_served_as_built_with_long_caching_for_hashed_assets(serve: Serve, dist: Path) -> None:
    async with serve(dist) as client:
        asset = await client.get("/ui/assets/index-3f2a1b.js")
        assert asset.status == 200 and await asset.text() == SCRIPT
        assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "javascript" in asset.headers["Content-Type"]
        page = await client.get("/ui/")
        assert page.status == 200 and await page.text() == INDEX
        assert page.headers["Cache-Control"] == "no-cache" and page.headers["Content-Type"].startswith("text/html")
        icon = await client.get("/ui/favicon.svg")
        assert icon.status == 200 and icon.headers["Cache-Control"] == "no-cache"


async def test_application_routes_fall_back_to_the_page_but_a_missing_asset_is_a_404(serve: Serve,
                                                                                       dist: Path) -> None:
    async with serve(dist) as client:
        for route in ("/ui/flows", "/ui/flows/company.team/hello/editor", "/ui/flows/edit?tab=topology"):
            answer = await client.get(route)
            assert answer.status == 200 and await answer.text() == INDEX, route
            assert answer.headers["Cache-Control"] == "no-cache"
        missing = await client.get("/ui/assets/index-000000.js")
        assert missing.status == 404


async def test_paths_leaving_the_build_folder_are_refused(serve: Serve, dist: Path) -> None:
    async with serve(dist) as client:
        for path in ("/ui/../secret.txt", "/ui/%2e%2e/secret.txt", "/ui/assets/%2e%2e/%2e%2e/secret.txt",
                     "/ui/..%2fsecret.txt"):
            answer = await client.get(path)
            assert answer.status == 404 and "outside the build" not in await answer.text(), path


async def test_a_symbolic_link_out_of_the_build_is_refused(serve: Serve, dist: Path, tmp_path: Path) -> None:
    (dist / "assets" / "leak.txt").symlink_to(tmp_path / "secret.txt")
    async with serve(dist) as client:
        answer = await client.get("/ui/assets/leak.txt")
        assert answer.status == 404


async def test_without_a_build_the_ui_answers_503_saying_how_to_build_it(serve: Serve, tmp_path: Path) -> None:
    async with serve(tmp_path / "nothing-built") as client:
        answer = await client.get("/ui/flows")
        assert answer.status == 503
        assert "make install" in await answer.text() and answer.headers["Content-Type"].startswith("text/html")
        api = await client.get("/api/v1/flows/distinct-namespaces")
        assert api.status == 200


async def test_the_ui_is_behind_the_api_authentication_with_a_basic_challenge(serve: Serve, dist: Path) -> None:
    settings = ApiSettings(basic_auth={"admin": SecretStr("s3cret")}, tokens=(SecretStr("tok"),))
    async with serve(dist, settings) as client:
        for path in ("/ui/", "/ui/assets/index-3f2a1b.js", "/ui/flows", "/"):
            refused = await client.get(path, allow_redirects=False)
            assert refused.status == 401, path
            assert refused.headers["WWW-Authenticate"].startswith("Basic ")
        basic = base64.b64encode(b"admin:s3cret").decode()
        page = await client.get("/ui/flows", headers={"Authorization": f"Basic {basic}"})
        assert page.status == 200 and await page.text() == INDEX
        bearer = await client.get("/ui/assets/index-3f2a1b.js", headers={"Authorization": "Bearer tok"})
        assert bearer.status == 200


async def test_the_server_every_component_runs_serves_the_ui_beside_the_api(tmp_path: Path) -> None:
    """`server local`, `server standalone` and `webserver` all listen through `serving`."""
    search = SqliteRepository(tmp_path / "search.db")
    async with EmbeddedEngine(tmp_path / "home", environ=E2E_ENVIRON) as engine:
        settings = ApiSettings(host="127.0.0.1", port=0)
        services = build_services(engine, engine.flows, search, engine.storage, "embedded", settings)
        try:
            async with serving(services) as runner, aiohttp.ClientSession() as session:
                host, port = runner.addresses[0][:2]
                async with session.get(f"http://{host}:{port}/", allow_redirects=False) as answer:
                    assert answer.status == 302 and answer.headers["Location"] == "/ui/"
                async with session.get(f"http://{host}:{port}/ui/flows") as answer:
                    assert answer.status in (200, 503)  # 503 until `make install` has built the UI
                    assert answer.headers["Content-Type"].startswith("text/html")
        finally:
            search.close()


def test_the_package_data_ships_the_ui_build() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "ui/dist/**/*" in pyproject["tool"]["setuptools"]["package-data"]["kestra_stream"]
