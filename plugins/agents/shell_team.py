"""The ``subprocess`` team: the plan is a list of shell steps from the task's config.

Each step runs ``/bin/sh -c`` in the project's directory (or the run's work directory), in its
own process group, dying with the runner thread that started it. stdout and stderr are streamed
line by line into the run's log; the exit code is a metric. Cancellation and timeouts send
SIGTERM to the group, then SIGKILL after ``kill_grace`` seconds.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from typing import IO, Any

from plugins.agents.procs import die_with_parent, signal_group, start_time
from plugins.agents.teams import Step, StepCancelled, StepContext, StepFailed, TaskView

POLL = 0.1
DRAIN = 2.0
MAX_LINE = 8192


class SubprocessTeam:
    """Shell steps in the project's directory, each in its own process group."""

    name = "subprocess"
    description = "Runs the shell steps of the task's config, streaming their output."
    config_schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["steps"],
        "properties": {
            "steps": {
                "type": "array",
                "minItems": 1,
                "maxItems": 200,
                "items": {
                    "anyOf": [
                        {"type": "string", "minLength": 1, "maxLength": 10000},
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["run"],
                            "properties": {
                                "id": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$"},
                                "run": {"type": "string", "minLength": 1, "maxLength": 10000},
                                "timeout": {"type": "number", "exclusiveMinimum": 0},
                                "repeatable": {"type": "boolean"},
                                "env": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                            },
                        },
                    ]
                },
            },
            "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 600},
            "kill_grace": {"type": "number", "minimum": 0, "maximum": 600, "default": 5},
        },
    }

    def plan(self, task: TaskView) -> list[Step]:
        """One step per configured command (ids from the config or ``step-N``)."""
        steps = []
        default_timeout = float(task.config.get("timeout", 600))
        for i, item in enumerate(task.config["steps"], start=1):
            spec = {"run": item} if isinstance(item, str) else dict(item)
            step_id = str(spec.pop("id", f"step-{i}"))
            spec.setdefault("timeout", default_timeout)
            repeatable = bool(spec.pop("repeatable", False))
            steps.append(Step(step_id, spec["run"][:255], spec, repeatable))
        return steps

    def execute(self, step: Step, context: StepContext) -> dict[str, Any]:
        """Run the step's command; fail on a non-zero exit, a timeout or a cancel."""
        cwd = context.project_dir or context.workdir
        env = {**os.environ, **step.spec.get("env", {})}
        env["JUNCTION_AGENTS_RUN_ID"] = str(context.run_id)
        env["JUNCTION_AGENTS_STEP_ID"] = step.id
        grace = float(context.config.get("kill_grace", 5))
        started = time.monotonic()
        proc = subprocess.Popen(
            ["/bin/sh", "-c", step.spec["run"]],
            cwd=str(cwd),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: signals reach its children too
            preexec_fn=die_with_parent,
        )
        proc_started = start_time(proc.pid)
        lines: queue.Queue[tuple[str, str] | None] = queue.Queue()
        readers = [
            threading.Thread(target=_pump, args=(stream, name, lines), daemon=True)
            for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))
        ]
        for reader in readers:
            reader.start()
        try:
            stopped = self._follow(proc, proc_started, lines, len(readers), context, step, grace)
        except BaseException:
            # Lease lost or the runner stopping: the step must not outlive our claim on it.
            if proc.poll() is None:
                _terminate(proc, proc_started, grace)
            raise
        code = proc.wait()
        context.metric("exit_code", code, "", step=step.id)
        context.metric("step_duration", round(time.monotonic() - started, 3), "s", step=step.id)
        if stopped == "cancelled":
            raise StepCancelled(f"step {step.id} cancelled (exit code {code})")
        if stopped == "timeout":
            raise StepFailed(f"step {step.id} timed out after {step.spec.get('timeout')} s")
        if code != 0:
            raise StepFailed(f"step {step.id} exited with code {code}")
        return {"exit_code": code}

    @staticmethod
    def _follow(
        proc: subprocess.Popen[bytes],
        proc_started: int | None,
        lines: queue.Queue[tuple[str, str] | None],
        open_streams: int,
        context: StepContext,
        step: Step,
        grace: float,
    ) -> str | None:
        """Stream the output until the process exits; stop it on cancel or timeout."""
        stopped: str | None = None
        deadline = time.monotonic() + float(step.spec.get("timeout", 600))
        next_cancel_check = 0.0
        exited_at: float | None = None
        while True:
            if proc.poll() is not None:
                # A background child may hold the pipes open after the step's shell exited:
                # give the streams a moment to drain, then stop waiting for them.
                exited_at = exited_at or time.monotonic()
                if open_streams == 0 or time.monotonic() > exited_at + DRAIN:
                    break
            item: tuple[str, str] | tuple[()] | None  # (): nothing arrived this time
            try:
                item = lines.get(timeout=POLL)
            except queue.Empty:
                item = ()
            if item is None:
                open_streams -= 1
            elif item:
                context.log(item[1], item[0])
            now = time.monotonic()
            if stopped is None and now >= next_cancel_check:
                next_cancel_check = now + 0.5
                if context.cancelled():
                    stopped = "cancelled"
                elif now >= deadline:
                    stopped = "timeout"
                if stopped is not None:
                    _terminate(proc, proc_started, grace)
        return stopped


def _pump(stream: IO[bytes] | None, name: str, lines: queue.Queue[tuple[str, str] | None]) -> None:
    """Read ``stream`` line by line into ``lines``; put None at its end."""
    try:
        if stream is not None:
            for raw in iter(stream.readline, b""):
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                lines.put((name, text[:MAX_LINE]))
    finally:
        lines.put(None)


def _terminate(proc: subprocess.Popen[bytes], started: int | None, grace: float) -> None:
    """SIGTERM the step's process group, SIGKILL it if still there after ``grace`` seconds."""
    signal_group(proc.pid, started, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        signal_group(proc.pid, started, signal.SIGKILL)
