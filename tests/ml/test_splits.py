"""Purging and embargo, checked independently of the splitter (and against purgedcv)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.errors import InputError
from seriesfactory.ml.splits import (
    EMBARGO,
    PURGED,
    ROLES,
    TEST,
    TRAIN,
    UNUSED,
    CVSpec,
    make_splits,
    splits_table,
)


def _events(draw_lengths: list[int], gaps: list[int]) -> tuple[np.ndarray, np.ndarray]:
    t0 = np.cumsum(np.array(gaps, dtype=np.int64) + 1)
    t1 = t0 + np.array(draw_lengths, dtype=np.int64)
    return t0, t1


def _segments(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _check(t0: np.ndarray, t1: np.ndarray, spec: CVSpec) -> None:
    n = t0.size
    e = spec.embargo_rows(n)
    splits = make_splits(t0, t1, spec)
    tested = np.zeros(n, int)
    for s in splits:
        roles = s.roles
        assert set(np.unique(roles)) <= set(range(len(ROLES)))
        train, test = np.flatnonzero(roles == TRAIN), np.flatnonzero(roles == TEST)
        tested[test] += 1
        # 1. No training row's [t0, t1] meets any test row's [t0, t1] (brute force, closed).
        for i in train:
            assert not np.any((t0[i] <= t1[test]) & (t1[i] >= t0[test])), (s.fold, i)
        # 2. Nothing purged without cause: each purged row meets some test row's span.
        segs = _segments(roles == TEST)
        spans = [(t0[a], t1[a:b].max()) for a, b in segs]
        for i in np.flatnonzero(roles == PURGED):
            assert any(t0[i] <= hi and t1[i] >= lo for lo, hi in spans), (s.fold, i)
        # 3. Embargo: the e rows after each test span's last label end are not trained on,
        #    and every embargoed row is one of them.
        allowed: set[int] = set()
        for _lo, hi in spans:
            after = np.flatnonzero(t0 > hi)[:e]
            allowed |= set(after.tolist())
            if spec.scheme != "walk-forward":
                assert not np.any(roles[after] == TRAIN), (s.fold, after)
        assert set(np.flatnonzero(roles == EMBARGO).tolist()) <= allowed
        if spec.scheme == "walk-forward":
            assert train.size == 0 or train.max() < test.min()
            assert np.all(np.flatnonzero(roles == UNUSED) > test.max())
    if spec.scheme == "purged-kfold":
        assert np.all(tested == 1)  # every row is tested exactly once
    if spec.scheme == "cpcv":
        from math import comb

        assert len(splits) == comb(spec.folds, spec.test_groups)
        # each group is tested in C(N-1, k-1) splits
        assert np.all(tested == comb(spec.folds - 1, spec.test_groups - 1))


@settings(max_examples=80, deadline=None)
@given(
    st.integers(12, 60).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 12), min_size=n, max_size=n),
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
        )
    ),
    st.sampled_from(["purged-kfold", "walk-forward", "cpcv"]),
    st.integers(2, 5),
    st.sampled_from(["0", "2", "5%", "10%"]),
)
def test_no_training_row_overlaps_a_test_span(
    lg: tuple[list[int], list[int]], scheme: str, folds: int, embargo: str
) -> None:
    t0, t1 = _events(*lg)
    spec = CVSpec(scheme=scheme, folds=folds, embargo=embargo, test_groups=min(2, folds - 1))  # type: ignore[arg-type]
    _check(t0, t1, spec)


def test_purged_kfold_by_hand() -> None:
    # 10 rows at t = 0..9, each label ends 2 rows later (t1 = t0 + 2); 5 folds; embargo 1 row.
    t0 = np.arange(10)
    t1 = t0 + 2
    s = make_splits(t0, t1, CVSpec("purged-kfold", folds=5, embargo="1"))
    names = ["".join("TtPEU"[r] for r in x.roles) for x in s]
    # fold 1 tests rows 2-3 (span [2, 5]): rows 0-1 end at 2-3 -> purged; rows 4-5 start <= 5
    # -> purged; row 6 is the one embargoed row.
    assert names[1] == "PPttPPETTT"
    assert names[0] == "ttPPETTTTT"
    assert names[4] == "TTTTTTPPtt"


def test_walk_forward_and_cpcv_by_hand() -> None:
    t0 = np.arange(9)
    t1 = t0 + 1
    wf = make_splits(t0, t1, CVSpec("walk-forward", folds=2, embargo="0"))
    assert ["".join("TtPEU"[r] for r in x.roles) for x in wf] == ["TTPtttUUU", "TTTTTPttt"]
    cp = make_splits(t0, t1, CVSpec("cpcv", folds=3, embargo="0", test_groups=2))
    assert [x.groups for x in cp] == [(0, 1), (0, 2), (1, 2)]
    assert "".join("TtPEU"[r] for r in cp[1].roles) == "tttPTPttt"


def test_against_purgedcv_oracle() -> None:
    purgedcv = pytest.importorskip("purgedcv", reason="purgedcv (a test oracle) is not installed")
    pd = pytest.importorskip("pandas", reason="purgedcv needs pandas")
    rng = np.random.default_rng(7)
    for _ in range(20):
        n, k = 100, 5
        # Even t0, odd t1: no label end equals a start, so closed and half-open intervals agree.
        t0 = np.cumsum(rng.integers(1, 4, n)) * 2
        t1 = t0 + 2 * rng.integers(0, 15, n) + 1
        ours = make_splits(t0, t1, CVSpec("purged-kfold", folds=k, embargo="0"))
        cv = purgedcv.PurgedKFold(
            k,
            prediction_times=pd.Series(pd.to_datetime(t0, unit="s")),
            evaluation_times=pd.Series(pd.to_datetime(t1, unit="s")),
        )
        theirs = list(cv.split(np.zeros((n, 1))))
        for s, (tr, te) in zip(ours, theirs, strict=True):
            assert s.test.tolist() == sorted(te.tolist())
            assert s.train.tolist() == sorted(tr.tolist())


def test_splits_table_has_every_row_once_per_fold() -> None:
    t0 = np.arange(50)
    s = make_splits(t0, t0 + 3, CVSpec("cpcv", folds=4, embargo="1", test_groups=2))
    table = splits_table(s, "cpcv")
    assert table.num_rows == 6 * 50
    pairs = set(zip(table.column("fold").to_pylist(), table.column("row").to_pylist(), strict=True))
    assert pairs == set(itertools.product(range(6), range(50)))
    assert set(table.column("role").to_pylist()) <= set(ROLES)


def test_cv_spec_refuses_bad_values() -> None:
    with pytest.raises(InputError, match="--embargo"):
        CVSpec(embargo="1 day")
    with pytest.raises(InputError, match="--folds"):
        CVSpec(folds=1)
    with pytest.raises(InputError, match="--cv"):
        CVSpec(scheme="random")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="--test-groups"):
        CVSpec("cpcv", folds=3, test_groups=3)
    with pytest.raises(InputError, match="blocks"):
        make_splits(np.arange(3), np.arange(3), CVSpec(folds=5))
