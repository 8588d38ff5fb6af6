"""Event fan-out: N WebSocket clients on gunicorn receive M published events.

Measures delivery latency (publish call → client receive, p50/p99/max) and delivery throughput
for Junction's path (``events.publish`` → event log → notifier → each worker's dispatcher →
bounded queue → WebSocket), and, in the same run, for the baseline of plain Redis pub/sub
delivering the same payloads to the same number of subscribers at the same rate. Clients are
the same raw-socket selector loops for both, spread over a few processes.

    .venv/bin/python bench/events_fanout.py                      # 200 clients, 1000 events
    .venv/bin/python bench/events_fanout.py --clients 50 --events 200 --rate 100

Loopback only, bounded by ``--deadline``. Redis comes from ``--redis-url``, else
``JUNCTION_TEST_REDIS_URL`` / ``JUNCTION_REDIS_URL``; without it the Redis baseline is skipped
and the workers learn of events by polling the log. The database is a fresh SQLite file, or a
fresh PostgreSQL database when ``JUNCTION_TEST_DATABASE_URL`` is set.

gunicorn threads: each open WebSocket holds one gthread thread (plus simple-websocket's reader
thread), and the kernel does not spread connections evenly over workers, so give every worker
clearly more threads than its share of streams (default 2 workers x 160 threads for 200).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import selectors
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import (  # noqa: E402 - after the path setup
    Gunicorn,
    fresh_database,
    migrate_database,
    pg_server_url,
)

CHANNEL = "bench"


# -- client side (runs in child processes) ----------------------------------------------------


class WsReader:
    """Incremental parser of unmasked server-to-client WebSocket frames."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return complete text-frame payloads (close frames raise EOFError)."""
        self.buffer += data
        out: list[bytes] = []
        while True:
            buf = self.buffer
            if len(buf) < 2:
                return out
            opcode, length, offset = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return out
                length, offset = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return out
                length, offset = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < offset + length:
                return out
            payload = bytes(buf[offset : offset + length])
            del buf[: offset + length]
            if opcode == 8:
                raise EOFError("server closed the WebSocket")
            if opcode in (1, 2):
                out.append(payload)


class RespReader:
    """Incremental parser of RESP2 pub/sub pushes (arrays of bulk strings)."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[list[bytes]]:
        """Add bytes; return complete arrays."""
        self.buffer += data
        out: list[list[bytes]] = []
        while True:
            parsed = self._array()
            if parsed is None:
                return out
            out.append(parsed)

    def _array(self) -> list[bytes] | None:
        buf = self.buffer
        end = buf.find(b"\r\n")
        if end < 0:
            return None
        assert buf[:1] == b"*", bytes(buf[:20])
        count, pos, items = int(buf[1:end]), end + 2, []
        for _ in range(count):
            end = buf.find(b"\r\n", pos)
            if end < 0:
                return None
            if buf[pos : pos + 1] == b":":  # integer (subscription count)
                items.append(bytes(buf[pos + 1 : end]))
                pos = end + 2
                continue
            size = int(buf[pos + 1 : end])
            start = end + 2
            if len(buf) < start + size + 2:
                return None
            items.append(bytes(buf[start : start + size]))
            pos = start + size + 2
        del buf[:pos]
        return items


def _ws_connect(ws_url: str) -> tuple[socket.socket, int]:
    import websocket

    ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
    hello = json.loads(ws.recv())
    assert hello["type"] == "hello", hello
    assert ws.sock is not None  # set by a successful create_connection
    return ws.sock, hello["pid"]


def _redis_connect(host: str, port: int, channel: str) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=30)
    name = channel.encode()
    sock.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(name), name))
    reader, confirmed = RespReader(), False
    while not confirmed:
        for push in reader.feed(sock.recv(4096)):
            confirmed = push[0] == b"subscribe"
    return sock


def client_process(
    kind: str, target: dict[str, Any], count: int, expected: int, ready: Any, results: Any
) -> None:
    """Open ``count`` connections, report ready, then read until ``expected`` events each."""
    socks: list[socket.socket] = []
    pids: list[int] = []
    for _ in range(count):
        if kind == "ws":
            sock, pid = _ws_connect(target["url"])
            pids.append(pid)
        else:
            sock = _redis_connect(target["host"], target["port"], target["channel"])
        socks.append(sock)
    ready.put(("ready", pids))

    selector = selectors.DefaultSelector()
    state: dict[int, list[Any]] = {}
    for sock in socks:
        sock.setblocking(False)
        parser = WsReader() if kind == "ws" else RespReader()
        selector.register(sock, selectors.EVENT_READ, sock.fileno())
        state[sock.fileno()] = [parser, 0]  # parser, events accounted for
    latencies: list[float] = []
    last_receive = 0.0
    dropped = 0
    other = 0
    open_conns = len(socks)
    deadline = time.time() + target["deadline"]
    while open_conns and time.time() < deadline:
        for key, _ in selector.select(timeout=1.0):
            fileobj = key.fileobj
            assert isinstance(fileobj, socket.socket)  # only sockets are registered above
            sock = fileobj
            entry = state[key.data]
            try:
                data = sock.recv(262144)
                if not data:
                    raise EOFError
                messages = entry[0].feed(data)
            except (BlockingIOError, InterruptedError):
                continue
            except (EOFError, OSError):
                selector.unregister(sock)
                open_conns -= 1
                continue
            now = time.time()
            last_receive = now if messages else last_receive
            for message in messages:
                if kind == "redis":
                    if message[0] != b"message":
                        continue
                    message = message[2]
                body = json.loads(message)
                if "channel" in body:
                    latencies.append(now - body["data"]["t"])
                    entry[1] += 1
                elif body.get("type") == "dropped":
                    dropped += body["count"]
                    entry[1] += body["count"]
                else:
                    other += 1  # heartbeats
            if entry[1] >= expected:
                selector.unregister(sock)
                open_conns -= 1
    for sock in socks:
        sock.close()
    results.put({"latencies": latencies, "dropped": dropped, "other": other, "last": last_receive})


def run_clients(kind: str, target: dict[str, Any], clients: int, procs: int, events: int) -> Any:
    """Start the client processes; return (processes, results queue) once all are connected."""
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    workers = [
        ctx.Process(target=client_process, args=(kind, target, n, events, ready, results))
        for n in shares
        if n
    ]
    for process in workers:
        process.start()
    pids: list[int] = []
    for _ in workers:
        _, got = ready.get(timeout=120)
        pids.extend(got)
    return workers, results, pids


def collect(workers: list[Any], results: Any) -> dict[str, Any]:
    """Gather the client processes' measurements."""
    merged: dict[str, Any] = {"latencies": [], "dropped": 0, "other": 0, "last": 0.0}
    for _ in workers:
        part = results.get(timeout=600)
        merged["latencies"].extend(part["latencies"])
        merged["dropped"] += part["dropped"]
        merged["other"] += part["other"]
        merged["last"] = max(merged["last"], part["last"])
    for process in workers:
        process.join(timeout=30)
    return merged


# -- publishing side ----------------------------------------------------------------------------


def paced(events: int, rate: float, send: Any) -> tuple[float, float]:
    """Call ``send(i, payload_time)`` ``events`` times at ``rate`` per second; (start, end)."""
    start = time.time()
    for i in range(events):
        delay = start + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        send(i, time.time())
    return start, time.time()


def summary(name: str, merged: dict[str, Any], start: float, expected: int) -> dict[str, Any]:
    """Latency percentiles and throughput of one run."""
    lat = sorted(merged["latencies"])
    delivered = len(lat)
    if not lat:
        return {"name": name, "delivered": 0, "expected": expected}
    span = merged["last"] - start
    quantile = statistics.quantiles(lat, n=100, method="inclusive")
    return {
        "name": name,
        "delivered": delivered,
        "expected": expected,
        "dropped": merged["dropped"],
        "p50_ms": quantile[49] * 1000,
        "p99_ms": quantile[98] * 1000,
        "max_ms": lat[-1] * 1000,
        "span_s": span,
        "throughput": delivered / span if span > 0 else float("nan"),
    }


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="events published per second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=160)
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds per phase")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("JUNCTION_TEST_REDIS_URL") or os.environ.get("JUNCTION_REDIS_URL"),
    )
    args = parser.parse_args()

    redis_client = None
    if args.redis_url:
        import redis

        try:
            redis_client = redis.Redis.from_url(args.redis_url, socket_connect_timeout=2)
            redis_client.ping()
        except Exception as exc:
            print(f"Redis at {args.redis_url} not reachable ({exc}): baseline skipped")
            redis_client = None
    else:
        print("no Redis URL (--redis-url / JUNCTION_TEST_REDIS_URL): Redis baseline skipped")

    tag = uuid.uuid4().hex[:8]
    expected = args.clients * args.events
    results: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="junction-bench-") as tmp,
        fresh_database(Path(tmp)) as db_url,
    ):
        instance = Path(tmp) / "instance"
        instance.mkdir()
        migrate_database(db_url, instance)
        env = {
            "JUNCTION_DATABASE_URL": db_url,
            "JUNCTION_INSTANCE_PATH": str(instance),
            "JUNCTION_SCHEDULER": "off",
            "JUNCTION_LOG_LEVEL": "warning",
            "JUNCTION_ACCESS_LOG": "/dev/null",
            "JUNCTION_TEST_EVENTS_REDIS_CHANNEL": f"junction-bench:{tag}",
            # The kernel spreads connections unevenly over the workers: let any one hold them all.
            "JUNCTION_STREAMS_MAX_PER_WORKER": str(args.clients),
        }
        if redis_client is not None:
            env.update(JUNCTION_REDIS_URL=args.redis_url, JUNCTION_EVENTS_NOTIFIER="redis")
            notifier = "redis"
        else:
            # No notifier between processes: the workers find events by polling the log.
            env.update(JUNCTION_EVENTS_NOTIFIER="memory", JUNCTION_TEST_EVENTS_POLL_SECONDS="0.05")
            notifier = "memory + 50 ms polling"
        os.environ.update({k: v for k, v in env.items() if k != "JUNCTION_ACCESS_LOG"})
        from app import create_app, events

        publisher = create_app()
        publisher.config["JUNCTION_EVENTS_REDIS_CHANNEL"] = env[
            "JUNCTION_TEST_EVENTS_REDIS_CHANNEL"
        ]

        server = Gunicorn(
            env,
            workers=args.workers,
            threads=args.threads,
            app="tests.e2e.events_wsgi:app",
        )
        server.start(Path(tmp) / "gunicorn.log")
        try:
            with publisher.app_context():
                head = events.head_id()
            url = f"{server.url.replace('http', 'ws')}/ws/stream?channel={CHANNEL}"
            target = {"url": f"{url}&last_event_id={head}", "deadline": args.deadline}
            workers, queue, pids = run_clients("ws", target, args.clients, args.procs, args.events)
            spread = Counter(pids)

            def publish(i: int, now: float) -> None:
                with publisher.app_context():
                    events.publish(CHANNEL, "bench.tick", {"t": now, "seq": i, "pad": "x" * 64})

            start, end = paced(args.events, args.rate, publish)
            merged = collect(workers, queue)
            results.append(summary("junction websocket", merged, start, expected))
            results[-1]["publish_rate"] = args.events / (end - start)
        finally:
            server.stop()

        if redis_client is not None:
            from redis.connection import parse_url

            parts = parse_url(args.redis_url)
            channel = f"junction-bench-baseline:{tag}"
            target = {
                "host": parts.get("host", "127.0.0.1"),
                "port": int(parts.get("port", 6379)),
                "channel": channel,
                "deadline": args.deadline,
            }
            workers, queue, _ = run_clients("redis", target, args.clients, args.procs, args.events)

            def publish_redis(i: int, now: float) -> None:
                body = {
                    "id": i + 1,
                    "channel": CHANNEL,
                    "type": "bench.tick",
                    "data": {"t": now, "seq": i, "pad": "x" * 64},
                    "project": None,
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now)),
                }
                redis_client.publish(channel, json.dumps(body, separators=(",", ":")))

            start, end = paced(args.events, args.rate, publish_redis)
            merged = collect(workers, queue)
            results.append(summary("redis pub/sub baseline", merged, start, expected))
            results[-1]["publish_rate"] = args.events / (end - start)

    print()
    print(
        f"{args.clients} clients x {args.events} events at {args.rate:g}/s; gunicorn "
        f"{args.workers} workers x {args.threads} threads (connections per worker: "
        f"{sorted(spread.values())}); notifier: {notifier}; "
        f"database: {'postgresql' if pg_server_url() else 'sqlite'}"
    )
    header = f"{'path':<24}{'delivered':>12}{'dropped':>9}{'p50 ms':>9}{'p99 ms':>9}"
    print(header + f"{'max ms':>9}{'deliveries/s':>14}{'publish/s':>11}")
    for row in results:
        if not row.get("delivered"):
            print(f"{row['name']:<24}{'0':>12}  (nothing delivered)")
            continue
        print(
            f"{row['name']:<24}{row['delivered']:>12}{row['dropped']:>9}{row['p50_ms']:>9.1f}"
            f"{row['p99_ms']:>9.1f}{row['max_ms']:>9.1f}{row['throughput']:>14.0f}"
            f"{row['publish_rate']:>11.0f}"
        )
    if len(results) == 2 and results[1].get("delivered"):
        ratio = results[0]["p50_ms"] / results[1]["p50_ms"]
        print(f"p50 latency ratio junction/redis: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
