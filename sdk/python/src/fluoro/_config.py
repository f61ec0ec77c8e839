"""``run.config``: the run's hyperparameters, with wandb's rules.

Keys are readable as attributes or items. Setting a key that already holds a
different value raises ``ConfigError`` unless ``allow_val_change=True`` is
passed to ``update`` (as wandb does), so a hyperparameter cannot silently
change halfway through a run. Accepted inputs: dicts, ``argparse.Namespace``,
absl ``FLAGS``, dataclass instances and other objects with a ``__dict__``.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, Callable, Dict, Iterator, Mapping, MutableMapping, Optional

from ._errors import ConfigError
from ._values import json_safe

OnChange = Callable[[Dict[str, Any], bool], None]


def to_dict(d: Any) -> Dict[str, Any]:
    """The key/value pairs of a dict, Namespace, absl FLAGS or plain object."""
    if d is None:
        return {}
    if isinstance(d, Config):
        return d.as_dict()
    if isinstance(d, Mapping):
        return {str(k): v for k, v in d.items()}
    argparse = sys.modules.get("argparse")  # a Namespace means argparse is already imported
    if argparse is not None and isinstance(d, argparse.Namespace):
        return dict(vars(d))
    if hasattr(d, "flag_values_dict") and callable(d.flag_values_dict):  # absl.flags.FLAGS
        return dict(d.flag_values_dict())
    if dataclasses.is_dataclass(d) and not isinstance(d, type):
        return dataclasses.asdict(d)
    if hasattr(d, "__dict__"):
        return {k: v for k, v in vars(d).items() if not k.startswith("_")}
    raise ConfigError("config must be a dict, an argparse.Namespace or absl flags, not %s" % type(d).__name__)


class Config(MutableMapping[str, Any]):
    """A run's config. Changes are sent to the server in the background."""

    def __init__(self, items: Optional[Mapping[str, Any]] = None, on_change: Optional[OnChange] = None) -> None:
        object.__setattr__(self, "_items", {})
        object.__setattr__(self, "_on_change", None)
        if items:
            self.update(items, allow_val_change=True)
        object.__setattr__(self, "_on_change", on_change)

    # reading -------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self._items[key]
        except KeyError:
            raise AttributeError("config has no key %r" % key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(dict(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def as_dict(self) -> Dict[str, Any]:
        return dict(self._items)

    def __repr__(self) -> str:
        return "Config(%r)" % (self._items,)

    # writing -------------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __setattr__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        raise ConfigError("config keys cannot be removed from a run; set a new value with allow_val_change=True")

    def update(self, d: Any = None, allow_val_change: bool = False, **kwargs: Any) -> None:  # type: ignore[override]
        """Merge d (and keyword arguments) into the config.

        Raises ConfigError if a key already has a different value and
        allow_val_change is false.
        """
        new = to_dict(d)
        new.update(kwargs)
        clean = {str(k): json_safe(v) for k, v in new.items()}
        if not allow_val_change:
            changed = [k for k, v in clean.items() if k in self._items and self._items[k] != v]
            if changed:
                k = changed[0]
                raise ConfigError(
                    "config key %r already is %r; refusing to change it to %r. Pass allow_val_change=True "
                    "to config.update() to change it." % (k, self._items[k], clean[k])
                )
        changes = {k: v for k, v in clean.items() if k not in self._items or self._items[k] != v}
        if not changes:
            return
        self._items.update(changes)
        if self._on_change is not None:
            self._on_change(changes, allow_val_change)

    def setdefaults(self, d: Any) -> Dict[str, Any]:
        """Set the keys of d that are not set yet; returns the whole config."""
        new = {k: v for k, v in to_dict(d).items() if k not in self._items}
        if new:
            self.update(new)
        return self.as_dict()

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self._items:
            self.update({key: default})
        return self._items[key]

    def persist(self) -> None:
        """Kept for wandb compatibility: changes are always sent."""

    def _load(self, items: Mapping[str, Any]) -> None:
        """Replace the local copy without sending (a resumed run's config)."""
        self._items.clear()
        self._items.update(items)
