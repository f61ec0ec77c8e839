"""Fluoro: track training runs on your own server, with wandb's API.

    import fluoro as wandb

    run = wandb.init(project="sentiment-finetune", config={"lr": 2e-5})
    for step in range(1000):
        wandb.log({"train/loss": loss})
    wandb.finish()

``log()`` copies and enqueues in microseconds; background threads batch,
write an append-only spool (so a crash or an outage loses nothing) and send.
Importing this package starts no thread, opens no file and configures no
logging. See docs/sdk.md for settings, modes and guarantees.
"""

import typing as _typing

from ._config import Config
from ._errors import AuthError, CommError, ConfigError, FluoroError, FluoroWarning, SpoolError, UsageError
from ._login import login
from ._run import Run, alert, config, define_metric, finish, init, log, mark_preempting, save, summary
from ._settings import Settings
from ._summary import MetricDefinition, Summary
from ._transport import HTTPTransport, MockTransport, Request, Response, Transport, TransportError
from ._version import __version__

__all__ = [
    "AlertLevel",
    "Audio",
    "AuthError",
    "Api",
    "CommError",
    "Config",
    "ConfigError",
    "FluoroError",
    "FluoroWarning",
    "HTTPTransport",
    "Histogram",
    "Html",
    "Image",
    "MetricDefinition",
    "MockTransport",
    "Plotly",
    "Request",
    "Response",
    "Run",
    "Settings",
    "SpoolError",
    "Summary",
    "Table",
    "Transport",
    "TransportError",
    "UsageError",
    "Video",
    "__version__",
    "alert",
    "config",
    "define_metric",
    "finish",
    "init",
    "log",
    "login",
    "mark_preempting",
    "plot",
    "plot_table",
    "run",
    "save",
    "summary",
    "sync",
    "unwatch",
    "watch",
]


if _typing.TYPE_CHECKING:
    from . import _plot as plot
    from ._alerts import AlertLevel
    from ._media import Audio, Histogram, Html, Image, Plotly, Table, Video
    from ._plot import plot_table
    from ._watch import unwatch, watch

# Imported on first use: most runs never build a media object or watch a model.
_LAZY = {
    "AlertLevel": "_alerts",
    "Audio": "_media",
    "Histogram": "_media",
    "Html": "_media",
    "Image": "_media",
    "Plotly": "_media",
    "Table": "_media",
    "Video": "_media",
    "watch": "_watch",
    "unwatch": "_watch",
}


def __getattr__(name: str) -> _typing.Any:
    # `run` is looked up on each access (None before init), like wandb.run;
    # the read API and sync are imported on first use to keep import cheap.
    if name == "run":
        from ._run import current_run

        return current_run()
    if name == "Api":
        from ._api import Api

        return Api
    if name == "sync":
        from ._sync import sync

        return sync
    if name == "plot" or name == "plot_table":
        import importlib

        plot = importlib.import_module("._plot", __name__)
        return plot if name == "plot" else plot.plot_table
    mod = _LAZY.get(name)
    if mod is not None:
        import importlib

        value = getattr(importlib.import_module("." + mod, __name__), name)
        globals()[name] = value
        return value
    raise AttributeError("module 'fluoro' has no attribute %r" % name)


def __dir__() -> _typing.List[str]:
    return sorted(set(globals()) | {"run", "Api", "sync", "plot", "plot_table"} | set(_LAZY))
