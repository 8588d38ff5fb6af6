"""The fake Plane runs by hand: ``python -m tests.fakes.plane --port 0 --seed demo``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import requests

from tests.support import ROOT


def test_the_fake_plane_serves_the_demo_cycles_as_a_real_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.plane", "--port", "0", "--seed", "demo"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        # The first line is written once the server listens (blocking read: no sleeping).
        info = json.loads(process.stdout.readline())
        assert info["workspace"] == "demo" and len(info["cycles"]) == 3
        url = (
            f"{info['url']}/api/v1/workspaces/{info['workspace']}/projects/"
            f"{info['project_id']}/cycles/"
        )
        response = requests.get(url, headers={"X-API-Key": info["api_key"]}, timeout=10)
        assert response.status_code == 200
        body = response.json()
        cycles = body["results"] if isinstance(body, dict) else body
        assert sorted(c["name"] for c in cycles) == ["Sprint 1", "Sprint 2", "Sprint 3"]
        assert {c["id"] for c in cycles} == set(info["cycles"].values())
        current = next(c for c in cycles if c["id"] == info["cycles"]["current"])
        assert current["total_issues"] == 4
        # A wrong key is refused as Plane refuses it.
        assert requests.get(url, headers={"X-API-Key": "nope"}, timeout=10).status_code in (
            401,
            403,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        if process.stdout:
            process.stdout.close()
        if process.stderr:
            process.stderr.close()
