"""Result tables: absolute figures, each peer's ratio to Fluoro, as Markdown and JSON.

A cell is a number, or a string saying why there is none ("did not finish in
60 s", "not installable: …", "n/a: no read API"). Ratios are peer ÷ Fluoro on
the same column, so for times and sizes a ratio above 1 means Fluoro is ahead.
"""

from __future__ import annotations

import json
import math
import pathlib
from dataclasses import asdict, dataclass, field

BASE = "fluoro"


@dataclass
class Table:
    workload: str
    shape: str
    columns: list[str]
    rows: dict[str, dict[str, object]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, peer: str, cells: dict[str, object]) -> None:
        self.rows[peer] = cells

    def fail(self, peer: str, why: str) -> None:
        """Give every column of `peer` the same reason (not installable, DNF, …)."""
        self.rows[peer] = {c: why for c in self.columns}


def ratio(value: object, base: object) -> float | None:
    if not isinstance(value, (int, float)) or not isinstance(base, (int, float)):
        return None
    if isinstance(value, bool) or base == 0 or math.isnan(value) or math.isnan(base):
        return None
    return value / base


def fmt(v: object) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int) or (v == int(v) and abs(v) >= 1000):
        return f"{int(v):,}"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 0.01 or a == 0:
        return f"{v:.2f}"
    return f"{v:.2g}"


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return ""
    return f" ({r:.2g}×)" if r < 10 else f" ({r:,.0f}×)"


def cell(peer: str, col: str, t: Table) -> str:
    v = t.rows[peer].get(col, "")
    base = t.rows.get(BASE, {}).get(col)
    r = None if peer == BASE else ratio(v, base)
    return fmt(v) + fmt_ratio(r)


def markdown(t: Table) -> str:
    lines = [f"## {t.workload}", "", t.shape, ""]
    lines.append("| peer | " + " | ".join(t.columns) + " |")
    lines.append("|---" * (len(t.columns) + 1) + "|")
    peers = sorted(t.rows, key=lambda p: (p != BASE, list(t.rows).index(p)))
    for p in peers:
        lines.append(f"| {p} | " + " | ".join(cell(p, c, t) for c in t.columns) + " |")
    if t.notes:
        lines.append("")
        lines.extend(f"- {n}" for n in t.notes)
    return "\n".join(lines) + "\n"


def as_json(t: Table) -> dict[str, object]:
    d = asdict(t)
    base = t.rows.get(BASE, {})
    d["ratios"] = {
        p: {c: ratio(v, base.get(c)) for c, v in cells.items()} for p, cells in t.rows.items() if p != BASE
    }
    return d


def write(out_dir: pathlib.Path, stem: str, meta: dict[str, object], tables: list[Table]) -> str:
    """Write `stem`.json and `stem`.md under out_dir; return the Markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    head = ["# Fluoro side-by-side benchmark", ""]
    head += [f"- **{k}**: {v}" for k, v in meta.items()]
    md = "\n".join(head) + "\n\n" + "\n".join(markdown(t) for t in tables)
    (out_dir / f"{stem}.md").write_text(md)
    doc = {"meta": meta, "tables": [as_json(t) for t in tables]}
    (out_dir / f"{stem}.json").write_text(json.dumps(doc, indent=1, default=str))
    return md
