"""Preloaded by the forkserver of a sweep's process pool (:mod:`runner.sweep.engines`): ties
the forkserver's life to the process that started it (:func:`~runner.lifeline.guard_forkserver`).

Importing it anywhere else does nothing.

Examples
--------
>>> from runner.sweep import forkserver_preload
>>> forkserver_preload.ARMED
False
"""

from __future__ import annotations

from runner.lifeline import guard_forkserver

__all__ = ["ARMED"]

ARMED: bool = guard_forkserver()
"""Whether this process is a forkserver whose parent-death signal is armed."""
