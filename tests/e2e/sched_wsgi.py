"""WSGI module for the scheduler e2e tests: Junction plus the ``schedprobe`` test plugin."""

from app import create_app
from tests.fixture_plugins import scheduler_probe

app = create_app(extra_plugins=[("schedprobe", scheduler_probe)])
