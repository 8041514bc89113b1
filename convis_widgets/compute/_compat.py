"""Old names and old argument shapes of the compute API, kept working with a DeprecationWarning.

Every deprecated path goes through :func:`warn`, so each says what to write instead. The
decorators keep the new signature for type checkers; old calls still run, with a warning.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from typing import ParamSpec, TypeVar, cast

P = ParamSpec("P")
R = TypeVar("R")


def warn(old: str, new: str, *, stacklevel: int = 3) -> None:
    """One DeprecationWarning: ``old`` still works, write ``new`` instead."""
    warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=stacklevel)


def _is_layer(value: object) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def renamed_kwargs(**renames: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: each old keyword ``old=`` (a key of ``renames``) is still accepted as its new one."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        call = cast(Callable[..., R], func)

        @functools.wraps(func)
        def wrapper(*args: object, **kwargs: object) -> R:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{func.__name__}() got both {old}= (its old name) and {new}=")
                    warn(f"{func.__name__}({old}=...)", f"{new}=...")
                    kwargs[new] = kwargs.pop(old)
            return call(*args, **kwargs)

        return cast(Callable[P, R], wrapper)

    return decorate


def keyword_only(positional: int, *names: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: arguments past the first ``positional`` ones, once given by position, are now
    keyword-only; old positional calls map them to ``names`` in order."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        call = cast(Callable[..., R], func)

        @functools.wraps(func)
        def wrapper(*args: object, **kwargs: object) -> R:
            extra = args[positional:]
            if extra:
                if len(extra) > len(names):
                    raise TypeError(f"{func.__name__}() takes at most {positional + len(names)} positional "
                                    f"arguments (old call shape); got {len(args)}")
                given = names[: len(extra)]
                clash = [n for n in given if n in kwargs]
                if clash:
                    raise TypeError(f"{func.__name__}() got {clash[0]} both by position and by keyword")
                warn(f"giving {', '.join(given)} of {func.__name__}() by position",
                     ", ".join(f"{n}=..." for n in given))
                kwargs.update(zip(given, extra, strict=True))
            return call(*args[:positional], **kwargs)

        return cast(Callable[P, R], wrapper)

    return decorate


def layer_after_model(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator for ``f(model, images, *, layer=...)``: the old order ``f(model, layer, images, ...)``
    (told apart by its second argument being a layer name or index) still works."""
    call = cast(Callable[..., R], func)

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> R:
        if len(args) >= 2 and _is_layer(args[1]):
            if "layer" in kwargs:
                raise TypeError(f"{func.__name__}() got a layer both by position and as layer=")
            warn(f"{func.__name__}(model, layer, images)", f"{func.__name__}(model, images, layer=...)")
            kwargs["layer"] = args[1]
            args = (args[0], *args[2:])
        return call(*args, **kwargs)

    return cast(Callable[P, R], wrapper)


def module_getattr(
    module: str, moved: Mapping[str, tuple[str, Callable[[], object]]]
) -> Callable[[str], object]:
    """A module ``__getattr__`` that serves old names: ``moved[old] = (new name, getter)``; other
    names raise the usual AttributeError."""

    def __getattr__(name: str) -> object:
        if name in moved:
            new_name, get = moved[name]
            warn(f"{module}.{name}", new_name)
            return get()
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
