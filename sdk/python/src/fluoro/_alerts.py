"""``run.alert()``: wandb's AlertLevel and the checks an alert passes before it is queued.

Imported on first use (``fluoro.AlertLevel`` or the first ``alert()``), not
by ``import fluoro``. The server, not the SDK, suppresses an alert that
repeats a title within its ``wait_duration``, and sends the rest to its
alert webhook; the SDK only checks the arguments and queues the alert.
"""

from __future__ import annotations

import enum
import math
import numbers
from typing import Any, Dict, Tuple, Union

# The server's limits (internal/ingest/decode.go): it refuses an alert past them.
MAX_TITLE = 256  # characters
MAX_TEXT = 1 << 16  # bytes of UTF-8
MAX_WAIT_MS = 366 * 24 * 3600 * 1000  # a year
DEFAULT_WAIT_MS = 60 * 1000  # wandb's default: a minute
_CUT = " [text cut by fluoro: over 64 KiB]"


class AlertLevel(enum.Enum):
    """How serious an alert is (wandb's ``wandb.AlertLevel``)."""

    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


_LEVELS = frozenset(("INFO", "WARN", "ERROR"))


def check_level(level: Union[str, AlertLevel, None]) -> str:
    if level is None or level == "":  # wandb: `level or AlertLevel.INFO`
        return "INFO"
    if isinstance(level, AlertLevel):
        return level.value
    if isinstance(level, str) and level in _LEVELS:
        return level
    raise ValueError("level must be one of 'INFO', 'WARN', or 'ERROR'")


def check_wait(wait: Any) -> int:  # int | float | timedelta | None; any .total_seconds() will do
    """wait_duration as whole milliseconds (seconds as a number, or a timedelta)."""
    if wait is None:
        return DEFAULT_WAIT_MS
    if isinstance(wait, numbers.Real) and not isinstance(wait, bool):
        try:
            seconds = float(wait)
        except OverflowError:
            seconds = math.inf
    elif callable(getattr(wait, "total_seconds", None)):  # timedelta, pandas.Timedelta
        seconds = float(wait.total_seconds())
    else:
        raise TypeError("wait_duration must be an int, float, or datetime.timedelta, not %s" % type(wait).__name__)
    if math.isnan(seconds) or seconds < 0:
        raise ValueError("wait_duration must be a non-negative number of seconds, not %r" % (wait,))
    if seconds * 1000 > MAX_WAIT_MS:
        raise ValueError("wait_duration of %r is over the server's limit of 366 days" % (wait,))
    return int(round(seconds * 1000))


def check_title(title: Any) -> str:
    if not isinstance(title, str):
        raise TypeError("title must be a str, not %s" % type(title).__name__)
    if not title.strip():
        raise ValueError("title is empty: an alert needs a title")
    if len(title) > MAX_TITLE:
        raise ValueError("title of %d characters: at most %d" % (len(title), MAX_TITLE))
    return title


def check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError("text must be a str, not %s" % type(text).__name__)
    return text


def cap_text(text: str) -> Tuple[str, int]:
    """text cut to 64 KiB of UTF-8 on a character boundary, saying so; and its size in bytes when cut, else 0."""
    if len(text) <= MAX_TEXT // 4:
        return text, 0
    b = text.encode("utf-8", "surrogatepass")  # a lone surrogate reaches the server as U+FFFD: 3 bytes too
    if len(b) <= MAX_TEXT:
        return text, 0
    return b[: MAX_TEXT - len(_CUT)].decode("utf-8", "ignore") + _CUT, len(b)


def prepare(title: Any, text: Any, level: Any, wait_duration: Any) -> Dict[str, Any]:
    """The alert's fields, checked; raises ValueError or TypeError for a bad argument (text is not cut here)."""
    return {
        "title": check_title(title),
        "text": check_text(text),
        "level": check_level(level),
        "wait_ms": check_wait(wait_duration),
    }
