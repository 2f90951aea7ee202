"""A provider's models, listed upstream and stored: the embedded target's fetch and the
sandbox server's (``POST /api/admin/providers/{id}/fetch``) are this one function."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from reconciler.core.model import FetchResult
from reconciler.errors import FetchError
from reconciler.secrets import holds_secret
from reconciler.targets.sqlite.store import ProviderRow, Store


def refresh_models(store: Store, row: ProviderRow, *, settings: Any, client: Any) -> FetchResult:
    """List ``row``'s models upstream and store them. On failure the reason is recorded,
    so that the next plan fetches again, and the FetchError raised. A model id that holds
    a key (an upstream that echoes the request into its answer) is never stored."""
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
        clean = [m for m in found if not holds_secret(m.id)]
        store.replace_models(row.id, [(m.id, m.display_name) for m in clean])
    except FetchError as exc:
        store.record_fetch_error(row.id, exc.short_reason())
        raise
    withheld = len(found) - len(clean)
    if not withheld:
        return FetchResult(count=len(clean))
    return FetchResult(
        count=len(clean),
        warnings=(
            f"{withheld} model id{'s' if withheld != 1 else ''} the upstream listed "
            f"held a key (the upstream echoes what it is sent) and "
            f"{'were' if withheld != 1 else 'was'} left out",
        ),
    )


class FetchClient:
    """The fetch settings and one HTTP client for every fetch of a run (or of the sandbox
    server), made on first use: a client costs tens of milliseconds of CPU, and importing
    httpx is not free for a run that never fetches (plan). Closed by ``close``."""

    def __init__(self, make_settings: Callable[[], Any], *, connections: int = 16) -> None:
        self._make_settings = make_settings
        self._connections = connections
        self._settings: Any = None
        self._client: Any = None
        self._lock = threading.Lock()

    def get(self) -> tuple[Any, Any]:
        """(the fetch settings, the shared client), made on first use."""
        from reconciler.upstream import discovery

        with self._lock:
            if self._client is None:
                self._settings = self._make_settings()
                self._client = discovery.new_client(self._settings, connections=self._connections)
            return self._settings, self._client

    def close(self) -> None:
        """Close the client, if one was made."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
