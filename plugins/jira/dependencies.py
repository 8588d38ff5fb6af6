"""Dependencies between a session's tickets as a graph: finding a cycle, and the order in which
every ticket comes after the tickets it depends on."""

from __future__ import annotations

from plugins.jira.models import Ticket


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle of ``graph`` (node -> what it depends on) as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if state.get(nxt) is None and nxt in graph:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def dependency_order(tickets: list[Ticket]) -> list[Ticket]:
    """Tickets with every dependency before its dependants; ties by ``order`` (stable)."""
    by_id = {t.id: t for t in tickets}
    done: set[str] = set()
    out: list[Ticket] = []
    remaining = list(tickets)
    while remaining:
        progressed = False
        for ticket in list(remaining):
            if all(d in done or d not in by_id for d in ticket.dependencies or []):
                out.append(ticket)
                done.add(ticket.id)
                remaining.remove(ticket)
                progressed = True
                break
        if not progressed:  # a cycle slipped in (refused on write): keep the given order
            out.extend(remaining)
            break
    return out
