"""The API's data: an in-memory item store, safe for a threaded worker."""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Item:
    id: int
    name: str
    price_cents: int
    quantity: int

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class ItemStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._items: dict[int, Item] = {}
        for name, price, qty in (("keyboard", 4900, 12), ("mouse", 1900, 40)):
            self.add(name, price, qty)

    def add(self, name: str, price_cents: int, quantity: int) -> Item:
        with self._lock:
            item = Item(next(self._ids), name, price_cents, quantity)
            self._items[item.id] = item
            return item

    def get(self, item_id: int) -> Item | None:
        with self._lock:
            return self._items.get(item_id)

    def all(self) -> list[Item]:
        with self._lock:
            return list(self._items.values())

    def delete(self, item_id: int) -> bool:
        with self._lock:
            return self._items.pop(item_id, None) is not None
