"""Exceptions and warnings raised by the SDK.

The tree, in one place::

    FluoroError                  base of everything the SDK raises
    ├── UsageError               the API was called the wrong way (log() before init())
    ├── ConfigError              config value changed without allow_val_change=True
    ├── CommError                the server could not be reached or answered an error
    │   └── AuthError            the server refused the API key (401/403)
    └── SpoolError               a spool directory is missing or unreadable

    FluoroWarning (UserWarning)  data was dropped or refused; reported once per cause

Only ``init()``, ``Api`` calls, ``sync()`` and ``config`` value changes raise
(and ``alert()``, with ValueError or TypeError for a bad argument, as wandb).
``log()`` never raises into a training loop: bad values are dropped with one
``FluoroWarning`` each.
"""

from __future__ import annotations

from typing import Any, Optional


class FluoroError(Exception):
    """Base class of every exception the SDK raises."""


class UsageError(FluoroError):
    """The API was used the wrong way, e.g. ``fluoro.log()`` before ``fluoro.init()``."""


class ConfigError(FluoroError):
    """A config key already has another value and ``allow_val_change`` was not set."""


class CommError(FluoroError):
    """The server could not be reached, or it answered with an error.

    ``status`` is the HTTP status (``None`` when no answer came back), ``code``
    the server's stable error code (``"not_found"``, ``"conflict"``, ...).
    """

    def __init__(
        self, message: str, status: Optional[int] = None, code: Optional[str] = None, body: Any = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.body = body


class AuthError(CommError):
    """The server refused the API key (HTTP 401 or 403)."""


class SpoolError(FluoroError):
    """A spool directory is missing, unreadable or not a Fluoro spool."""


class FluoroWarning(UserWarning):
    """Data was dropped or refused. Each cause is reported once per run."""
