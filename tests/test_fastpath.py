"""The NEST fast path writes exactly what the neo route writes."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from opsnn_lake import Lake, SchemaError
from opsnn_lake.fastpath import neo_route_block, nest_nodes
from opsnn_lake.provenance import Provenance
from opsnn_lake.testing import assert_blocks_equal


def _network(sim, n=120):
    sim.setup(timestep=0.1, min_delay=0.5, rng_seed=3)
    rng = sim.NumpyRNG(seed=3)
    cells = sim.Population(n, sim.IF_cond_exp(), label="cells")
    exc, inh = cells[: n * 4 // 5], cells[n * 4 // 5 :]
    noise = sim.Population(30, sim.SpikeSourcePoisson(rate=60.0), label="noise")
    pulses = sim.Population(
        3, sim.SpikeSourceArray(spike_times=[[3.0, 50.0], [], [7.5]]), label="p"
    )
    conn = sim.FixedProbabilityConnector(0.2, rng=rng)
    sim.Projection(noise, cells, conn, sim.StaticSynapse(weight=0.02, delay=0.5))
    sim.Projection(pulses, cells, conn, sim.StaticSynapse(weight=0.05, delay=0.5))
    sim.Projection(
        inh, cells, conn, sim.StaticSynapse(weight=0.02, delay=0.5), receptor_type="inhibitory"
    )
    cells.record("spikes")
    exc[0:3].record(["v", "gsyn_exc"])
    noise.record("spikes")
    pulses.record("spikes")
    sim.run(150.0)
    return {"exc": exc, "inh": inh, "noise": noise, "pulses": pulses}


def _arrays(path):
    group = zarr.open_group(path, mode="r")
    return {name: np.asarray(arr[...]) for name, arr in group.arrays()} | {
        f"{gname}/{name}": value
        for gname, sub in group.groups()
        for name, value in _arrays(f"{path}/{gname}").items()
    }


def test_fast_path_equals_neo_route_array_by_array(tmp_path):
    import pyNN.nest as sim

    pops = _network(sim)
    assert sim.get_current_time() == pytest.approx(150.0)
    fast = nest_nodes(pops, sim)
    block = neo_route_block(pops)
    sim.end()
    lake = Lake(tmp_path / "lake")
    fast_id = lake.add_nodes(fast, Provenance(model="fast", parameters={}))
    neo_id = lake.add(block, model="neo", parameters={})
    a, b = _arrays(lake.store_path(fast_id)), _arrays(lake.store_path(neo_id))
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert a[name].tobytes() == b[name].tobytes(), name
    assert any(name.endswith("exc/spike_time") and a[name].size > 0 for name in a)
    # The stores agree in their metadata too, timestamps apart.
    fast_tree, neo_tree = lake.open(fast_id), lake.open(neo_id)
    for path in ("segment000/exc", "segment000/inh", "segment000/noise", "segment000/pulses"):
        assert fast_tree[path].attrs["spiketrains"] == neo_tree[path].attrs["spiketrains"]
    assert_blocks_equal(lake.to_neo(neo_id), block)
    fast_block = lake.to_neo(fast_id)
    for st_fast, st_neo in zip(
        fast_block.segments[0].spiketrains, block.segments[0].spiketrains, strict=True
    ):
        assert st_fast.annotations == st_neo.annotations
        assert st_fast.magnitude.tobytes() == st_neo.magnitude.tobytes()


def test_fast_path_refuses_multi_segment_runs():
    import pyNN.nest as sim

    sim.setup(timestep=0.1, min_delay=0.5, t_flush=10.0)
    cells = sim.Population(5, sim.IF_cond_exp(i_offset=1.0), label="cells")
    cells.record("spikes")
    sim.run(20.0)
    sim.reset()
    sim.run(20.0)
    with pytest.raises(SchemaError, match="earlier segments"):
        nest_nodes({"cells": cells}, sim)
    sim.end()
