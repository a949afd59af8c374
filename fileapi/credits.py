"""Credits per API key: every successful upload consumes one; at zero uploads answer 402."""

from __future__ import annotations

from collections.abc import Iterable


class CreditLedger:
    """In-memory balances, one per key, all starting at ``initial``.

    Balances live as long as the server process: a restart starts every key afresh.
    An upload :meth:`reserve`\\ s a credit before it starts and :meth:`refund`\\ s it if it
    fails, so concurrent uploads can never drive a balance below zero.
    """

    def __init__(self, keys: Iterable[str], initial: int) -> None:
        self._balances = dict.fromkeys(keys, initial)

    def balance(self, key: str) -> int:
        """Credits left for ``key`` (0 for an unknown key)."""
        return self._balances.get(key, 0)

    def reserve(self, key: str) -> bool:
        """Take one credit from ``key``; ``False`` (nothing taken) when none are left."""
        if self._balances.get(key, 0) <= 0:
            return False
        self._balances[key] -= 1
        return True

    def refund(self, key: str) -> None:
        """Give back a credit taken by :meth:`reserve` for an upload that failed."""
        if key in self._balances:
            self._balances[key] += 1
