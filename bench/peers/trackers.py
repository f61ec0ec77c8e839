"""One adapter per peer, each driving the peer's own public logging API.

Every adapter has the same four steps, so a workload is written once:
`load()` imports the library (timed by W1), `open()` starts a run, `log()`
logs one row of {key: number}, `close()` is the peer's own finish/close
(whatever it waits for is its drain). Imports happen inside `load()` so a
worker process pays only for the peer it runs.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any


class Tracker:
    name = ""
    package = ""  # distribution whose version is reported
    local = True  # stores under `root` (else in a server the harness measures)

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root

    def load(self) -> None: ...
    def open(self, project: str, run_id: str, config: dict[str, Any]) -> str: ...
    def log(self, row: dict[str, Any], step: int) -> None: ...
    def close(self) -> None: ...


class Fluoro(Tracker):
    name, package, local = "fluoro", "fluoro", False

    def load(self) -> None:
        import fluoro

        self.m = fluoro

    def open(self, project: str, run_id: str, config: dict[str, Any]) -> str:
        self.run = self.m.init(project=project, id=run_id, config=config, dir=str(self.root))
        return run_id

    def log(self, row: dict[str, Any], step: int) -> None:
        self.run.log(row)

    def close(self) -> None:
        self.run.finish()


class Wandb(Tracker):
    name, package = "wandb", "wandb"

    def load(self) -> None:
        os.environ.update(WANDB_MODE="offline", WANDB_ERROR_REPORTING="false", WANDB_SILENT="true",
                          WANDB_DIR=str(self.root))
        import wandb

        self.m = wandb

    def open(self, project: str, run_id: str, config: dict[str, Any]) -> str:
        self.run = self.m.init(project=project, id=run_id, config=config, dir=str(self.root))
        return run_id

    def log(self, row: dict[str, Any], step: int) -> None:
        self.run.log(row)

    def close(self) -> None:
        self.run.finish()


class Mlflow(Tracker):
    """log_metrics per row, synchronous: one HTTP request per row."""

    name, package, local = "mlflow", "mlflow", False
    asynchronous = False

    def load(self) -> None:
        if self.asynchronous:
            os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "true"
        import mlflow

        self.m = mlflow

    def open(self, project: str, run_id: str, config: dict[str, Any]) -> str:
        self.m.set_experiment(project)
        self.run = self.m.start_run(run_name=run_id)
        if config:
            self.m.log_params(config)
        return self.run.info.run_id

    def log(self, row: dict[str, Any], step: int) -> None:
        self.m.log_metrics(row, step=step)

    def close(self) -> None:
        self.m.end_run()


class MlflowAsync(Mlflow):
    """log_metrics with MLFLOW_ENABLE_ASYNC_LOGGING=true (batched off-thread)."""

    name = "mlflow-async"
    asynchronous = True


class MlflowBatch(Mlflow):
    """MlflowClient.log_batch in 1,000-metric chunks, the fastest way in."""

    name = "mlflow-batch"

    def open(self, project: str, run_id: str, config: dict[str, Any]) -> str:
        from mlflow.entities import Metric

        self.Metric, self.buf = Metric, []
        self.client = self.m.MlflowClient()
        rid = super().open(project, run_id, config)
        self.run_id = rid
        return rid

    def log(self, row: dict[str, Any], step: int) -> None:
        ts = int(self.m.utils.time.get_current_time_millis())
        self.buf.extend(self.Metric(k, float(v), ts, step) for k, v in row.items())
        if len(self.buf) >= 1000:
            self._flush()

    def _flush(self) -> None:
        for i in range(0, len(self.buf), 1000):
            self.client.log_batch(self.run_id, metrics=self.buf[i:i + 1000], synchronous=True)
        self.buf = []

    def close(self) -> None:
        self._flush()
        super().close()


class Aim(Tracker):
    name, package = "aim", "aim"

    def load(self) -> None:
        os.environ.setdefault("AIM_UI_TELEMETRY_ENABLED", "0")
        import aim

        self.m = aim

    def open(self, project: str, run_id: str, config: dict[str, Any]) -> str:
        repo = self.root / "aim"
        repo.mkdir(parents=True, exist_ok=True)
        self.run = self.m.Run(repo=str(repo), experiment=project, system_tracking_interval=None,
                              capture_terminal_logs=False)
        self.run["hparams"] = config
        self.run.name = run_id
        return self.run.hash

    def log(self, row: dict[str, Any], step: int) -> None:
        self.run.track(row, step=step)

    def close(self) -> None:
        self.run.close()


class TensorBoardX(Tracker):
    """tensorboardX SummaryWriter.add_scalar, one call per key (no torch)."""

    name, package = "tensorboardX", "tensorboardX"

    def load(self) -> None:
        from tensorboardX import SummaryWriter

        self.cls = SummaryWriter

    def open(self, project: str, run_id: str, config: dict[str, Any]) -> str:
        self.w = self.cls(logdir=str(self.root / "tb" / project / run_id))
        if config:
            self.w.add_text("config", repr(config), 0)
        return run_id

    def log(self, row: dict[str, Any], step: int) -> None:
        add = self.w.add_scalar
        for k, v in row.items():
            add(k, v, step)

    def close(self) -> None:
        self.w.close()


class Trackio(Tracker):
    name, package = "trackio", "trackio"

    def load(self) -> None:
        os.environ["TRACKIO_DIR"] = str(self.root / "trackio")
        import trackio

        self.m = trackio

    def open(self, project: str, run_id: str, config: dict[str, Any]) -> str:
        self.m.init(project=project, name=run_id, config=config, embed=False,
                    auto_log_cpu=False, auto_log_gpu=False)
        return run_id

    def log(self, row: dict[str, Any], step: int) -> None:
        self.m.log(row)

    def close(self) -> None:
        self.m.finish()


ALL: dict[str, type[Tracker]] = {t.name: t for t in
                                 (Fluoro, Wandb, Mlflow, MlflowAsync, MlflowBatch, Aim, TensorBoardX, Trackio)}
