"""Login attempts in the sandbox: a budget per account and one per client address.

Each login attempt spends one attempt from its account's budget (the email, normalized)
and one from its client address's budget; each budget refills steadily (``Rate``: at most
``attempts``, refilled over ``per`` seconds). An attempt with either budget empty is refused
before its password is hashed, whatever the password, with the seconds until both have an
attempt again. A successful login gives its attempts back, so that signing in often never
runs out: only failures count. Budgets are kept for at most ``max_budgets`` keys (least
recently used go first), so that invented emails cannot grow them without end.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rate:
    """At most ``attempts`` failed logins, refilled steadily over ``per`` seconds."""

    attempts: int
    per: float

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.per <= 0:
            raise ValueError("a login rate needs at least one attempt over a positive time")


@dataclass(frozen=True, kw_only=True)
class LoginLimits:
    """The budgets: per account (guessing one password) and per client address (guessing
    across accounts)."""

    account: Rate = field(default_factory=lambda: Rate(5, 60.0))
    address: Rate = field(default_factory=lambda: Rate(20, 60.0))


@dataclass
class _Budget:
    attempts: float
    stamp: float


class LoginLimiter:
    """The login budgets of one server; safe to share between threads."""

    def __init__(
        self,
        limits: LoginLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_budgets: int = 10_000,
    ) -> None:
        self.limits = limits or LoginLimits()
        self._clock = clock
        self._max_budgets = max_budgets
        self._budgets: OrderedDict[tuple[str, str], _Budget] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, account: str, address: str) -> float:
        """Spend one attempt of each budget and answer 0.0; or, if either is empty, spend
        nothing and answer the seconds until both have an attempt."""
        keys = self._keys(account, address)
        with self._lock:
            now = self._clock()
            levels = [(key, rate, self._level(key, rate, now)) for key, rate in keys]
            wait = max((1 - level) * rate.per / rate.attempts for _, rate, level in levels)
            if wait > 0:
                return wait
            for key, rate, level in levels:
                self._store(key, rate, level - 1, now)
            return 0.0

    def give_back(self, account: str, address: str) -> None:
        """Return the attempts a login took (it succeeded)."""
        with self._lock:
            now = self._clock()
            for key, rate in self._keys(account, address):
                self._store(key, rate, self._level(key, rate, now) + 1, now)

    def _keys(self, account: str, address: str) -> list[tuple[tuple[str, str], Rate]]:
        return [
            (("account", account), self.limits.account),
            (("address", address), self.limits.address),
        ]

    def _level(self, key: tuple[str, str], rate: Rate, now: float) -> float:
        budget = self._budgets.get(key)
        if budget is None:
            return float(rate.attempts)
        refilled = (now - budget.stamp) * rate.attempts / rate.per
        return min(float(rate.attempts), budget.attempts + refilled)

    def _store(self, key: tuple[str, str], rate: Rate, attempts: float, now: float) -> None:
        if attempts >= rate.attempts:
            # A full budget is the same as none: keep only the ones in use.
            self._budgets.pop(key, None)
            return
        self._budgets[key] = _Budget(attempts, now)
        self._budgets.move_to_end(key)
        while len(self._budgets) > self._max_budgets:
            self._budgets.popitem(last=False)
