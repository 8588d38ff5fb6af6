"""WSGI/CLI entry for end-to-end operation tests: the app with the ``opsplugin`` test plugin.

``flask --app tests.e2e.ops_wsgi junction operations run --wait`` makes a runner process.
"""

from app import create_app
from tests.fixture_plugins import opsplugin

app = create_app(extra_plugins=[("opsplugin", opsplugin)])
