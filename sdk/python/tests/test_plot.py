"""fluoro.plot: wandb's preset charts, their tables, and how log() stores them."""

from __future__ import annotations

import json
import random
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import fluoro
from fluoro import plot
from fluoro._errors import FluoroWarning

from fakeserver import FakeServer, start

# --- the presets' tables --------------------------------------------------------


def test_confusion_matrix_with_class_names() -> None:
    c = plot.confusion_matrix(y_true=[0, 1, 2, 2, 1, 0], preds=[0, 2, 2, 2, 1, 1], class_names=["cat", "dog", "eel"])
    assert c.spec.spec_name == "wandb/confusion_matrix/v1"
    assert c.table.columns == ["Actual", "Predicted", "nPredictions"]
    counts = {(a, p): n for a, p, n in c.table.data}
    assert len(c.table.data) == 9  # every pair, zeros included
    assert counts[("cat", "cat")] == 1 and counts[("cat", "dog")] == 1
    assert counts[("dog", "eel")] == 1 and counts[("dog", "dog")] == 1
    assert counts[("eel", "eel")] == 2 and counts[("eel", "cat")] == 0
    assert sum(counts.values()) == 6


def test_confusion_matrix_from_probs_and_labels_naming_themselves() -> None:
    probs = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]
    c = plot.confusion_matrix(probs=probs, y_true=[0, 1, 1])
    assert {(a, p): n for a, p, n in c.table.data} == {("0", "0"): 1, ("0", "1"): 0, ("1", "0"): 1, ("1", "1"): 1}
    s = plot.confusion_matrix(y_true=["b", "a", "b"], preds=["b", "b", "b"])
    assert [r[:2] for r in s.table.data] == [["a", "a"], ["a", "b"], ["b", "a"], ["b", "b"]]


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(y_true=[0], preds=[0], probs=[[1.0]]), "not both"),
        (dict(preds=[0]), "y_true"),
        (dict(y_true=[0]), "preds"),
        (dict(y_true=[0, 1], preds=[0]), "1 predictions for 2 true labels"),
        (dict(y_true=[0, 3], preds=[0, 1], class_names=["a", "b"]), r"y_true holds 3, which is not an index"),
        (dict(y_true=[0], probs=[["x", 1.0]]), "must hold numbers"),
    ],
)
def test_confusion_matrix_bad_input(kw: Dict[str, Any], match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        plot.confusion_matrix(**kw)


def _auc(points: List[Tuple[float, float]]) -> float:
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(points, points[1:]))


def _scores(n: int, seed: int) -> Tuple[List[int], List[float]]:
    rnd = random.Random(seed)
    y = [rnd.randrange(2) for _ in range(n)]
    # overlapping classes, and ties: scores on a grid of 0.05
    s = [round(min(1.0, max(0.0, rnd.gauss(0.35 + 0.3 * t, 0.2))) * 20) / 20 for t in y]
    return y, s


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_roc_curve_matches_the_definition(seed: int) -> None:
    y, s = _scores(400, seed)
    c = plot.roc_curve(y, [[1 - v, v] for v in s], classes_to_plot=[1])
    assert c.spec.spec_name == "wandb/area-under-curve/v0" and c.table.columns == ["class", "fpr", "tpr"]
    assert c.spec.fields == {"x": "fpr", "y": "tpr", "class": "class"}
    pts = [(f, t) for cls, f, t in c.table.data]
    assert {r[0] for r in c.table.data} == {1}
    assert pts[0] == (0.0, 0.0) and pts[-1] == (1.0, 1.0)
    # Every threshold's (fpr, tpr) lies on the drawn curve, and the area is the
    # probability that a positive outscores a negative (ties count a half).
    pos = [v for v, t in zip(s, y) if t == 1]
    neg = [v for v, t in zip(s, y) if t == 0]
    exact = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg) / (len(pos) * len(neg))
    assert _auc(pts) == pytest.approx(exact, abs=0.003)  # the table rounds to 3 decimals
    for th in sorted(set(s)):
        tpr = sum(v >= th for v in pos) / len(pos)
        fpr = sum(v >= th for v in neg) / len(neg)
        assert any(abs(f - fpr) < 2e-3 and abs(t - tpr) < 2e-3 for f, t in pts) or _on_segment(pts, fpr, tpr)


def _on_segment(pts: List[Tuple[float, float]], x: float, y: float) -> bool:
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if min(x0, x1) - 2e-3 <= x <= max(x0, x1) + 2e-3 and min(y0, y1) - 2e-3 <= y <= max(y0, y1) + 2e-3:
            if abs((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)) < 3e-3:
                return True
    return False


@pytest.mark.parametrize("seed", [1, 2])
def test_pr_curve_is_the_interpolated_precision(seed: int) -> None:
    y, s = _scores(300, seed)
    c = plot.pr_curve(y, s, labels=["neg", "pos"], interp_size=11)  # binary: one score per example
    assert c.table.columns == ["class", "precision", "recall"]
    assert c.spec.string_fields["x-axis-title"] == "Recall"
    by: Dict[str, List[Tuple[float, float]]] = {}
    for cls, p, r in c.table.data:
        by.setdefault(cls, []).append((r, p))
    assert sorted(by) == ["neg", "pos"] and all(len(v) == 11 for v in by.values())
    for cls, label in (("pos", 1), ("neg", 0)):
        score = s if label == 1 else [1 - v for v in s]
        npos = sum(t == label for t in y)
        pairs = []  # (recall, precision) at every threshold, and (0, 1)
        for th in sorted(set(score)):
            sel = [t for v, t in zip(score, y) if v >= th]
            tp = sum(t == label for t in sel)
            pairs.append((Fraction(tp, npos), Fraction(tp, len(sel))))
        pairs.append((Fraction(0), Fraction(1)))
        for r, p in by[cls]:
            level = Fraction(round(r * 10), 10)
            want = max(pp for rr, pp in pairs if rr >= level)
            assert p == pytest.approx(float(want), abs=6e-4), (cls, r)


def test_curves_thin_to_the_row_limit_and_skip_classes_without_examples() -> None:
    rnd = random.Random(0)
    n = 30000
    y = [rnd.randrange(3) for _ in range(n)]
    probs = [[rnd.random() for _ in range(4)] for _ in range(n)]
    c = plot.roc_curve(y, probs, labels=["a", "b", "c", "d"])
    assert len(c.table.data) <= fluoro.Table.MAX_ROWS
    by: Dict[str, List[Tuple[float, float]]] = {}
    for cls, f, t in c.table.data:
        by.setdefault(cls, []).append((f, t))
    assert sorted(by) == ["a", "b", "c"]  # y_true has no "d"; column 3 unused
    for pts in by.values():
        assert pts[0] == (0.0, 0.0) and pts[-1] == (1.0, 1.0)
        assert _auc(pts) == pytest.approx(0.5, abs=0.03)  # random scores
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        c = plot.roc_curve([0, 0, 1], [[0.5, 0.5], [0.4, 0.6], [0.1, 0.9]], classes_to_plot=[0, 1])
    assert {r[0] for r in c.table.data} == {0, 1}
    assert not w


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: plot.roc_curve([0, 1], [[0.1, 0.9]]), "1 rows of y_probas for 2 labels"),
        (lambda: plot.roc_curve([0, 1, 2], [0.1, 0.2, 0.3]), "one score per example but y_true has 3 classes"),
        (lambda: plot.roc_curve([0, 1, 2], [[0.1, 0.9]] * 3), "2 columns but y_true has 3 classes"),
        (lambda: plot.roc_curve([0, 1], [[0.1, float("nan")], [0.3, 0.7]]), "NaN"),
        (lambda: plot.pr_curve([0, 1], [0.1, 0.9], interp_size=1), "interp_size"),
        (lambda: plot.pr_curve([0, 1], [0.1, 0.9], classes_to_plot=[7]), "none of classes_to_plot"),
        (lambda: plot.pr_curve(None, [0.1]), "y_true is missing"),
        (lambda: plot.roc_curve("01", [0.1, 0.9]), "must be a sequence"),
    ],
)
def test_curve_bad_input(call: Any, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_line_series_shared_and_own_xs() -> None:
    c = plot.line_series([0, 1, 2], [[1.0, 0.5, 0.2], [1.0, 0.7, 0.6]], keys=["train", "val"], xname="epoch")
    assert c.table.columns == ["step", "lineKey", "lineVal"]
    assert c.table.data[:3] == [[0, "train", 1.0], [1, "train", 0.5], [2, "train", 0.2]]
    assert c.spec.string_fields == {"title": "", "xname": "epoch"}
    d = plot.line_series([[0, 1], [5, 6, 7]], [[1, 2], [3, 4, 5]])
    assert [r[1] for r in d.table.data] == ["line_0", "line_0", "line_1", "line_1", "line_1"]
    with pytest.raises(ValueError, match="2 keys for 1 y-series"):
        plot.line_series([0], [[1]], keys=["a", "b"])
    with pytest.raises(ValueError, match="3 x-series for 2 y-series"):
        plot.line_series([[0], [1], [2]], [[1], [2]])


def test_simple_presets_check_their_columns() -> None:
    t = fluoro.Table(columns=["epoch", "acc", "split"], data=[[1, 0.5, "a"], [2, 0.7, "b"]])
    assert plot.line(t, "epoch", "acc", stroke="split", title="acc").spec.fields == {
        "x": "epoch",
        "y": "acc",
        "stroke": "split",
    }
    assert plot.scatter(t, "epoch", "acc").spec.spec_name == "wandb/scatter/v0"
    assert plot.bar(t, "split", "acc").spec.fields == {"label": "split", "value": "acc"}
    assert plot.histogram(t, "acc").spec.spec_name == "wandb/histogram/v0"
    with pytest.raises(ValueError, match=r"x='step' is not a column of the table; its columns are"):
        plot.line(t, "step", "acc")
    with pytest.raises(TypeError, match="must be a fluoro.Table"):
        plot.scatter([[1, 2]], "x", "y")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fields must be a dict"):
        fluoro.plot_table("wandb/line/v0", t, ["x"])  # type: ignore[arg-type]


def test_config_value_is_wandbs_panel_shape() -> None:
    t = fluoro.Table(columns=["x", "y"], data=[[1, 2]])
    c = fluoro.plot_table("me/custom/v3", t, {"x": "x"}, {"title": "T"}, split_table=True)
    with pytest.raises(ValueError, match="no key yet"):
        _ = c.spec.table_key
    c.set_key("eval/chart")
    assert c.spec.table_key == "Custom Chart Tables/eval/chart_table"
    assert c.spec.config_key == ("_wandb", "visualize", "eval/chart")
    v = c.spec.config_value
    assert v["panel_type"] == "Vega2"
    pc = v["panel_config"]
    assert pc["panelDefId"] == "me/custom/v3" and pc["fieldSettings"] == {"x": "x"}
    assert pc["stringSettings"] == {"title": "T"}
    q = pc["userQuery"]["queryFields"][0]
    assert q["fields"][-1]["args"] == [{"name": "tableKey", "value": "Custom Chart Tables/eval/chart_table"}]
    json.dumps(v)


def test_numpy_inputs() -> None:
    np = pytest.importorskip("numpy")
    y = np.array([0, 1, 1, 0])
    probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1]])
    c = plot.confusion_matrix(probs=probs, y_true=y, class_names=["n", "p"])
    assert {(a, p): n for a, p, n in c.table.data}[("p", "n")] == 1
    r = plot.roc_curve(y, probs)
    assert {row[0] for row in r.table.data} == {0, 1}
    s = plot.line_series(np.arange(3), np.ones((2, 3)))
    assert len(s.table.data) == 6


# --- log() ----------------------------------------------------------------------


def test_log_stores_the_table_at_the_step_and_the_chart_in_the_config(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    run.log({"loss": 1.0})
    cm = plot.confusion_matrix(y_true=[0, 1, 1], preds=[0, 1, 0], class_names=["a", "b"])
    run.log({"val/cm": cm, "eval": {"roc": plot.roc_curve([0, 1, 1], [0.2, 0.9, 0.4]), "acc": 0.5}, "loss": 0.5})
    t = fluoro.Table(columns=["x", "y"], data=[[1, 2]])
    run.log({"mine": fluoro.plot_table("me/custom/v1", t, {"x": "x"}, split_table=True)})
    run.log({"val/cm": plot.confusion_matrix(y_true=[0, 1], preds=[0, 1], class_names=["a", "b"])})
    run.finish()
    h = fake.history(run.id)
    assert h[("val/cm_table", 1)]["_type"] == "table-file"
    assert h[("eval.roc_table", 1)]["_type"] == "table-file"
    assert h[("Custom Chart Tables/mine_table", 2)]["_type"] == "table-file"
    assert h[("val/cm_table", 3)]["path"] != h[("val/cm_table", 1)]["path"]
    assert h[("eval.acc", 1)] == 0.5 and h[("loss", 1)] == 0.5
    assert not any(k in ("val/cm", "eval.roc", "mine") for k, _ in h)  # the chart objects themselves are not values
    files = fake.run_files(run.id)
    table = json.loads(files[h[("val/cm_table", 1)]["path"]])
    assert table["columns"] == ["Actual", "Predicted", "nPredictions"]
    assert table["data"] == [["a", "a", 1], ["a", "b", 0], ["b", "a", 1], ["b", "b", 1]]
    vis = fake.run(run.id)["config"]["_wandb"]["visualize"]
    assert sorted(vis) == ["eval.roc", "mine", "val/cm"]
    assert vis["val/cm"]["panel_config"]["panelDefId"] == "wandb/confusion_matrix/v1"
    assert vis["eval.roc"]["panel_config"]["fieldSettings"] == {"x": "fpr", "y": "tpr", "class": "class"}
    q = vis["mine"]["panel_config"]["userQuery"]["queryFields"][0]["fields"][-1]
    assert q["args"][0]["value"] == "Custom Chart Tables/mine_table"
    assert run.config["_wandb"]["visualize"]["val/cm"] == vis["val/cm"]


def test_charts_keep_the_rest_of_the_wandb_config(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    run.config.update({"_wandb": {"mask/class_labels": {"k": {"1": "cat"}}}, "lr": 0.1})
    t = fluoro.Table(columns=["a", "b"], data=[[1, 2]])
    run.log({"s": plot.scatter(t, "a", "b")})
    run.log({"s": plot.scatter(t, "a", "b")})  # the same chart again: the config is not sent again
    run.finish()
    cfg = fake.run(run.id)["config"]
    assert cfg["lr"] == 0.1 and cfg["_wandb"]["mask/class_labels"] == {"k": {"1": "cat"}}
    assert list(cfg["_wandb"]["visualize"]) == ["s"]


def test_a_broken_chart_warns_and_the_row_goes_on(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)

    class Fake:
        _fluoro_chart = True
        table = "not a table"

        def set_key(self, key: str) -> None:
            pass

        class spec:  # noqa: N801 - the attribute wandb's charts have
            table_key = "x_table"

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        run.log({"x": Fake(), "loss": 1.0})
    run.finish()
    assert any("not a fluoro.Table" in str(m.message) for m in w if issubclass(m.category, FluoroWarning))
    assert fake.history(run.id)[("loss", 0)] == 1.0


def test_plot_is_imported_lazily(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    src = str(Path(__file__).resolve().parents[1] / "src")
    code = "import sys, fluoro; assert 'fluoro._plot' not in sys.modules; print(fluoro.plot.line.__name__)"
    env = dict(os.environ, PYTHONPATH=src)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "line"
