"""The offline demo: a simulated brand's year, saved through the real pipeline.

``simulate(SimParams(...))`` is pure and deterministic per seed; ``save_simulation`` writes
its batches with :func:`breakup.ingest.save_batch` and keeps the planted truth in the
``simulations`` table so analyses can be checked against it.
"""

from __future__ import annotations

from .core import Simulation, simulate
from .params import SCENARIOS, SimParams
from .save import load_truth, save_simulation
from .truth import (
    AccountTruth,
    BreakUpPost,
    Cause,
    Fan,
    NameChange,
    Promotion,
    TrueSpan,
    Truth,
    Window,
)

__all__ = [
    "SCENARIOS",
    "AccountTruth",
    "BreakUpPost",
    "Cause",
    "Fan",
    "NameChange",
    "Promotion",
    "SimParams",
    "Simulation",
    "TrueSpan",
    "Truth",
    "Window",
    "load_truth",
    "save_simulation",
    "simulate",
]
