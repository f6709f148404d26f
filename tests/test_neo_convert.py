"""neo ⇄ store nodes: real sPyNNaker and NEST Blocks, the lazy train list, layout corners."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import neo
import numpy as np
import pytest
import quantities as pq
import xarray as xr

from opsnn_lake import SchemaError
from opsnn_lake.neo_convert import (
    LazySpikeTrains,
    block_to_nodes,
    merge_blocks,
    nodes_to_block,
    time_scale,
)
from opsnn_lake.testing import assert_blocks_equal

SPINNAKER_SCRIPT = Path(__file__).with_name("spinnaker_run.py")


# --------------------------------------------------------------------------- sPyNNaker


@pytest.fixture(scope="module")
def spinnaker_blocks(tmp_path_factory) -> dict[str, neo.Block]:
    """Blocks of a real PyNN run on sPyNNaker's virtual board (in its own process)."""
    work = tmp_path_factory.mktemp("spinnaker")
    (work / "spynnaker.cfg").write_text(
        "[Machine]\nvirtual_board = True\nversion = 5\n\n"
        f"[Reports]\ndefault_report_file_path = {work / 'spinn_reports'}\n\n"
        "[Logging]\ndefault = warning\n"
    )
    # sPyNNaker wants exactly one user config besides the local one; an empty one in a
    # private XDG_CONFIG_HOME keeps it from writing ~/.spynnaker.cfg.
    (work / "xdg").mkdir()
    (work / "xdg" / ".spynnaker.cfg").write_text("")
    env = {**os.environ, "XDG_CONFIG_HOME": str(work / "xdg")}
    done = subprocess.run(
        [sys.executable, str(SPINNAKER_SCRIPT), str(work)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"sPyNNaker run failed:\n{done.stdout}\n{done.stderr}"
    return {
        label: neo.io.PickleIO(str(work / f"{label}.pkl")).read_block()
        for label in ("exc", "noise")
    }


def test_spinnaker_blocks_round_trip(lake, spinnaker_blocks):
    for label, block in spinnaker_blocks.items():
        back = lake.to_neo(lake.add(block, simulator="spinnaker", where=f"{label}.pkl"))
        assert_blocks_equal(block, back)
        # What sPyNNaker annotates, with its types.
        assert back.annotations["last_index"] == block.annotations["last_index"]
        assert type(back.annotations["last_index"]) is tuple
        assert back.annotations["simulator"].startswith("sPyNNaker")
        assert back.annotations["simulator"] == block.annotations["simulator"]
    exc = spinnaker_blocks["exc"]
    assert exc.annotations["last_index"] == (50,)  # the case this test exists for
    seg = exc.segments[0]
    assert len(seg.spiketrains) == 50 and sum(st.size for st in seg.spiketrains) == 0
    (v,) = seg.analogsignals
    assert v.shape == (0, 50)
    back_v = lake.to_neo(lake.add(exc)).segments[0].analogsignals[0]
    assert isinstance(back_v.annotations["source_ids"], list)
    assert all(type(i) is np.int64 for i in back_v.annotations["source_ids"])
    assert back_v.annotations["channel_names"].dtype == v.annotations["channel_names"].dtype


def test_spinnaker_populations_merged_round_trip(lake, spinnaker_blocks):
    merged = merge_blocks(spinnaker_blocks, name="virtual board")
    back = lake.to_neo(lake.add(merged))
    assert_blocks_equal(merged, back)
    assert back.annotations["populations"]["exc"]["last_id"] == (50,)


# --------------------------------------------------------------------------- NEST


def test_nest_nodes_round_trip_without_a_store(nest_block_two_segments):
    back = nodes_to_block(block_to_nodes(nest_block_two_segments))
    assert_blocks_equal(nest_block_two_segments, back)


# --------------------------------------------------------------------------- lazy list


def _two_population_block(interleaved: bool) -> neo.Block:
    block = neo.Block()
    seg = neo.Segment()
    trains = [
        neo.SpikeTrain(
            [1.0 + i, 5.0 + i] * pq.ms,
            t_stop=20 * pq.ms,
            source_population="ab"[i % 2 if interleaved else i // 3],
            channel_id=np.int64(i),
        )
        for i in range(6)
    ]
    seg.spiketrains.extend(trains)
    block.segments.append(seg)
    return block


@pytest.mark.parametrize("interleaved", [False, True])
def test_lazy_list_answers_len_and_multiplexed_from_arrays(interleaved):
    block = _two_population_block(interleaved)
    trains = nodes_to_block(block_to_nodes(block)).segments[0].spiketrains
    assert isinstance(trains, LazySpikeTrains)
    assert len(trains) == 6 and not trains.is_materialised
    ids, times = trains.multiplexed
    assert not trains.is_materialised
    want_ids, want_times = block.segments[0].spiketrains.multiplexed
    assert np.array_equal(ids, want_ids)
    assert np.array_equal(times.magnitude, want_times.magnitude)
    assert trains.t_start == 0 * pq.ms and trains.t_stop == 20 * pq.ms
    assert not trains.is_materialised
    assert [st.annotations["channel_id"] for st in trains] == list(range(6))
    assert trains.is_materialised


def test_lazy_list_behaves_as_a_list_when_edited():
    trains = nodes_to_block(block_to_nodes(_two_population_block(False))).segments[0].spiketrains
    extra = neo.SpikeTrain([2.0] * pq.ms, t_stop=20 * pq.ms)
    trains.append(extra)  # builds the trains first
    assert len(trains) == 7 and trains[6] is extra
    ids, _ = trains.multiplexed  # recomputed from the trains, not the stale arrays
    assert ids.size == 13
    assert trains.pop() is extra
    trains.clear()
    assert len(trains) == 0


def _channel(st: neo.SpikeTrain) -> int:
    return int(st.annotations["channel_id"])


def _probe() -> neo.SpikeTrain:
    return neo.SpikeTrain([] * pq.ms, t_stop=20 * pq.ms)


# List methods neo's ObjectList runs on ``_items`` directly: each must build the trains
# first. (``count``, ``index``, ``remove`` and ``in`` compare trains with ``==``, which
# neo's SpikeTrains answer elementwise: unusable on any neo list, lazy or not.)
LIST_CALLS = {
    "insert": lambda trains: trains.insert(0, _probe()) or len(trains) == 7,
    "pop": lambda trains: _channel(trains.pop()) == 5 and len(trains) == 5,
    "sort": lambda trains: trains.sort(key=lambda st: -_channel(st)) or _channel(trains[0]) == 5,
    "reverse": lambda trains: trains.reverse() or _channel(trains[0]) == 5,
    "extend": lambda trains: trains.extend([_probe()]) or len(trains) == 7,
    "setitem": lambda trains: trains.__setitem__(0, _probe()) or trains[0].size == 0,
}


@pytest.mark.parametrize("call", list(LIST_CALLS))
def test_lazy_list_methods_build_the_trains_first(call):
    trains = nodes_to_block(block_to_nodes(_two_population_block(True))).segments[0].spiketrains
    assert not trains.is_materialised
    assert LIST_CALLS[call](trains)
    assert trains.is_materialised


def test_lazy_blocks_pickle_and_copy(tmp_path):
    block = _two_population_block(True)
    back = nodes_to_block(block_to_nodes(block))
    assert_blocks_equal(block, copy.deepcopy(back))
    neo.io.PickleIO(str(tmp_path / "b.pkl")).write_block(back)
    assert_blocks_equal(block, neo.io.PickleIO(str(tmp_path / "b.pkl")).read_block())


def test_empty_segment_has_an_empty_train_list():
    block = neo.Block()
    block.segments.append(neo.Segment())
    trains = nodes_to_block(block_to_nodes(block)).segments[0].spiketrains
    assert len(trains) == 0
    ids, times = trains.multiplexed
    assert ids.size == 0 and times.size == 0


# --------------------------------------------------------------------------- layout corners


def test_python_scalar_annotations_keep_their_type(lake):
    block = neo.Block()
    seg = neo.Segment()
    for i in range(3):
        seg.spiketrains.append(
            neo.SpikeTrain(
                [1.0] * pq.ms, t_stop=2 * pq.ms, source_id=i, weight=0.5 * i, exc=bool(i % 2)
            )
        )
    block.segments.append(seg)
    back = lake.to_neo(lake.add(block))
    for st in back.segments[0].spiketrains:
        assert type(st.annotations["source_id"]) is int
        assert type(st.annotations["weight"]) is float
        assert type(st.annotations["exc"]) is bool
    assert_blocks_equal(block, back)


def test_trains_do_not_share_annotation_containers():
    block = neo.Block()
    seg = neo.Segment()
    seg.spiketrains.extend(  # a list: neo's extend() drops a generator's items
        [
            neo.SpikeTrain([1.0] * pq.ms, t_stop=2 * pq.ms, tags=["a"], meta={"k": [1]})
            for _ in range(2)
        ]
    )
    block.segments.append(seg)
    first, second = nodes_to_block(block_to_nodes(block)).segments[0].spiketrains
    first.annotations["tags"].append("b")
    first.annotations["meta"]["k"].append(2)
    assert second.annotations == {"tags": ["a"], "meta": {"k": [1]}}


def test_names_colliding_with_dimensions_stay_readable_by_xarray(lake):
    """Signals named like the dims other signals need ("time_v", "unit_v") and annotation
    keys named like signals: every variable and dim name stays distinct."""
    block = neo.Block()
    seg = neo.Segment()
    seg.spiketrains.extend(
        [
            neo.SpikeTrain([1.0] * pq.ms, t_stop=9 * pq.ms, v=np.int64(i), unit_v=np.int64(i))
            for i in range(3)
        ]
    )

    def sig(name, n_time, n_chan, rate):
        return neo.AnalogSignal(
            np.ones((n_time, n_chan)), units="mV", sampling_rate=rate * pq.kHz, name=name
        )

    seg.analogsignals.extend(
        [sig("time_v", 4, 3, 1.0), sig("v", 5, 2, 2.0), sig("unit_v", 5, 2, 2.0), sig("v", 4, 1, 1)]
    )
    block.segments.append(seg)
    run_id = lake.add(block)
    tree = xr.open_datatree(lake.store_path(run_id), engine="zarr")
    ds = tree[tree.attrs["segments"][0]].children
    (group,) = ds.values()
    assert len(group.dataset.data_vars) >= 4
    assert_blocks_equal(block, lake.to_neo(run_id))


def test_merge_blocks_refuses_different_segment_counts():
    one = neo.Block()
    one.segments.append(neo.Segment())
    with pytest.raises(SchemaError, match=r"different segment counts \{'a': 1, 'b': 0\}"):
        merge_blocks({"a": one, "b": neo.Block()})


def test_block_to_nodes_refuses_what_is_not_a_block():
    with pytest.raises(SchemaError, match=r"expected a neo\.Block, got str"):
        block_to_nodes("run.pkl")


@pytest.mark.parametrize(
    ("times", "scale"),
    [
        (np.arange(5) * 100 * 0.001, 0.001),  # NEST: tics of 0.001 ms
        (np.arange(5) * 0.1, 0.1),  # steps of 0.1, as multiples of 0.1 (not of 0.001)
        (np.array([1e-7, 3e-7]), None),  # below every candidate resolution
        (np.array([0.1234567891234]), None),  # off every grid
        (np.array([], dtype=float), None),
        (np.array([1.0, np.nan]), None),
        (np.array([1, 2], dtype=np.float32), None),  # float32 is never packed
    ],
)
def test_time_scale_packs_only_what_decodes_bitwise(times, scale):
    assert time_scale(times) == scale
    if scale is not None:
        k = np.rint(times / scale)
        assert (k * scale).tobytes() == times.tobytes()
