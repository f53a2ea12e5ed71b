"""Stopping the processes the fixtures start, by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop(process: subprocess.Popen[bytes], first: signal.Signals, timeout: float, group: bool = False) -> None:
    """Send ``first`` to the process (its whole process group when ``group``), then SIGKILL it if it has not
    stopped within ``timeout`` seconds."""
    kill = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError):
        kill(process.pid, first)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(process.pid, signal.SIGKILL)
        process.wait()
