"""The sandbox reads `model_id` as real servers do: decoded twice (three times by the alias
GET and POST), a malformed escape a 400 "Invalid model ID encoding"; and alias names as
they compare them, ignoring case and trailing spaces, a duplicate a 409 "Duplicate entry"."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox_api import Sandbox

BY_ID = "/api/admin/models/by-id"
ALIASES = BY_ID + "/aliases"


def _setup(sandbox: Sandbox) -> int:
    pid: int = sandbox.create("OpenAI")["id"]
    sandbox.add_models(pid, "a+b", "a b", "50%off", "org/m")
    return pid


def _error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]
    return message


# (the query as sent, the id it names or the error): as docs/claraverse-servers.md says
# real servers read them on PUT by-id, the tier and the alias PUT and DELETE.
@pytest.mark.parametrize(
    ("sent", "names"),
    [
        ("a%252Bb", "a+b"),
        ("a%2Bb", "a b"),  # decoded twice: the plus becomes a space
        ("a+b", "a b"),
        ("50%2525off", "50%off"),
        ("org/m", "org/m"),
        ("org%2Fm", "org/m"),
        ("org%252Fm", "org/m"),
    ],
)
def test_put_by_id_decodes_model_id_twice(sandbox: Sandbox, sent: str, names: str) -> None:
    _setup(sandbox)
    with sandbox.admin() as client:
        response = client.put(f"{BY_ID}?model_id={sent}", json={"description": "hit"})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == names


@pytest.mark.parametrize("sent", ["50%25off", "100%25", "%25zz"])
def test_a_model_id_that_does_not_decode_is_a_400(sandbox: Sandbox, sent: str) -> None:
    pid = _setup(sandbox)
    with sandbox.admin() as client:
        answers = [
            client.put(f"{BY_ID}?model_id={sent}", json={}),
            client.post(
                f"{BY_ID}/tier?model_id={sent}", json={"provider_id": pid, "tier": "tier1"}
            ),
            client.get(f"{ALIASES}?model_id={sent}"),
            client.put(f"{ALIASES}/x?model_id={sent}", json={}),
        ]
    assert [_error(a, 400) for a in answers] == ["Invalid model ID encoding"] * 4


def test_the_alias_get_and_post_decode_model_id_three_times(sandbox: Sandbox) -> None:
    pid = _setup(sandbox)
    with sandbox.admin() as client:
        created = client.post(
            f"{ALIASES}?model_id=a%25252Bb", json={"alias_name": "plus", "provider_id": pid}
        )
        listed = client.get(f"{ALIASES}?model_id=a%25252Bb").json()
        once_less = client.get(f"{ALIASES}?model_id=a%252Bb").json()  # names "a b"
        tier = client.post(
            f"{BY_ID}/tier?model_id=a%252Bb", json={"provider_id": pid, "tier": "tier1"}
        )
        deleted = client.delete(f"{ALIASES}/plus?model_id=a%252Bb&provider_id={pid}")
    assert created.status_code == 201, created.text
    assert [(a["alias_name"], a["model_id"]) for a in listed] == [("plus", "a+b")]
    assert once_less is None
    assert tier.status_code == 200, tier.text
    assert [t.state.model_id for t in sandbox.store.catalog.tiers()] == ["a+b"]
    assert deleted.status_code == 200, deleted.text


def test_an_alias_name_ending_in_a_space_is_found_updated_and_deleted(sandbox: Sandbox) -> None:
    pid = _setup(sandbox)
    with sandbox.admin() as client:
        first = client.post(
            f"{ALIASES}?model_id=org%2Fm", json={"alias_name": "fast ", "provider_id": pid}
        )
        duplicate = client.post(
            f"{ALIASES}?model_id=org%2Fm", json={"alias_name": "FAST", "provider_id": pid}
        )
        updated = client.put(f"{ALIASES}/Fast?model_id=org%2Fm", json={"display_name": "Fast"})
        names = [(a.alias.name, a.alias.display_name) for a in sandbox.store.catalog.aliases()]
        deleted = client.delete(f"{ALIASES}/fast%20%20?provider_id={pid}")
    assert first.status_code == 201, first.text
    assert "Duplicate entry" in _error(duplicate, 409)
    assert updated.status_code == 200, updated.text
    assert names == [("fast ", "Fast")]
    assert deleted.status_code == 200, deleted.text
    assert sandbox.store.catalog.aliases() == []


def test_delete_goes_by_name_and_provider_whatever_model_id_says(sandbox: Sandbox) -> None:
    # As on real servers: a client that met a duplicate on a model it did not read deletes
    # it naming the model it meant, then creates it again.
    pid = _setup(sandbox)
    with sandbox.admin() as client:
        client.post(f"{ALIASES}?model_id=org%2Fm", json={"alias_name": "fast", "provider_id": pid})
        deleted = client.delete(f"{ALIASES}/fast?model_id=a%252Bb&provider_id={pid}")
    assert deleted.status_code == 200, deleted.text
    assert sandbox.store.catalog.aliases() == []
