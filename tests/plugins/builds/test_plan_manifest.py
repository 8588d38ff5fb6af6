"""Plan, manifest and artifacts over HTTP."""

from __future__ import annotations

NODE = {
    "name": "NumPy",
    "version": "1.26.0",
    "python_tag": "cp312",
    "platform_tag": "manylinux_2_28_s390x",
    "action": "build",
}


def test_plan(junction_client):
    c = junction_client
    empty = c.get("/api/builds/plan").get_json()
    assert empty["plan"] == [] and empty["id"] is None
    saved = c.post("/api/builds/plan", json={"run_id": "r1", "plan": [NODE]})
    assert saved.status_code == 201, saved.get_json()
    c.post("/api/builds/plan", json={"run_id": "r2", "plan": [{**NODE, "action": "reuse"}]})
    current = c.get("/api/builds/plan").get_json()
    assert current["run_id"] == "r2"
    assert current["plan"] == [{**NODE, "name": "numpy", "action": "reuse"}]
    bad = c.post("/api/builds/plan", json={"plan": [{**NODE, "action": "why"}]})
    assert bad.status_code == 422


def test_manifest_and_artifacts(junction_client):
    c = junction_client
    entries = [
        {
            "name": "numpy",
            "version": "1.26.0",
            "status": "built",
            "wheel": "wheels/numpy-1.26.0-cp312-cp312-linux_s390x.whl",
            "python_tag": "cp312",
        },
        {"name": "lxml", "version": "5.0", "status": "failed", "wheel": None},
    ]
    assert (
        c.post("/api/builds/manifest", json={"run_id": "r1", "entries": entries}).status_code == 201
    )
    c.post(
        "/api/builds/manifest",
        json={
            "run_id": "r2",
            "entries": [
                {
                    "name": "six",
                    "version": "1.16.0",
                    "status": "reused",
                    "wheel": "https://wheels.example/six-1.16.0-py3-none-any.whl",
                }
            ],
        },
    )
    last = c.get("/api/builds/manifest").get_json()
    assert last["run_id"] == "r2" and [e["name"] for e in last["entries"]] == ["six"]
    r1 = c.get("/api/builds/manifest?run_id=r1&limit=1").get_json()
    assert [e["name"] for e in r1["entries"]] == ["numpy"]
    assert c.get("/api/builds/manifest?limit=1001").status_code == 422
    arts = c.get("/api/builds/artifacts").get_json()["items"]
    assert [a["filename"] for a in arts] == [
        "six-1.16.0-py3-none-any.whl",
        "numpy-1.26.0-cp312-cp312-linux_s390x.whl",
    ]
    assert c.get("/api/builds/artifacts?limit=1").get_json()["items"][0]["name"] == "six"
