"""A simulated brand saved once into a store, shared by the modules that test against the
simulator's planted truth."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from breakup.clock import fixed_clock
from breakup.ingest import email_hasher
from breakup.simulate import Simulation, save_simulation
from breakup.store import Store


@contextmanager
def saved(sim: Simulation, path: Path) -> Iterator[Store]:
    """*sim* saved through the real pipeline into a store at *path*, its clock at the end."""
    with Store(path, clock=fixed_clock(sim.params.end)) as store:
        save_simulation(store, sim)
        yield store


def ext_of(store: Store, name: str) -> Callable[[str], str]:
    """The store's external id for a simulated person (email addresses are hashed)."""
    if store.account(name).platform == "email":
        return email_hasher(store)  # type: ignore[no-any-return]
    return lambda x: x
