import pathlib

import w_live
import worker


def test_w8_counts() -> None:
    got = {"a": [0, 1, 2, 3, 3, 6], "b": [0, 2]}
    c = w_live._w8_counts(got, ["a", "b", "c"], last=4, old=2)
    # a: 4 missing (recent), 3 twice, 6 beyond; b: 1 missing (old), 3 and 4 (recent); c: nothing at all
    assert c == {"lost_old": 1 + 3, "lost_new": 1 + 2 + 2, "dup": 1, "beyond": 1}


def test_pct() -> None:
    xs = [float(i) for i in range(100)]
    assert w_live._pct(xs, 0.5) == 50
    assert w_live._pct(xs, 0.99) == 99
    assert w_live._pct([3.0], 0.99) == 3


def _frame(payloads: list[bytes], block: int = 32768) -> bytes:
    """LevelDB-log framing as wandb writes it (CRCs left zero: the reader does not check them)."""
    out = bytearray(b":W&B\xe1\xbe\x00")
    for p in payloads:
        first = True
        while True:
            left = block - len(out) % block
            if left < 7:
                out += b"\x00" * left
                continue
            n = min(len(p), left - 7)
            last = n == len(p)
            kind = (1 if last else 2) if first else (4 if last else 3)
            out += b"\x00" * 4 + n.to_bytes(2, "little") + bytes([kind]) + p[:n]
            p, first = p[n:], False
            if last:
                break
    return bytes(out)


def test_wandb_records(tmp_path: pathlib.Path) -> None:
    recs = [b"small", b"x" * 40000, b"y" * 70000, b"tail"]
    f = tmp_path / "run.wandb"
    f.write_bytes(_frame(recs) + b"\x00\x00\x00\x00\x09\x00\x01torn")  # a torn last record is ignored
    assert list(worker._wandb_records(f)) == recs
