import gen


def test_rows_are_deterministic() -> None:
    a, b = gen.Rows(gen.KEYS20, 1), gen.Rows(gen.KEYS20, 1)
    assert [a.row(s) for s in range(50)] == [b.row(s) for s in range(50)]
    assert a.row(3) != gen.Rows(gen.KEYS20, 2).row(3)
    assert list(a.row(0)) == gen.KEYS20


def test_mix_is_deterministic_and_typed() -> None:
    a, b = gen.Mix(1000), gen.Mix(1000)
    assert [a.row(s) for s in range(100)] == [b.row(s) for s in range(100)]
    r = a.row(10)
    assert r["train/loss"] == gen.f32(r["train/loss"])
    assert isinstance(r["system/gpu"], int)
    assert r["val/acc"] * 10000 == round(r["val/acc"] * 10000)


def test_w6_and_runs_table() -> None:
    assert gen.w6_value(3, 77) == gen.w6_value(3, 77)
    assert gen.run_config(5) == gen.run_config(5)
    assert len(gen.run_config(5)) == 50 and len(gen.run_summary(5)) == 20
