"""Issue 9 item 4: whatever Provenance accepts, the index stores and searches.

One reproducer per defect of the issue (case-only names, integers >= 2**63, NUL and
lone surrogates, ~2000 distinct names), plus the typed search of issue 13.
"""

from __future__ import annotations

import neo
import numpy as np
import pytest
import quantities as pq

from opsnn_lake import Lake, SchemaError
from opsnn_lake.cli import main
from opsnn_lake.provenance import Provenance


def _block(seed: int = 0) -> neo.Block:
    block = neo.Block(name=f"b{seed}")
    seg = neo.Segment(name="seg")
    block.segments.append(seg)
    times = np.sort(np.random.default_rng(seed).uniform(0.0, 50.0, 4))
    seg.spiketrains.append(neo.SpikeTrain(times * pq.ms, t_stop=50 * pq.ms))
    return block


def _add(lake: Lake, seed_: int, /, **parameters) -> str:
    return lake.add(_block(seed_), model="m", parameters=parameters, seed=seed_)


def _after_reindex_and_check(lake: Lake) -> None:
    """The lake stays healthy: check is OK, reindex rebuilds the same rows."""
    before = lake.search()
    assert lake.check().ok
    assert lake.reindex() == len(before)
    after = lake.search()
    assert sorted(after.columns) == sorted(before.columns)
    assert after.astype(object).equals(before[after.columns].astype(object))


def test_names_differing_only_in_case_are_two_parameters(lake):
    a = _add(lake, 1, N=10, n=20)
    b = _add(lake, 2, N=11)
    assert lake.search(N=10).index.tolist() == [a]
    assert lake.search(n=20).index.tolist() == [a]
    assert sorted(lake.search(N=(10, 11)).index) == sorted([a, b])
    frame = lake.search()
    assert frame.loc[a, "N"] == 10 and frame.loc[a, "n"] == 20
    _after_reindex_and_check(lake)


def test_integers_beyond_64_bits_are_stored_and_searched_exactly(lake):
    big = 2**63
    a = _add(lake, 1, big=big, huge=10**400, neg=-(2**70))
    b = _add(lake, 2, big=big + 1, huge=1)
    assert lake.search(big=big).index.tolist() == [a]
    assert lake.search(big=big + 1).index.tolist() == [b]
    assert lake.search(huge=10**400).index.tolist() == [a]
    assert lake.search(neg=-(2**70)).index.tolist() == [a]
    frame = lake.search()
    assert frame.loc[a, "big"] == big and frame.loc[b, "big"] == big + 1
    assert frame.loc[a, "huge"] == 10**400  # exact, not a float
    assert sorted(lake.search(huge=(0, None)).index) == sorted([a, b])
    _after_reindex_and_check(lake)


def test_any_unicode_name_including_nul_quotes_and_sql(lake):
    names = ["a\x00b", 'quo"te', "drop table runs; --", "ñame", "名前", "seed", "🙂", "N"]
    run = _add(lake, 1, **{name: i for i, name in enumerate(names)})
    for i, name in enumerate(names):
        key = "p.seed" if name == "seed" else name  # bare "seed" is the fixed column
        assert lake.search(**{key: i}).index.tolist() == [run], name
    frame = lake.search()
    assert frame.loc[run, "a\x00b"] == 0
    assert frame.loc[run, "p.seed"] == 5  # a parameter named as a fixed column
    assert frame.loc[run, "seed"] == 1  # the fixed column
    _after_reindex_and_check(lake)


def test_thousands_of_distinct_parameter_names(lake):
    # SQLite's default column limit is 2000; 2,500 names across runs must still fit.
    runs = [_add(lake, s, **{f"x{s}_{i}": i for i in range(1250)}) for s in (1, 2)]
    assert len(lake.index.parameter_names()) == 2500
    assert lake.search(x2_1249=1249).index.tolist() == [runs[1]]
    assert lake.search(x1_7=(0, 10)).index.tolist() == [runs[0]]
    _after_reindex_and_check(lake)


@pytest.mark.parametrize(
    ("parameters", "seed", "message"),
    [
        ({"bad\udc80": 1}, 1, r"parameter name 'bad\\udc80' holds a lone surrogate"),
        ({"x": "v\ud800"}, 1, r"value of parameter 'x'.*lone surrogate"),
        ({"a": {"b": 1}, "a.b": 2}, 1, r"parameter 'a.b' is given twice"),
        ({"x": 1}, 2**64, r"seed 18446744073709551616 does not fit in 64 bits"),
    ],
)
def test_what_the_index_cannot_hold_is_refused_before_writing(lake, parameters, seed, message):
    with pytest.raises(SchemaError, match=message):
        Provenance(model="m", parameters=parameters, seed=seed)
    with pytest.raises(SchemaError, match=message):
        lake.add(_block(), model="m", parameters=parameters, seed=seed)
    assert list(lake.runs_dir.iterdir()) == [] and list(lake.staging_dir.iterdir()) == []
    assert len(lake) == 0 and lake.check().ok


def test_search_values_are_type_checked_against_the_column(lake, capsys):
    _add(lake, 1, g_inh=51.0, label="exc", flag=True)
    with pytest.raises(SchemaError, match=r"'g_inh' holds numbers, got '51' \(str\).*g_inh=51"):
        lake.search(g_inh="51")
    with pytest.raises(SchemaError, match=r"'label' holds strings, got 3"):
        lake.search(label=[3])
    with pytest.raises(SchemaError, match=r"'seed' holds numbers, got 'x'"):
        lake.search(seed="x")
    with pytest.raises(SchemaError, match=r"'g_inh' holds numbers, got 'a'"):
        lake.search(g_inh=("a", "z"))
    assert len(lake.search(g_inh=51, label="exc", flag=True)) == 1
    assert len(lake.search(g_inh=np.float64(51.0))) == 1
    assert main(["ls", "--lake", str(lake.path), "--where", "g_inh=abc"]) == 2
    err = capsys.readouterr().err
    assert "'g_inh' holds numbers, got 'abc'" in err and "no runs" not in err


def test_an_index_of_version_1_is_upgraded_by_a_writer_and_explained_to_readers(tmp_path):
    import sqlite3

    from opsnn_lake.errors import IndexVersionError

    lake = Lake(tmp_path / "lake")
    run_id = _add(lake, 1, g_inh=51.0, stim={"rate": 5.0})
    expected = lake.search()
    lake.index.close()
    db = lake.path / "index.sqlite"
    db.unlink()
    # the layout of index version 1: parameters as columns of `runs`
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('index_version', '1')")
        fixed = [c for c in expected.columns if c not in ("g_inh", "stim.rate")]
        columns = ", ".join(f'"{c}"' for c in ["run_id", *fixed, "p.g_inh", "p.stim.rate"])
        conn.execute(f"CREATE TABLE runs ({columns})")
        conn.execute("CREATE TABLE run_inputs (run_id TEXT, input_id TEXT)")
        row = expected.loc[run_id]
        values = [run_id, *(row[c] for c in fixed), row["g_inh"], row["stim.rate"]]
        values = [v.item() if hasattr(v, "item") else v for v in values]
        conn.execute(f"INSERT INTO runs VALUES ({', '.join('?' for _ in values)})", values)
    conn.close()
    with pytest.raises(IndexVersionError, match=r"version 1 predates.*opsnn-lake reindex"):
        Lake(lake.path, mode="r")
    upgraded = Lake(lake.path)
    pd_frame = upgraded.search(g_inh=51.0)
    assert pd_frame.index.tolist() == [run_id] and pd_frame.loc[run_id, "stim.rate"] == 5.0
    upgraded.index.close()
    assert Lake(lake.path, mode="r").search(stim__rate=5.0).index.tolist() == [run_id]
