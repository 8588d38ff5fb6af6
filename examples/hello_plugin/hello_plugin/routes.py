"""HTTP routes: parse (the schemas do it), call the service, respond. Nothing else."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from hello_plugin import schemas as s
from hello_plugin import service

# Named after the plugin, so Junction knows which plugin owns these routes.
blp = Blueprint(
    "hello",
    __name__,
    url_prefix="/api/hello",
    description="Greetings (the example plugin).",
)


@blp.get("/greetings")
@blp.arguments(s.HelloGreetingQuerySchema, location="query")
@blp.response(200, s.HelloGreetingPageSchema)
def list_greetings(filters: dict[str, Any]) -> dict[str, Any]:
    """List greetings, newest first."""
    return service.list_greetings(filters)


@blp.post("/greetings")
@blp.arguments(s.HelloGreetingCreateSchema)
@blp.response(201, s.HelloGreetingSchema)
def create_greeting(data: dict[str, Any]) -> Any:
    """Ask for a greeting; the ``hello.deliver`` job delivers it."""
    return service.create_greeting(**data)


@blp.get("/greetings/<int:greeting_id>")
@blp.response(200, s.HelloGreetingSchema)
@blp.alt_response(404, schema="Problem", description="No such greeting.")
def get_greeting(greeting_id: int) -> Any:
    """One greeting."""
    return service.get_greeting(greeting_id)
