"""Training curves while a run trains: its loss and validation metrics, epoch by epoch, to
TensorBoard event files (the default, as the paper's released code writes), to an MLflow
local file store, or nowhere.

A logger starts empty for its run id (a resumed or forced run replaces the earlier log), and
training replays the epochs a resumed run restores before it logs new ones, so every epoch
is in the log exactly once.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from atr_bench.errors import AtrBenchError
from atr_bench.files.names import MAX_RUN_ID, check_name, inside

LOG_TO = ("tensorboard", "mlflow", "none")
"""Where ``--log-to`` sends the curves."""

TENSORBOARD_DIR = "tb"
"""``runs/tb/<run id>/``: one TensorBoard run per atr-bench run (``tensorboard --logdir
runs/`` lists them as ``tb/<run id>``)."""

MLFLOW_DIR = "mlflow"
"""``runs/mlflow/``: the MLflow file store, one MLflow run per atr-bench run."""

MLFLOW_EXPERIMENT = "atr-bench"

MLFLOW_MISSING = (
    "--log-to mlflow: MLflow is not installed; pip install 'atr-bench[mlflow]' "
    "(or pass --log-to tensorboard)"
)


class CurveLogger(Protocol):
    """Receives each epoch's entry of the validation curve (``{"epoch", "loss", "val"}``,
    as the run record's ``val_curve`` holds it)."""

    def log_epoch(self, entry: Mapping[str, Any]) -> None: ...

    def close(self, finished: bool) -> None: ...


def scalars(entry: Mapping[str, Any]) -> dict[str, float]:
    """An epoch's values by tag: ``train/loss`` and ``val/<direction>/<metric>``."""
    out = {"train/loss": float(entry["loss"])}
    for direction, metrics in entry["val"].items():
        for metric, value in metrics.items():
            out[f"val/{direction}/{metric}"] = float(value)
    return out


class NoCurves:
    """``--log-to none``: nothing is written."""

    def log_epoch(self, entry: Mapping[str, Any]) -> None:
        pass

    def close(self, finished: bool) -> None:
        pass


NO_CURVES = NoCurves()


class TensorBoardCurves:
    """Scalars in ``folder``'s event files, flushed after every epoch so that a running
    ``tensorboard`` shows them as they come."""

    def __init__(self, folder: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        if folder.exists():
            shutil.rmtree(folder)  # this run id's earlier log: a forced or resumed run
        self.writer = SummaryWriter(log_dir=str(folder))

    def log_epoch(self, entry: Mapping[str, Any]) -> None:
        step = int(entry["epoch"])
        for tag, value in scalars(entry).items():
            self.writer.add_scalar(tag, value, global_step=step)
        self.writer.flush()

    def close(self, finished: bool) -> None:
        self.writer.close()


def mlflow_client(store: Path) -> Any:
    """An MLflow client of the local file store in ``store``. MLflow 3 keeps that store in
    maintenance mode behind ``MLFLOW_ALLOW_FILE_STORE``; it is set here (unless the
    environment says otherwise) because the runs folder is the store atr-bench keeps."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise AtrBenchError(MLFLOW_MISSING) from None
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    store.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=store.resolve().as_uri())


def _experiment(client: Any) -> str:
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(MLFLOW_EXPERIMENT)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(MLFLOW_EXPERIMENT)
    except MlflowException:  # another worker of the sweep made it first
        return client.get_experiment_by_name(MLFLOW_EXPERIMENT).experiment_id


def flat_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"pooling_options": {"clusters": 12}}`` -> ``{"pooling_options.clusters": "12"}``."""
    out = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(flat_params(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = str(value)
    return out


class MlflowCurves:
    """One MLflow run named by the run id, its params the resolved configuration; an earlier
    MLflow run of the same run id is deleted first."""

    def __init__(self, store: Path, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        self.client = mlflow_client(store)
        experiment = _experiment(self.client)
        for old in self.client.search_runs([experiment], f"attributes.run_name = '{run_id}'"):
            self.client.delete_run(old.info.run_id)
        self.run = self.client.create_run(experiment, run_name=run_id).info.run_id
        items = [Param(k, v) for k, v in flat_params(params).items()]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 params a call
            self.client.log_batch(self.run, params=items[start : start + 100])

    def log_epoch(self, entry: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric

        now, step = int(time.time() * 1000), int(entry["epoch"])
        metrics = [Metric(k, v, now, step) for k, v in scalars(entry).items()]
        self.client.log_batch(self.run, metrics=metrics)

    def close(self, finished: bool) -> None:
        self.client.set_terminated(self.run, "FINISHED" if finished else "FAILED")


def require(log_to: str) -> None:
    """Refuse before any work when ``log_to`` is unknown or its library is missing."""
    if log_to not in LOG_TO:
        raise AtrBenchError(f"--log-to {log_to!r}: expected one of {', '.join(LOG_TO)}")
    if log_to == "mlflow":
        try:
            import mlflow  # noqa: F401
        except ImportError:
            raise AtrBenchError(MLFLOW_MISSING) from None


def tensorboard_folder(runs_dir: Path, run_id: str) -> Path:
    check_name(run_id, "run id", MAX_RUN_ID)
    return inside(Path(runs_dir) / TENSORBOARD_DIR, run_id)


@contextmanager
def open_curves(
    log_to: str, runs_dir: Path, run_id: str, params: Mapping[str, Any]
) -> Iterator[CurveLogger]:
    """The logger ``--log-to`` names for one run, closed (as failed, when training raised)
    on leaving; ``params`` (the resolved configuration) go to MLflow."""
    require(log_to)
    check_name(run_id, "run id", MAX_RUN_ID)  # it names a folder, or goes into a query
    if log_to == "tensorboard":
        logger: CurveLogger = TensorBoardCurves(tensorboard_folder(runs_dir, run_id))
    elif log_to == "mlflow":
        logger = MlflowCurves(Path(runs_dir) / MLFLOW_DIR, run_id, params)
    else:
        logger = NO_CURVES
    try:
        yield logger
    except BaseException:
        logger.close(finished=False)
        raise
    logger.close(finished=True)
