"""The HTTP plumbing the fake services share: a threaded server whose every request of the
given methods goes to one ``handle(request_handler, method)`` callable."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def make_server(
    handle: Callable[[BaseHTTPRequestHandler, str], None],
    methods: Iterable[str],
    host: str = "127.0.0.1",
    port: int = 0,
) -> ThreadingHTTPServer:
    """A quiet HTTP/1.1 ``ThreadingHTTPServer`` dispatching ``methods`` to ``handle``; other
    methods get the standard library's 501."""

    def dispatch(method: str) -> Callable[[BaseHTTPRequestHandler], None]:
        return lambda request: handle(request, method)

    attributes: dict[str, Any] = {
        "protocol_version": "HTTP/1.1",
        "log_message": lambda self, *args: None,  # quiet
        **{f"do_{method}": dispatch(method) for method in methods},
    }
    server = ThreadingHTTPServer(
        (host, port), type("Handler", (BaseHTTPRequestHandler,), attributes)
    )
    server.daemon_threads = True
    return server
