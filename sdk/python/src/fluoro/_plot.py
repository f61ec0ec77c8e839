"""``fluoro.plot``, wandb's preset charts (``wandb.plot``): a Table plus the chart to draw from it.

    run.log({"val/cm": fluoro.plot.confusion_matrix(y_true=labels, preds=preds, class_names=names)})
    run.log({"val/roc": fluoro.plot.roc_curve(labels, probs)})

Each function returns a :class:`CustomChart`. ``log()`` stores its table
under ``<key>_table`` (``Custom Chart Tables/<key>_table`` with
``split_table=True``) as an ordinary table value at the row's step, and the
chart under the run config's ``_wandb.visualize.<key>``, the shapes the
official wandb client writes, so the UI draws either client's charts (see
docs/media.md, "Charts").

Standard library only: the curves are computed here (no scikit-learn or
pandas needed); numpy arrays, torch tensors and pandas Series are read
through ``tolist()``. Bad input raises ``ValueError`` or ``TypeError`` here,
at the call, with what to fix; ``log()`` itself never raises.
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ._errors import FluoroWarning
from ._media import Table

__all__ = [
    "CustomChart",
    "CustomChartSpec",
    "bar",
    "confusion_matrix",
    "histogram",
    "line",
    "line_series",
    "plot_table",
    "pr_curve",
    "roc_curve",
    "scatter",
]

SPLIT_SECTION = "Custom Chart Tables"


class CustomChartSpec:
    """Which preset (``spec_name``, e.g. ``wandb/line/v0``) draws the table, and how.

    ``fields`` maps the preset's fields to table columns, ``string_fields``
    holds its string constants (``title``, axis titles). ``key`` is the
    history key the chart is logged at, set by ``log()``.
    """

    def __init__(
        self,
        spec_name: str,
        fields: Dict[str, Any],
        string_fields: Dict[str, Any],
        key: str = "",
        panel_type: str = "Vega2",
        split_table: bool = False,
    ) -> None:
        self.spec_name = spec_name
        self.fields = fields
        self.string_fields = string_fields
        self.key = key
        self.panel_type = panel_type
        self.split_table = split_table

    @property
    def table_key(self) -> str:
        """The history key of the chart's table."""
        if not self.key:
            raise ValueError("the chart has no key yet: log it with run.log({key: chart})")
        name = self.key + "_table"
        return SPLIT_SECTION + "/" + name if self.split_table else name

    @property
    def config_value(self) -> Dict[str, Any]:
        """The panel definition wandb keeps in the run config, under ``_wandb.visualize.<key>``."""
        run_sets = [{"name": "runSets", "value": "${runSets}"}]
        table: Dict[str, Any] = {
            "name": "summaryTable",
            "args": [{"name": "tableKey", "value": self.table_key}],
            "fields": [],
        }
        fields: List[Dict[str, Any]] = [{"name": n, "fields": []} for n in ("id", "name", "_defaultColorIndex")] + [
            table
        ]
        return {
            "panel_type": self.panel_type,
            "panel_config": {
                "panelDefId": self.spec_name,
                "fieldSettings": dict(self.fields),
                "stringSettings": dict(self.string_fields),
                "transform": {"name": "tableWithLeafColNames"},
                "userQuery": {"queryFields": [{"name": "runSets", "args": run_sets, "fields": fields}]},
            },
        }

    @property
    def config_key(self) -> Tuple[str, str, str]:
        return ("_wandb", "visualize", self.key)

    def __repr__(self) -> str:
        return "CustomChartSpec(%r, fields=%r)" % (self.spec_name, self.fields)


class CustomChart:
    """A chart to pass to ``log()``: its data (a :class:`fluoro.Table`) and its spec."""

    _fluoro_chart = True  # log() recognises charts by this attribute

    def __init__(self, table: Table, spec: CustomChartSpec) -> None:
        self.table = table
        self.spec = spec

    def set_key(self, key: str) -> None:
        self.spec.key = key

    def __repr__(self) -> str:
        return "<CustomChart %s, %d rows>" % (self.spec.spec_name, len(self.table.data))


def plot_table(
    vega_spec_name: str,
    data_table: Table,
    fields: Dict[str, Any],
    string_fields: Optional[Dict[str, Any]] = None,
    split_table: bool = False,
) -> CustomChart:
    """A chart of ``data_table`` drawn by the preset ``vega_spec_name`` (wandb's ``plot_table``).

    The UI draws the presets this module's functions use (``wandb/line/v0``,
    ``wandb/scatter/v0``, ``wandb/bar/v0``, ``wandb/histogram/v0``,
    ``wandb/lineseries/v0``, ``wandb/confusion_matrix/v1``,
    ``wandb/area-under-curve/v0``); for any other it shows the table.
    """
    if not isinstance(data_table, Table):
        raise TypeError("plot_table: data_table must be a fluoro.Table, not %s" % type(data_table).__name__)
    if not isinstance(vega_spec_name, str) or not vega_spec_name:
        raise TypeError("plot_table: vega_spec_name must be a non-empty string such as 'wandb/line/v0'")
    if not isinstance(fields, dict):
        raise TypeError("plot_table: fields must be a dict of chart field -> table column")
    if string_fields is not None and not isinstance(string_fields, dict):
        raise TypeError("plot_table: string_fields must be a dict of name -> string")
    spec = CustomChartSpec(vega_spec_name, dict(fields), dict(string_fields or {}), split_table=bool(split_table))
    return CustomChart(data_table, spec)


def _columns(what: str, table: Any, **cols: Optional[str]) -> None:
    if not isinstance(table, Table):
        raise TypeError("%s: table must be a fluoro.Table, not %s" % (what, type(table).__name__))
    for field, col in cols.items():
        if col is None:
            continue
        if col not in table.columns:
            raise ValueError(
                "%s: %s=%r is not a column of the table; its columns are %r" % (what, field, col, table.columns)
            )


def line(
    table: Table, x: str, y: str, stroke: Optional[str] = None, title: str = "", split_table: bool = False
) -> CustomChart:
    """A line of column ``y`` against column ``x``; one line per value of column ``stroke``."""
    _columns("line", table, x=x, y=y, stroke=stroke)
    return plot_table("wandb/line/v0", table, {"x": x, "y": y, "stroke": stroke}, {"title": title}, split_table)


def scatter(table: Table, x: str, y: str, title: str = "", split_table: bool = False) -> CustomChart:
    """A point per row, column ``y`` against column ``x``."""
    _columns("scatter", table, x=x, y=y)
    return plot_table("wandb/scatter/v0", table, {"x": x, "y": y}, {"title": title}, split_table)


def bar(table: Table, label: str, value: str, title: str = "", split_table: bool = False) -> CustomChart:
    """A bar per row: column ``value``, named by column ``label``."""
    _columns("bar", table, label=label, value=value)
    return plot_table("wandb/bar/v0", table, {"label": label, "value": value}, {"title": title}, split_table)


def histogram(table: Table, value: str, title: str = "", split_table: bool = False) -> CustomChart:
    """The distribution of column ``value``, binned when drawn."""
    _columns("histogram", table, value=value)
    return plot_table("wandb/histogram/v0", table, {"value": value}, {"title": title}, split_table)


# --- inputs -------------------------------------------------------------------


def _list(what: str, x: Any) -> List[Any]:
    """A Python list from a list, tuple, numpy array, torch tensor or pandas Series."""
    if x is None:
        raise ValueError("%s is missing" % what)
    if hasattr(x, "tolist") and callable(x.tolist):
        got = x.tolist()
        return got if isinstance(got, list) else [got]
    if isinstance(x, (str, bytes)) or not isinstance(x, Iterable):
        raise TypeError("%s must be a sequence (list, numpy array, tensor), not %s" % (what, type(x).__name__))
    return list(x)


def _is_seq(x: Any) -> bool:
    return not isinstance(x, (str, bytes)) and (
        isinstance(x, (list, tuple)) or hasattr(x, "tolist") or hasattr(x, "__len__")
    )


def _number(what: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError("%s must hold numbers, found %r (%s)" % (what, v, type(v).__name__))
    f = float(v)
    if f != f:
        raise ValueError("%s holds NaN; drop those rows first" % what)
    return f


def line_series(
    xs: Any,
    ys: Any,
    keys: Optional[Sequence[str]] = None,
    title: str = "",
    xname: str = "x",
    split_table: bool = False,
) -> CustomChart:
    """Several lines on one chart: ``ys[i]`` against ``xs`` (shared) or ``xs[i]``, named ``keys[i]``."""
    ylists = [_list("line_series: ys[%d]" % i, y) for i, y in enumerate(_list("line_series: ys", ys))]
    xl = _list("line_series: xs", xs)
    if xl and all(_is_seq(x) for x in xl):
        xlists = [_list("line_series: xs[%d]" % i, x) for i, x in enumerate(xl)]
    else:
        xlists = [xl] * len(ylists)
    if len(xlists) != len(ylists):
        raise ValueError(
            "line_series: %d x-series for %d y-series; give one xs, or one per ys" % (len(xlists), len(ylists))
        )
    names = (
        ["line_%d" % i for i in range(len(ylists))]
        if keys is None
        else [str(k) for k in _list("line_series: keys", keys)]
    )
    if len(names) != len(ylists):
        raise ValueError("line_series: %d keys for %d y-series" % (len(names), len(ylists)))
    data = [[x, names[i], y] for i in range(len(ylists)) for x, y in zip(xlists[i], ylists[i])]
    table = Table(columns=["step", "lineKey", "lineVal"], data=data, allow_mixed_types=True)
    return plot_table(
        "wandb/lineseries/v0",
        table,
        {"step": "step", "lineKey": "lineKey", "lineVal": "lineVal"},
        {"title": title, "xname": xname},
        split_table,
    )


def _argmax(row: Any, i: int) -> int:
    vals = [_number("confusion_matrix: probs", v) for v in _list("confusion_matrix: probs[%d]" % i, row)]
    if not vals:
        raise ValueError("confusion_matrix: probs[%d] is empty" % i)
    return vals.index(max(vals))


def _sorted_labels(values: Iterable[Any]) -> List[Any]:
    try:
        return sorted(set(values))
    except TypeError:  # mixed types (ints and strings): by type name, then value
        return sorted(set(values), key=lambda v: (type(v).__name__, str(v)))


def confusion_matrix(
    probs: Any = None,
    y_true: Any = None,
    preds: Any = None,
    class_names: Optional[Sequence[str]] = None,
    title: str = "Confusion Matrix Curve",
    split_table: bool = False,
) -> CustomChart:
    """Counts of each (actual, predicted) class pair, drawn as a heatmap.

    Give the true labels and either the predicted labels (``preds``) or the
    class scores (``probs``, one row per example; the highest wins). With
    ``class_names``, labels are indices into it; without, the labels
    themselves name the classes.
    """
    if probs is not None and preds is not None:
        raise ValueError("confusion_matrix: give probs or preds, not both")
    if y_true is None:
        raise ValueError("confusion_matrix: y_true (the true labels) is missing")
    if probs is None and preds is None:
        raise ValueError("confusion_matrix: give preds (predicted labels) or probs (class scores)")
    truth = _list("confusion_matrix: y_true", y_true)
    if probs is not None:
        pred = [_argmax(row, i) for i, row in enumerate(_list("confusion_matrix: probs", probs))]
    else:
        pred = _list("confusion_matrix: preds", preds)
    if len(pred) != len(truth):
        raise ValueError("confusion_matrix: %d predictions for %d true labels" % (len(pred), len(truth)))
    if class_names is not None:
        names = [str(c) for c in _list("confusion_matrix: class_names", class_names)]
        for what, seq in (("y_true", truth), ("preds" if probs is None else "probs", pred)):
            for v in seq:
                if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < len(names):
                    raise ValueError(
                        "confusion_matrix: %s holds %r, which is not an index into class_names (0..%d)"
                        % (what, v, len(names) - 1)
                    )
        index = {i: i for i in range(len(names))}
    else:
        labels = _sorted_labels(truth + pred)
        names = [str(v) for v in labels]
        index = {v: i for i, v in enumerate(labels)}
    n = len(names)
    counts = [[0] * n for _ in range(n)]
    for t, p in zip(truth, pred):
        counts[index[t]][index[p]] += 1
    data = [[names[i], names[j], counts[i][j]] for i in range(n) for j in range(n)]
    return plot_table(
        "wandb/confusion_matrix/v1",
        Table(columns=["Actual", "Predicted", "nPredictions"], data=data),
        {"Actual": "Actual", "Predicted": "Predicted", "nPredictions": "nPredictions"},
        {"title": title},
        split_table,
    )


def _curve_inputs(
    what: str, y_true: Any, y_probas: Any, labels: Optional[Sequence[Any]], classes_to_plot: Optional[Sequence[Any]]
) -> List[Tuple[Any, List[float], List[bool]]]:
    """Per class to plot: its label, each example's score for it, and whether the example is of it."""
    truth = _list(what + ": y_true", y_true)
    rows = _list(what + ": y_probas", y_probas)
    if len(rows) != len(truth):
        raise ValueError("%s: %d rows of y_probas for %d labels in y_true" % (what, len(rows), len(truth)))
    if not truth:
        raise ValueError("%s: y_true is empty" % what)
    classes = _sorted_labels(truth)
    if rows and not _is_seq(rows[0]):
        # One score per example: binary, the score of the second (positive) class.
        if len(classes) > 2:
            raise ValueError("%s: y_probas has one score per example but y_true has %d classes" % (what, len(classes)))
        pos = [_number(what + ": y_probas", s) for s in rows]
        matrix = [[1.0 - s, s] for s in pos]
        if len(classes) == 1:
            raise ValueError("%s: y_true has a single class; a curve needs examples of two" % what)
    else:
        matrix = [
            [_number(what + ": y_probas", s) for s in _list(what + ": y_probas[%d]" % i, r)] for i, r in enumerate(rows)
        ]
        width = len(matrix[0])
        if any(len(r) != width for r in matrix):
            raise ValueError("%s: the rows of y_probas have different lengths" % what)
        if width < len(classes):
            raise ValueError(
                "%s: y_probas has %d columns but y_true has %d classes (column i scores the i-th smallest class)"
                % (what, width, len(classes))
            )
    wanted = None if classes_to_plot is None else set(_list(what + ": classes_to_plot", classes_to_plot))
    out = []
    for i, c in enumerate(classes):
        if wanted is not None and c not in wanted:
            continue
        label = c
        if labels is not None and isinstance(c, int) and not isinstance(c, bool):
            if not 0 <= c < len(labels):
                raise ValueError("%s: class %d has no entry in labels (%d names)" % (what, c, len(labels)))
            label = labels[c]
        out.append((label, [r[i] for r in matrix], [t == c for t in truth]))
    if not out:
        raise ValueError("%s: none of classes_to_plot %r occurs in y_true" % (what, classes_to_plot))
    return out


def _counts(scores: List[float], positive: List[bool]) -> Tuple[List[int], List[int]]:
    """Cumulative true and false positives at each distinct score, highest score first."""
    order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
    tps: List[int] = []
    fps: List[int] = []
    tp = fp = 0
    last = len(order) - 1
    for n, i in enumerate(order):
        if positive[i]:
            tp += 1
        else:
            fp += 1
        if n == last or scores[order[n + 1]] != scores[i]:
            tps.append(tp)
            fps.append(fp)
    return tps, fps


def _thin(points: List[Tuple[float, float]], most: int) -> List[Tuple[float, float]]:
    """At most ``most`` points, evenly spaced along the list, first and last kept."""
    if len(points) <= most:
        return points
    step = (len(points) - 1) / (most - 1)
    return [points[round(k * step)] for k in range(most)]


def _warn(msg: str) -> None:
    warnings.warn(msg, FluoroWarning, stacklevel=3)


def roc_curve(
    y_true: Any,
    y_probas: Any = None,
    labels: Optional[Sequence[Any]] = None,
    classes_to_plot: Optional[Sequence[Any]] = None,
    title: str = "ROC Curve",
    split_table: bool = False,
) -> CustomChart:
    """One ROC curve (true against false positive rate) per class, one against the rest.

    ``y_probas`` has a row per example and a column per class, the i-th
    column scoring the i-th smallest label of ``y_true``; for two classes a
    single score per example (of the larger label) will do. ``labels`` names
    integer classes.
    """
    per = _curve_inputs("roc_curve", y_true, y_probas, labels, classes_to_plot)
    most = max(2, Table.MAX_ROWS // len(per))
    data: List[List[Any]] = []
    for label, scores, positive in per:
        p = sum(positive)
        n = len(positive) - p
        if p == 0 or n == 0:
            _warn(
                "roc_curve: class %r has %s; its curve was left out"
                % (label, "no examples" if p == 0 else "every example")
            )
            continue
        tps, fps = _counts(scores, positive)
        pts = [(0.0, 0.0)] + [(f / n, t / p) for t, f in zip(tps, fps)]
        # keep the corners: a point on the straight line between its neighbours adds nothing
        keep = [pts[0]]
        for k in range(1, len(pts) - 1):
            (f0, t0), (f1, t1), (f2, t2) = keep[-1], pts[k], pts[k + 1]
            if (f1 - f0) * (t2 - t1) != (f2 - f1) * (t1 - t0):
                keep.append(pts[k])
        keep.append(pts[-1])
        data += [[label, round(f, 3), round(t, 3)] for f, t in _thin(keep, most)]
    if not data:
        raise ValueError("roc_curve: no class has both positive and negative examples")
    return _curves(
        ["class", "fpr", "tpr"], "fpr", "tpr", data, ("False positive rate", "True positive rate"), title, split_table
    )


def pr_curve(
    y_true: Any = None,
    y_probas: Any = None,
    labels: Optional[Sequence[Any]] = None,
    classes_to_plot: Optional[Sequence[Any]] = None,
    interp_size: int = 21,
    title: str = "Precision-Recall Curve",
    split_table: bool = False,
) -> CustomChart:
    """One precision-recall curve per class, one against the rest, at ``interp_size`` recall levels.

    The precision at recall r is the best precision at any recall >= r (the
    usual interpolation), as wandb draws it. Inputs as for :func:`roc_curve`.
    """
    if isinstance(interp_size, bool) or not isinstance(interp_size, int) or interp_size < 2:
        raise ValueError("pr_curve: interp_size must be an integer >= 2, got %r" % (interp_size,))
    per = _curve_inputs("pr_curve", y_true, y_probas, labels, classes_to_plot)
    size = min(interp_size, max(2, Table.MAX_ROWS // len(per)))
    grid = [(size - 1 - k) / (size - 1) for k in range(size)]  # recall levels, 1 down to 0
    data: List[List[Any]] = []
    for label, scores, positive in per:
        p = sum(positive)
        if p == 0:
            _warn("pr_curve: class %r has no examples; its curve was left out" % (label,))
            continue
        tps, fps = _counts(scores, positive)
        # (recall, precision) from the highest threshold down, recall rising; recall 0 has precision 1
        pts = [(0.0, 1.0)] + [(t / p, t / (t + f)) for t, f in zip(tps, fps)]
        best = 0.0
        k = len(pts) - 1
        for r in grid:  # falling recall: the best precision among points at or above it
            while k >= 0 and pts[k][0] >= r:
                best = max(best, pts[k][1])
                k -= 1
            data.append([label, round(best, 3), round(r, 3)])
    if not data:
        raise ValueError("pr_curve: no class in y_true has examples")
    return _curves(
        ["class", "precision", "recall"], "recall", "precision", data, ("Recall", "Precision"), title, split_table
    )


def _curves(
    columns: List[str], x: str, y: str, data: List[List[Any]], axes: Tuple[str, str], title: str, split_table: bool
) -> CustomChart:
    """The area-under-curve chart (ROC, PR) of rows of columns, a line per class; axes are the axis titles."""
    return plot_table(
        "wandb/area-under-curve/v0",
        Table(columns=columns, data=data),
        {"x": x, "y": y, "class": "class"},
        {"title": title, "x-axis-title": axes[0], "y-axis-title": axes[1]},
        split_table,
    )
