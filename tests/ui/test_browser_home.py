"""The home dashboard, triggers, namespaces (KV store, files) and logs pages in a real browser.

The journeys of kestra_stream/ui/e2e-home run through `npx playwright test --config
playwright.home.config.ts` against a real `server local` on a free port with a fresh home; the
server, the browser and the artifacts are those of the part-1 journeys (tests/ui/test_browser.py).
Screenshots land in tests/ui/artifacts/home/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.test_browser import ARTIFACTS, _playwright, _require_browser_tools, _server


@pytest.mark.timeout(1500)
def test_home_triggers_namespaces_and_logs_journeys_on_server_local(tmp_path: Path) -> None:
    npx = _require_browser_tools()
    with _server(["server", "local", "--home", str(tmp_path / "home")], tmp_path / "server.log") as url:
        _playwright(npx, url, ARTIFACTS / "home", "--config", "playwright.home.config.ts")
    for page in ("dashboard", "kv-dialog", "kv", "namespace-files", "triggers", "backfill-dialog", "logs"):
        assert (ARTIFACTS / "home" / "chromium" / f"{page}.png").is_file(), page
