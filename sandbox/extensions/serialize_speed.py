"""Keep moto's response serializer from re-deriving attribute names on every value.

For every member of every structure it serializes, moto's attribute picker asks six
alias providers which Python attribute could hold the member (``DBClusterIdentifier``:
``db_cluster_identifier``, ``identifier``, ...), building each provider anew: ~10 % of
the sandbox's CPU per describe or failover response. The answer depends only on the
picker's providers, the member's shape (its name, serialization name and parent
structure) and the class of the object read, none of which change while the server
runs, so it is memoized on those. Shapes live as long as their service model, which
moto caches; the memo keeps a reference to each shape so its id is never reused.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.core.serialize import AttributePicker, XFormedAttributePicker

# Bounded: keys are (picker, shape, class, member), a few thousand per service in use.
_MAX_ENTRIES = 200_000
_lock = threading.Lock()


def _memoized(original: Any) -> Any:
    memo: dict[tuple[Any, ...], tuple[tuple[str, ...], Any]] = {}

    def get_possible_keys(self: AttributePicker, context: Any) -> tuple[str, ...]:
        key = (
            type(self),
            tuple(self.alias_providers),
            id(context.shape),
            type(context.obj),
            context.key,
        )
        hit = memo.get(key)
        if hit is None:
            hit = (tuple(original(self, context)), context.shape)
            with _lock:
                if len(memo) < _MAX_ENTRIES:
                    memo[key] = hit
        return hit[0]

    return get_possible_keys


AttributePicker.get_possible_keys = _memoized(AttributePicker.get_possible_keys)  # type: ignore[method-assign]
XFormedAttributePicker.get_possible_keys = _memoized(  # type: ignore[method-assign]
    XFormedAttributePicker.get_possible_keys
)
