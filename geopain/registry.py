"""A small registry used for readers, detectors and models (timm-style ``create``)."""
from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, TypeVar

from .errors import GeopainError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named factories of one kind (``"detector"``, ``"model"``, ``"reader"``)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}
        self._info: dict[str, dict[str, Any]] = {}

    def register(self, name: str, **info: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register ``factory`` under ``name`` with descriptive ``info``."""

        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries and self._entries[name] is not factory:
                raise GeopainError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = factory
            self._info[name] = dict(info)
            return factory

        return deco

    def create(self, name: str, *args: Any, **kwargs: Any) -> T:
        return self.get(name)(*args, **kwargs)

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise GeopainError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def info(self, name: str) -> dict[str, Any]:
        self.get(name)
        return dict(self._info[name])

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
