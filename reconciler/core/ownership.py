"""Which providers no file declares are still not this repository's to delete: those
``prune.ignore`` names (another team's, a shared one) and those the target creates by
itself. Pure, like the diff that asks."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from reconciler.core.model import Capabilities
from reconciler.core.plan import Kept

SELF_CREATED_REASON = (
    "the server creates it by itself when it finds a local engine (pruned, it would come "
    "back); to delete it, declare it with 'ensure: absent'"
)


def kept_from_prune(
    names: Iterable[str], ignore: tuple[str, ...], caps: Capabilities
) -> tuple[Kept, ...]:
    """The ``names`` (undeclared providers) that --prune must leave alone, with why."""
    out = []
    for name in names:
        pattern = next((p for p in ignore if fnmatchcase(name, p)), None)
        if pattern is not None:
            out.append(Kept(name=name, reason=f"matches prune.ignore '{pattern}'"))
        elif name in caps.self_created:
            out.append(Kept(name=name, reason=SELF_CREATED_REASON))
    return tuple(out)
