"""Saving a simulation through the real pipeline, with its truth alongside."""

from __future__ import annotations

import json

from rich.progress import Progress

from ..clock import to_db
from ..errors import InvalidInput
from ..ingest import save_batch
from ..store import Store
from .core import Simulation
from .truth import Truth


def save_simulation(
    store: Store, sim: Simulation, progress: Progress | None = None
) -> dict[str, str]:
    """Save every batch with :func:`~breakup.ingest.save_batch`; record the truth.

    Returns the accounts written (short key -> account name). Saving the same simulation
    again changes nothing: batches are recognised by their source reference and the truth
    row by its seed and parameters. A store that already holds other data under the demo's
    account names is refused (:class:`~breakup.errors.InvalidInput`).
    """
    params = json.dumps(sim.params.as_dict(), sort_keys=True)
    same = store.scalar(
        "SELECT simulation_id FROM simulations WHERE seed = ? AND params::VARCHAR = ?",
        [sim.params.seed, params],
    )
    taken = sorted({a.name for a in store.accounts()} & set(sim.batches))
    if taken and same is None:
        # Another simulation (or real data) under the same names would mix two histories.
        raise InvalidInput(
            f"{store.path}: already has account(s) {', '.join(taken)} from other data; "
            "save the demo into a fresh store"
        )
    total = sum(len(b) for b in sim.batches.values())
    task = progress.add_task("Saving the simulated year", total=total) if progress else None
    # One transaction: a demo store is either complete or untouched, and one commit is
    # much faster than one per batch.
    with store.transaction():
        for name, batches in sim.batches.items():
            role = sim.truth.accounts[name].role
            for batch in batches:
                save_batch(store, batch, account=name, role=role)
                if progress is not None and task is not None:
                    progress.advance(task)
        if same is None:
            store.con.execute(
                "INSERT INTO simulations VALUES (?, ?, ?, ?, ?)",
                [
                    store.next_id("simulations", "simulation_id"),
                    sim.params.seed,
                    to_db(store.clock()),
                    params,
                    sim.truth.to_json(),
                ],
            )
    return sim.accounts()


def load_truth(store: Store, simulation_id: int | None = None) -> Truth | None:
    """The truth of a saved simulation (the latest if no id is given), or None."""
    sql = "SELECT truth FROM simulations"
    args: list[object] = []
    if simulation_id is not None:
        sql += " WHERE simulation_id = ?"
        args.append(simulation_id)
    text = store.scalar(sql + " ORDER BY simulation_id DESC LIMIT 1", args)
    return None if text is None else Truth.from_json(str(text))
