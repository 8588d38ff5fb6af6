"""hello's console panel: the latest greetings, live, and a form that asks for one.

The whole contract with the console: a view that returns the template's context and an action
that takes the submitted form. The core mounts them at ``/console/hello/`` and
``POST /console/hello/greet``, checks sign-in and CSRF, renders the template inside the frame
and re-renders it whenever an event arrives on ``hello:greetings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hello_plugin import service


def panel_context() -> dict[str, Any]:
    """The template's context: the newest greetings and the counts."""
    page = service.list_greetings({"limit": 10, "offset": 0})
    return {"greetings": page["items"], "counts": service.counts()}


def greet(form: Mapping[str, str]) -> str:
    """The ``greet`` action: ask for a greeting (``ValidationFailed`` shows as an error)."""
    greeting = service.create_greeting(form.get("name", ""))
    return f"Greeting for {greeting.name} queued; the hello.deliver job delivers it."
