"""End to end: real gunicorn, two workers, the projects API over HTTP, auth and metrics.

One server with ``JUNCTION_API_TOKENS`` set serves every test of the module: it starts on a
fresh database migrated the way an operator does it (``junction db upgrade``).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.support import Gunicorn, fresh_database, migrate_database, wait_until

pytestmark = pytest.mark.e2e

TOKEN = "e2e-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# HEAD: no other request of the module (nor the start-up's readiness polls) is counted with these
# labels, so counts still being flushed from earlier requests cannot blur the sum.
HEALTHZ = {"method": "HEAD", "endpoint": "/healthz", "status": "200"}


@dataclass
class Server:
    """The running gunicorn, where its metrics files are, and a folder to register as a path."""

    gunicorn: Gunicorn
    metrics_dir: Path
    checkout: Path

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return self.gunicorn.url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn with 2 workers on a fresh, migrated database; bearer tokens required."""
    base = tmp_path_factory.mktemp("e2e-projects")
    instance, metrics_dir, checkout = base / "instance", base / "metrics", base / "checkout"
    for folder in (instance, metrics_dir, checkout):
        folder.mkdir()
    with fresh_database(base) as url:
        migrate_database(url, instance)
        gunicorn = Gunicorn(
            {
                "JUNCTION_DATABASE_URL": url,
                "JUNCTION_INSTANCE_PATH": str(instance),
                "JUNCTION_SCHEDULER": "off",
                "JUNCTION_API_TOKENS": f"other-token,{TOKEN}",
                "JUNCTION_LOG_LEVEL": "warning",
                "JUNCTION_LOG_FORMAT": "json",
                "JUNCTION_METRICS_FLUSH_SECONDS": "0.05",
            },
            workers=2,
            threads=4,
        )
        # A folder of our own so the test can see each worker's samples (Gunicorn drops any
        # inherited value; gunicorn.conf.py keeps one that is set).
        gunicorn.env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        gunicorn.start(base / "gunicorn.log")
        try:
            yield Server(gunicorn, metrics_dir, checkout)
        finally:
            gunicorn.stop()


def test_api_needs_the_right_bearer_token(server: Server):
    url = server.url + "/api/projects"
    missing = requests.get(url, timeout=10)
    assert missing.status_code == 401
    assert missing.headers["Content-Type"] == "application/problem+json"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")

    wrong = requests.get(url, headers={"Authorization": "Bearer not-the-token"}, timeout=10)
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "INVALID_TOKEN"

    right = requests.get(url, headers=AUTH, timeout=10)
    assert right.status_code == 200
    assert set(right.json()) >= {"items", "total"}

    # Probes stay open for load balancers and Prometheus.
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    assert requests.get(server.url + "/readyz", timeout=10).status_code == 200


def test_projects_features_and_test_runs_over_http(server: Server):
    api = requests.Session()
    api.headers.update(AUTH)
    base = server.url + "/api/projects"
    name = "e2e-" + uuid.uuid4().hex[:8]

    created = api.post(base, json={"name": name, "path": str(server.checkout)}, timeout=10)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == name
    assert api.post(base, json={"name": name, "path": str(server.checkout)}).status_code == 409

    listed = api.get(base, params={"limit": 500}, timeout=10).json()
    assert name in [item["name"] for item in listed["items"]]
    assert api.get(f"{base}/{name}", timeout=10).json()["path"] == str(server.checkout)

    patched = api.patch(f"{base}/{name}", json={"description": "over HTTP"}, timeout=10)
    assert patched.status_code == 200
    assert api.get(f"{base}/{name}", timeout=10).json()["description"] == "over HTTP"

    feature = api.post(
        f"{base}/{name}/features",
        json={"name": "login", "priority": 2, "steps": ["open", "submit"]},
        timeout=10,
    )
    assert feature.status_code == 201, feature.text
    feature_id = feature.json()["id"]
    features = api.get(f"{base}/{name}/features", timeout=10).json()
    assert [f["id"] for f in features["items"]] == [feature_id]
    done = api.patch(f"{base}/{name}/features/{feature_id}", json={"passes": True}, timeout=10)
    assert done.json()["passes"] is True

    run = api.post(
        f"{base}/{name}/features/{feature_id}/test-runs",
        json={
            "passed": True,
            "agent_type": "testing",
            "started_at": "2026-01-01T10:00:00Z",
            "completed_at": "2026-01-01T10:05:00Z",
            "return_code": 0,
        },
        timeout=10,
    )
    assert run.status_code == 201, run.text
    runs = api.get(f"{base}/{name}/test-runs", timeout=10).json()
    assert [r["id"] for r in runs["items"]] == [run.json()["id"]]
    feature_runs = api.get(f"{base}/{name}/features/{feature_id}/test-runs", timeout=10).json()
    assert feature_runs["total"] == 1

    # A project with features goes only with cascade; afterwards it is gone for every worker.
    assert api.delete(f"{base}/{name}", timeout=10).status_code == 409
    assert api.delete(f"{base}/{name}", params={"cascade": "true"}, timeout=10).status_code == 204
    for _ in range(4):  # new connections, so both workers are asked
        gone = requests.get(f"{base}/{name}", headers=AUTH, timeout=10)
        assert gone.status_code == 404


def test_bad_request_is_a_problem_with_the_callers_request_id(server: Server):
    rid = "e2e-bad-" + uuid.uuid4().hex[:12]
    response = requests.post(
        server.url + "/api/projects",
        json={"name": "not a valid name!", "path": str(server.checkout)},
        headers={**AUTH, "X-Request-ID": rid},
        timeout=10,
    )
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["X-Request-ID"] == rid
    problem = response.json()
    assert problem["correlation_id"] == rid
    assert problem["code"] == "VALIDATION_ERROR"
    assert "name" in [error["field"] for error in problem["errors"]]

    # gunicorn's access line for it is a JSON object carrying the same request id.
    def access_line() -> dict | None:
        for line in server.gunicorn.log().splitlines():
            if rid in line and line.startswith("{"):
                record = json.loads(line)
                if record["logger"] == "gunicorn.access":
                    return record
        return None

    record = wait_until(access_line, timeout=10, what="the JSON access log line")
    assert record["request_id"] == rid
    assert '"POST /api/projects HTTP/1.1" 422' in record["message"]
    assert TOKEN not in server.gunicorn.log()


def _healthz_count_per_worker(metrics_dir: Path, scratch: Path) -> dict[int, float]:
    """The /healthz counter as each worker's own file holds it."""
    counts: dict[int, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        alone = scratch / str(pid)
        alone.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, alone / path.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        counts[pid] = registry.get_sample_value("junction_http_requests_total", HEALTHZ) or 0.0
    return {pid: count for pid, count in counts.items() if count}


def test_metrics_sum_requests_served_by_both_workers(server: Server, tmp_path: Path):
    def _flushed(per_worker: dict[int, float]) -> dict[int, float] | None:
        return per_worker if sum(per_worker.values()) == before + sent else None

    before = sum(_healthz_count_per_worker(server.metrics_dir, tmp_path / "before").values())
    sent = 0

    def hit(_: int) -> int:
        # A new connection each time, so the kernel hands requests to either worker.
        response = requests.head(
            server.url + "/healthz", headers={"Connection": "close"}, timeout=10
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        while sent < 400:
            assert set(pool.map(hit, range(20))) == {200}
            sent += 20
            # Each worker's flusher moves its counts into its file every 0.05 s.
            per_worker = wait_until(
                lambda: _flushed(_healthz_count_per_worker(server.metrics_dir, tmp_path)),
                what=f"both workers' counts of {sent} requests in their metrics files",
            )
            if len(per_worker) >= 2:
                break
    assert len(per_worker) == 2, f"one worker served all {sent} requests: {per_worker}"
    assert set(per_worker) <= set(server.gunicorn.worker_pids())
    assert sum(per_worker.values()) == before + sent

    # The scrape, whichever worker answers it, reports the sum over both workers.
    for _ in range(2):
        text = requests.get(server.url + "/metrics", timeout=10).text
        samples = [
            sample
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "junction_http_requests_total" and sample.labels == HEALTHZ
        ]
        assert [sample.value for sample in samples] == [before + sent]
