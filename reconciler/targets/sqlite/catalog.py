"""The store's model catalog: model settings, aliases and the five global tiers.

``Catalog`` (``Store.catalog``) is the only code that writes the catalog's columns and
tables (migration 4); ``Store.providers_with_models`` reads them with the providers, in one
snapshot, through ``model_select``, ``read_aliases`` and ``read_tiers`` here.

A model is found by its id under its provider: exactly, or else by the one id that matches
it whatever the case (ClaraVerse's ids are case-insensitive, and a file may write them in
another case than the upstream lists them). Aliases and tiers hold the id as stored, and
reference the model: deleting the model (a fetch that no longer lists it) or its provider
removes them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.core.catalog import (
    ALIAS_FLAGS,
    STRUCTURED_SUPPORT,
    TIER_NAMES,
    Alias,
    ModelSettings,
    StructuredOutput,
    TierState,
    alias_key,
)
from reconciler.core.model import ModelState
from reconciler.errors import TargetError
from reconciler.targets.sqlite.migrations import now

if TYPE_CHECKING:
    from reconciler.targets.sqlite.store import Store

# The model settings' columns besides display_name, and what a model without them (a
# store from before migration 4) reads as: what ClaraVerse gives a fetched model.
_FLAG_COLUMNS = (
    "supports_tools",
    "supports_vision",
    "supports_streaming",
    "smart_tool_router",
    "agents",
)
_DEFAULTS: dict[str, str] = {
    "description": "''",
    "context_length": "0",
    "system_prompt": "''",
    **{c: "0" for c in _FLAG_COLUMNS},
}

_STRUCTURED = ("support", "compliance", "speed_ms", "badge", "warning")


def model_select(present: Iterable[str]) -> str:
    """The SELECT of model rows; settings columns a store lacks (``present`` = the columns
    it has) read as their defaults."""
    have = set(present)
    columns = ["provider_id", "model_id", "display_name", "visible", "fetched_at"]
    columns += [c if c in have else f"{d} AS {c}" for c, d in _DEFAULTS.items()]
    return f"SELECT {', '.join(columns)} FROM models"


def model_settings(row: sqlite3.Row) -> ModelSettings:
    """The nine settings of a model row. A display name never set (an upstream that gives
    none) is the id, as ClaraVerse shows it."""
    name = row["display_name"]
    return ModelSettings(
        display_name=row["model_id"] if name is None else name,
        description=row["description"],
        context_length=int(row["context_length"]),
        system_prompt=row["system_prompt"],
        **{c: bool(row[c]) for c in _FLAG_COLUMNS},
    )


def model_state(row: sqlite3.Row) -> ModelState:
    """A model row as the Target protocol reports it."""
    return ModelState(
        id=row["model_id"], visible=bool(row["visible"]), settings=model_settings(row)
    )


@dataclass(frozen=True, kw_only=True)
class StoredAlias:
    """An alias row: its number, its provider, the alias, when it was made and changed."""

    id: int
    provider_id: int
    alias: Alias
    created_at: str
    updated_at: str


@dataclass(frozen=True, kw_only=True)
class StoredTier:
    """An occupied tier, with its model's display name (the id when it has none)."""

    state: TierState
    display_name: str


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _alias(row: sqlite3.Row) -> StoredAlias:
    structured = StructuredOutput(**{f: row[f"structured_output_{f}"] for f in _STRUCTURED})
    flags: dict[str, Any] = {f: _flag(row[f]) for f in ALIAS_FLAGS}
    alias = Alias(
        name=row["alias_name"],
        model=row["model_id"],
        display_name=row["display_name"],
        description=row["description"],
        structured_output=structured,
        **flags,
    )
    return StoredAlias(
        id=int(row["id"]),
        provider_id=int(row["provider_id"]),
        alias=alias,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def read_aliases(
    conn: sqlite3.Connection, where: str = "", params: Sequence[Any] = ()
) -> list[StoredAlias]:
    """Alias rows (by provider, then name), optionally filtered by ``where``."""
    sql = f"SELECT * FROM model_aliases {where} ORDER BY provider_id, alias_key"
    return [_alias(r) for r in conn.execute(sql, params)]


def read_tiers(conn: sqlite3.Connection) -> list[StoredTier]:
    """The occupied tiers, in order."""
    rows = conn.execute(
        "SELECT t.tier, t.provider_id, t.model_id, m.display_name FROM tiers t JOIN models m"
        " ON m.provider_id = t.provider_id AND m.model_id = t.model_id ORDER BY t.tier"
    )
    return [
        StoredTier(
            state=TierState(tier=r[0], provider_id=str(r[1]), model_id=r[2]),
            display_name=r[2] if r[3] is None else r[3],
        )
        for r in rows
    ]


def _alias_columns(alias: Alias) -> dict[str, Any]:
    """An alias's columns; empty optional strings as NULL, as ClaraVerse stores them."""
    so = alias.structured_output
    columns: dict[str, Any] = {
        "display_name": alias.display_name,
        "description": alias.description or None,
        **{f: None if getattr(alias, f) is None else int(getattr(alias, f)) for f in ALIAS_FLAGS},
        "structured_output_support": so.support or None,
        "structured_output_compliance": so.compliance,
        "structured_output_speed_ms": so.speed_ms,
        "structured_output_badge": so.badge or None,
        "structured_output_warning": so.warning or None,
    }
    return columns


def check_alias(alias: Alias) -> None:
    """Refuse what the store cannot hold: TargetError saying what and how to fix."""
    support = alias.structured_output.support
    if support and support not in STRUCTURED_SUPPORT:
        raise TargetError(
            f"alias '{alias.name}': structured_output.support '{support}' must be one of "
            f"{', '.join(STRUCTURED_SUPPORT)}"
        )
    if not alias.name.strip():
        raise TargetError("an alias needs a name")


class Catalog:
    """The store's catalog writes and the reads the sandbox server makes."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # --- models ----------------------------------------------------------------------

    def find_models(self, model_id: str, provider_id: int | None = None) -> list[tuple[int, str]]:
        """(provider id, stored id) of the models ``model_id`` names: under ``provider_id``
        or every provider; exact matches, else the ones that match whatever the case."""
        with self._store.snapshot() as c:
            return _find(c, model_id, provider_id)

    def update_models(
        self,
        provider_id: int | None,
        changes: Sequence[tuple[str, ModelSettings]],
        *,
        visible: bool | None = None,
    ) -> list[tuple[int, str]]:
        """Write the settings that are not None of each (model id, settings), and
        ``visible`` if given, in one transaction; ``provider_id`` None: at every provider
        that has a model of that id. TargetError, and nothing written, if a model is not
        found. The models written."""
        written: list[tuple[int, str]] = []
        with self._store.transaction() as c:
            for model_id, settings in changes:
                found = _find(c, model_id, provider_id)
                if not found:
                    raise TargetError(_no_model(c, model_id, provider_id))
                # The columns bear the settings' names.
                values: dict[str, str | int] = {
                    n: _value(v) for n, v in settings.declared().items()
                }
                if visible is not None:
                    values["visible"] = int(visible)
                if values:
                    sets = ", ".join(f"{k} = ?" for k in values)
                    c.executemany(
                        f"UPDATE models SET {sets} WHERE provider_id = ? AND model_id = ?",
                        [(*values.values(), pid, mid) for pid, mid in found],
                    )
                written.extend(found)
        return written

    def set_agents(
        self, model_ids: Sequence[str], enabled: bool, provider_id: int | None = None
    ) -> int:
        """Let agents use these models, or not (at ``provider_id``, or every provider that
        has them); how many models changed. Unknown ids are left out."""
        where = "model_id = ?" + ("" if provider_id is None else " AND provider_id = ?")
        extra = () if provider_id is None else (provider_id,)
        with self._store.transaction() as c:
            cur = c.executemany(
                f"UPDATE models SET agents = ? WHERE {where}",
                [(int(enabled), m, *extra) for m in model_ids],
            )
            return cur.rowcount

    # --- aliases ---------------------------------------------------------------------

    def aliases(
        self,
        provider_id: int | None = None,
        model_ids: Sequence[tuple[int, str]] = (),
        *,
        name: str | None = None,
    ) -> list[StoredAlias]:
        """The aliases of ``provider_id`` (all when None), or of the models ``model_ids``
        ((provider id, stored id) pairs, as ``find_models`` gives them); with ``name``,
        only those of that name (by ``alias_key``, through its index)."""
        with self._store.snapshot() as c:
            if model_ids:
                out: list[StoredAlias] = []
                for pid, mid in model_ids:
                    out += read_aliases(c, "WHERE provider_id = ? AND model_id = ?", (pid, mid))
                return out
            where: list[str] = []
            args: list[int | str] = []
            if provider_id is not None:
                where.append("provider_id = ?")
                args.append(provider_id)
            if name is not None:
                where.append("alias_key = ?")
                args.append(alias_key(name))
            return read_aliases(c, f"WHERE {' AND '.join(where)}" if where else "", tuple(args))

    def create_alias(self, provider_id: int, alias: Alias) -> None:
        """Store a new alias of one of the provider's models; TargetError if the model is
        not one of them or the provider has an alias of that name (``Alias.key``)."""
        check_alias(alias)
        stamp = now()
        with self._store.transaction() as c:
            found = _find(c, alias.model, provider_id)
            if len(found) != 1:
                raise TargetError(
                    f"alias '{alias.name}': {_no_model(c, alias.model, provider_id)}; an alias "
                    "must name a model of its own provider"
                )
            columns = {
                "provider_id": provider_id,
                "alias_name": alias.name,
                "alias_key": alias.key,
                "model_id": found[0][1],
                **_alias_columns(alias),
                "created_at": stamp,
                "updated_at": stamp,
            }
            try:
                c.execute(
                    f"INSERT INTO model_aliases ({', '.join(columns)})"
                    f" VALUES ({', '.join('?' for _ in columns)})",
                    tuple(columns.values()),
                )
            except sqlite3.IntegrityError:
                raise TargetError(
                    f"{_provider(c, provider_id)} already has an alias named '{alias.name}' "
                    "(alias names are unique per provider, whatever their case)"
                ) from None

    def update_alias(self, provider_id: int, alias: Alias) -> bool:
        """Replace the stored alias of ``alias.name`` (``Alias.key``) with ``alias``,
        its name and model kept; False if the provider has no such alias."""
        check_alias(alias)
        values = _alias_columns(alias)
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._store.transaction() as c:
            cur = c.execute(
                f"UPDATE model_aliases SET {sets}, updated_at = ?"
                " WHERE provider_id = ? AND alias_key = ?",
                (*values.values(), now(), provider_id, alias.key),
            )
            return cur.rowcount > 0

    def delete_alias(self, provider_id: int, name: str) -> bool:
        """Delete the provider's alias ``name`` (whatever its case and trailing spaces);
        False if it has none."""
        with self._store.transaction() as c:
            cur = c.execute(
                "DELETE FROM model_aliases WHERE provider_id = ? AND alias_key = ?",
                (provider_id, alias_key(name)),
            )
            return cur.rowcount > 0

    # --- tiers -----------------------------------------------------------------------

    def tiers(self) -> list[StoredTier]:
        """The occupied tiers, in order."""
        with self._store.snapshot() as c:
            return read_tiers(c)

    def set_tier(self, tier: str, provider_id: int, model_id: str) -> str:
        """Put the provider's model in ``tier``, replacing its occupant; the model's stored
        id. TargetError for an unknown tier or a model that is not the provider's."""
        if tier not in TIER_NAMES:
            raise TargetError(f"unknown tier '{tier}': the tiers are {', '.join(TIER_NAMES)}")
        with self._store.transaction() as c:
            found = _find(c, model_id, provider_id)
            if len(found) != 1:
                raise TargetError(f"{tier}: {_no_model(c, model_id, provider_id)}")
            c.execute(
                "INSERT INTO tiers (tier, provider_id, model_id, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (tier) DO UPDATE SET provider_id = excluded.provider_id,"
                " model_id = excluded.model_id, updated_at = excluded.updated_at",
                (tier, provider_id, found[0][1], now()),
            )
            return found[0][1]

    def clear_tier(self, tier: str) -> bool:
        """Empty ``tier``; False if it was empty."""
        with self._store.transaction() as c:
            return c.execute("DELETE FROM tiers WHERE tier = ?", (tier,)).rowcount > 0


def _value(value: str | int | bool) -> str | int:
    return int(value) if isinstance(value, bool) else value


def _find(c: sqlite3.Connection, model_id: str, provider_id: int | None) -> list[tuple[int, str]]:
    scope = "" if provider_id is None else " AND provider_id = ?"
    extra: tuple[int, ...] = () if provider_id is None else (provider_id,)
    exact = c.execute(
        f"SELECT provider_id, model_id FROM models WHERE model_id = ?{scope} ORDER BY provider_id",
        (model_id, *extra),
    ).fetchall()
    if exact:
        return [(int(r[0]), r[1]) for r in exact]
    # Whatever the case: rare, so a scan (SQLite's NOCASE folds ASCII only).
    key = model_id.casefold()
    where = "" if provider_id is None else " WHERE provider_id = ?"
    rows = c.execute(f"SELECT provider_id, model_id FROM models{where}", extra)
    matches = sorted((int(r[0]), r[1]) for r in rows if r[1].casefold() == key)
    if provider_id is not None and len(matches) > 1:
        return []  # two ids differing only in case: which one is meant is unknown
    return matches


def _provider(c: sqlite3.Connection, provider_id: int) -> str:
    row = c.execute("SELECT name FROM providers WHERE id = ?", (provider_id,)).fetchone()
    return f"provider '{row[0]}'" if row else f"provider {provider_id}"


def _no_model(c: sqlite3.Connection, model_id: str, provider_id: int | None) -> str:
    if provider_id is None:
        return f"no provider has a model '{model_id}'"
    if c.execute("SELECT 1 FROM providers WHERE id = ?", (provider_id,)).fetchone() is None:
        return f"provider {provider_id} not found"
    return f"model '{model_id}' is not one of the models of {_provider(c, provider_id)}"
