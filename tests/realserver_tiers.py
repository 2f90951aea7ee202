"""The five global tiers of the real-server double (see tests/realserver_catalog.py for what
they do): ``GET /api/admin/tiers``, ``POST`` and ``DELETE /api/admin/models/by-id/tier``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.realserver import (
    _INVALID_BODY,
    GoJSONResponse,
    RealServerState,
    TierRow,
    _BadBody,
    _error,
    _key,
    _parse,
    _state,
)
from tests.realserver_catalog import model_id_param, sql_error

__all__ = ["tier_routes"]

_TIERS = ("tier1", "tier2", "tier3", "tier4", "tier5")


async def tiers(request: Request) -> Response:
    state = _state(request)
    with state._lock:
        shown: dict[str, Any] = {}
        for tier, row in sorted(state._tiers.items()):
            match = _tier_model(state, row)
            if match is None:
                continue  # m.id is NULL: the scan fails and the slot is left out
            model_id, display = match
            shown[tier] = {
                "model_id": model_id,
                "provider_id": row.provider_id,
                "display_name": display or row.model_alias,
                "tier": tier,
            }
    return GoJSONResponse({"tiers": shown})


def _tier_model(state: RealServerState, row: TierRow) -> tuple[str, str] | None:
    """The LEFT JOIN on provider and (display name or id) = the stored name; the last
    matching model wins."""
    found = None
    for m in state._models.values():
        if m.provider_id == row.provider_id and _key(row.model_alias) in (
            _key(m.display_name),
            _key(m.id),
        ):
            found = (m.id, m.display_name)
    return found


async def model_tier(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        return await _clear_tier(request, state)
    model_id, refusal = model_id_param(request, 1)
    if refusal is not None or model_id is None:
        return refusal or _error(400, "model_id query parameter is required")
    try:
        body = await _parse(request, {"provider_id": int, "tier": str})
    except _BadBody:
        return _error(400, _INVALID_BODY)
    tier, provider_id = body.get("tier", ""), body.get("provider_id", 0)
    if not tier or not provider_id:
        return _error(400, "tier and provider_id are required")
    if tier not in _TIERS:
        return _error(
            400,
            f"Failed to set tier: invalid tier: {tier} "
            "(must be tier1, tier2, tier3, tier4, or tier5)",
        )
    with state._lock:
        row = state._models.get(_key(model_id))
        if row is None or row.provider_id != provider_id:
            return _error(400, f"Failed to set tier: model not found: {model_id}")
        if not state.tier_migration:
            return _error(
                400,
                "Failed to set tier: failed to set tier: "
                + sql_error(1265, "01000", "Data truncated for column 'tier' at row 1"),
            )
        # The slot stores a name: the display name now, or the id as sent.
        state._tiers[tier] = TierRow(
            tier=tier, provider_id=provider_id, model_alias=row.display_name or model_id
        )
    return GoJSONResponse({"message": f"Model assigned to {tier}"})


async def _clear_tier(request: Request, state: RealServerState) -> Response:
    try:
        body = await _parse(request, {"tier": str})
    except _BadBody:
        return _error(400, _INVALID_BODY)
    tier = body.get("tier", "")
    if not tier:
        return _error(400, "tier is required")
    if tier not in _TIERS:
        return _error(400, f"Failed to clear tier: invalid tier: {tier}")
    with state._lock:
        if state._tiers.pop(tier, None) is None:
            return _error(400, f"Failed to clear tier: tier {tier} is already empty")
    return GoJSONResponse({"message": f"Tier {tier} cleared"})


def tier_routes() -> list[Route]:
    """The tier routes, for make_real_server."""
    return [
        Route("/api/admin/models/by-id/tier", model_tier, methods=["POST", "DELETE"]),
        Route("/api/admin/tiers", tiers, methods=["GET"]),
    ]
