"""WSGI/CLI entry of the partition tests: Junction plus the ``partprobe`` plugin."""

from app import create_app
from tests.partition import probe

app = create_app(extra_plugins=[("partprobe", probe)])
