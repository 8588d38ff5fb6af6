"""The baseline of ``http_overhead.py``: a bare Flask app answering the same bytes as Junction.

``BENCH_BODIES_DIR`` holds ``healthz.json`` and ``projects.json``, captured from Junction by the
benchmark; this app serves them unchanged, so the difference measured is Junction's own work
(auth, request ids, metrics, the database query and serialisation).
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response

_bodies = Path(os.environ["BENCH_BODIES_DIR"])
HEALTHZ = (_bodies / "healthz.json").read_bytes()
PROJECTS = (_bodies / "projects.json").read_bytes()

app = Flask("bare")


@app.get("/healthz")
def healthz() -> Response:
    """The captured ``/healthz`` body."""
    return Response(HEALTHZ, mimetype="application/json")


@app.get("/api/projects")
def projects() -> Response:
    """The captured ``/api/projects?limit=50`` body."""
    return Response(PROJECTS, mimetype="application/json")
