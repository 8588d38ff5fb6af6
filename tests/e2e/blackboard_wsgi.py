"""WSGI/CLI entry for the blackboard's end-to-end tests: the app with the chain plugin."""

from app import create_app
from tests.e2e import blackboard_chain

app = create_app(extra_plugins=[("bbchain", blackboard_chain)])
