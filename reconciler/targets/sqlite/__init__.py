"""The embedded target: a SQLite file with ClaraVerse's data model.

- ``store.py``: ``Store``, the file and the only code that touches its provider and model
  tables; the sandbox server serves the same store over HTTP through it.
- ``catalog.py``: ``Catalog`` (``Store.catalog``): model settings, aliases and tiers.
- ``storefile.py``: the file itself: what is ours (the marker), creation, its mode.
- ``migrations.py``: the numbered schema migrations.
- ``target.py``: ``SqliteTarget``, the Target protocol over a Store.
- ``refresh.py``: a provider's models listed upstream and stored (target and sandbox).
- ``lock.py``: ``FileLock``, held for a whole apply.
"""

from __future__ import annotations

from reconciler.targets.sqlite.lock import FileLock
from reconciler.targets.sqlite.migrations import MIGRATIONS
from reconciler.targets.sqlite.refresh import FetchClient, refresh_models
from reconciler.targets.sqlite.store import ProviderRow, Store
from reconciler.targets.sqlite.target import CAPABILITIES, SqliteTarget

__all__ = [
    "CAPABILITIES",
    "MIGRATIONS",
    "FetchClient",
    "FileLock",
    "ProviderRow",
    "SqliteTarget",
    "Store",
    "refresh_models",
]
