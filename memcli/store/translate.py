"""Drivers' errors out of a store as memcli's own: a class decorator each backend applies."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import StoreError

_T = TypeVar("_T")


def storage_errors(
    errors: tuple[type[BaseException], ...], translate: Callable[[BaseException], StoreError]
) -> Callable[[type[_T]], type[_T]]:
    """A class decorator: `errors` raised by any public method (or the constructor)
    come out as `translate(exc)`, so nothing above the store sees its driver."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def generator(*args: Any, **kwargs: Any) -> Any:
                try:
                    yield from fn(*args, **kwargs)
                except errors as exc:
                    raise translate(exc) from exc

            return generator

        @functools.wraps(fn)
        def method(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except errors as exc:
                raise translate(exc) from exc

        return method

    def decorate(cls: type[_T]) -> type[_T]:
        members: dict[str, Any] = {}
        for klass in reversed(cls.__mro__[:-1]):  # its own methods and those it mixes in
            members.update(vars(klass))
        for name, member in members.items():
            if (name.startswith("_") and name != "__init__") or not inspect.isfunction(member):
                continue  # private helpers, properties, static and class methods
            setattr(cls, name, wrap(member))
        return cls

    return decorate
