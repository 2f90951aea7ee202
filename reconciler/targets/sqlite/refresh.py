"""A provider's models, listed upstream and stored: the embedded target's fetch and the
sandbox server's (``POST /api/admin/providers/{id}/fetch``) are this one function."""

from __future__ import annotations

from typing import Any

from reconciler.errors import FetchError
from reconciler.targets.sqlite.store import ProviderRow, Store


def refresh_models(store: Store, row: ProviderRow, *, settings: Any, client: Any) -> int:
    """List ``row``'s models upstream and store them; how many. On failure the reason is
    recorded, so that the next plan fetches again, and the FetchError raised."""
    # Imported here: httpx comes with discovery, and plan (which never fetches) should not
    # pay for it.
    from reconciler.upstream import discovery

    try:
        found = discovery.list_models(
            provider_name=row.name,
            provider_type=row.type,  # type: ignore[arg-type]
            base_url=row.base_url,
            api_key=row.api_key if row.api_key else None,
            settings=settings,
            client=client,
        )
        store.replace_models(row.id, [(m.id, m.display_name) for m in found])
    except FetchError as exc:
        store.record_fetch_error(row.id, exc.short_reason())
        raise
    return len(found)
