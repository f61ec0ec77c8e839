import json
import pathlib

import report


def table() -> report.Table:
    t = report.Table("W9 storage", "1 run", ["bytes/point", "ingest s"])
    t.add("mlflow", {"bytes/point": 210.0, "ingest s": 12.5})
    t.add("fluoro", {"bytes/point": 3.5, "ingest s": 0.5})
    t.fail("aim", "not installable")
    return t


def test_ratio() -> None:
    assert report.ratio(10, 2) == 5
    assert report.ratio("did not finish in 60 s", 2) is None
    assert report.ratio(1, 0) is None
    assert report.ratio(True, 1) is None


def test_markdown_puts_fluoro_first_with_ratios() -> None:
    md = report.markdown(table())
    lines = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert lines[1].startswith("| fluoro | 3.50 | 0.50 |")
    assert "| mlflow | 210 (60×) | 12.5 (25×) |" in md
    assert "| aim | not installable | not installable |" in md


def test_fmt() -> None:
    assert report.fmt(1234567) == "1,234,567"
    assert report.fmt(0.000123) == "0.00012"
    assert report.fmt("n/a") == "n/a"


def test_write(tmp_path: pathlib.Path) -> None:
    md = report.write(tmp_path, "r", {"size": "smoke"}, [table()])
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["tables"][0]["ratios"]["mlflow"]["bytes/point"] == 60
    assert (tmp_path / "r.md").read_text() == md
