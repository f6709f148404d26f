"""Test helpers shipped with the package: small real networks and Block comparison.

Real simulations only: the networks here run on NEST through PyNN in a second or two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import neo
import numpy as np

from opsnn_lake.neo_convert import merge_blocks

__all__ = ["assert_blocks_equal", "nest_network_block"]


def nest_network_block(
    *, n_exc: int = 80, n_inh: int = 20, duration: float = 200.0, segments: int = 1, seed: int = 7
) -> neo.Block:
    """Run a small real PyNN network on NEST and return all recordings as one Block.

    IF_cond_exp excitatory and inhibitory cells (spikes, v, gsyn_exc, gsyn_inh on the
    excitatory cells; spikes and v of a PopulationView of the inhibitory ones), driven
    by a SpikeSourcePoisson and a SpikeSourceArray population (spikes recorded).
    With ``segments > 1`` the simulator is reset between runs (``sim.reset()``).
    """
    import pyNN.nest as sim

    sim.setup(timestep=0.1, min_delay=0.2, t_flush=50.0, rng_seed=seed)
    rng = sim.NumpyRNG(seed=seed)
    exc = sim.Population(n_exc, sim.IF_cond_exp(tau_m=20.0), label="exc")
    inh = sim.Population(n_inh, sim.IF_cond_exp(tau_m=20.0), label="inh")
    noise = sim.Population(20, sim.SpikeSourcePoisson(rate=80.0), label="noise")
    times = [np.arange(5.0, duration, 25.0 + 5 * i).tolist() for i in range(5)]
    pulses = sim.Population(5, sim.SpikeSourceArray(spike_times=times), label="pulses")
    conn = sim.FixedProbabilityConnector(0.2, rng=rng)
    for src, tgt, w, rec in [
        (noise, exc, 0.01, "excitatory"),
        (noise, inh, 0.01, "excitatory"),
        (pulses, exc, 0.02, "excitatory"),
        (exc, inh, 0.004, "excitatory"),
        (inh, exc, 0.02, "inhibitory"),
    ]:
        sim.Projection(src, tgt, conn, sim.StaticSynapse(weight=w, delay=0.5), receptor_type=rec)
    exc.record(["spikes", "v", "gsyn_exc", "gsyn_inh"])
    inh.record("spikes")
    inh[0:5].record("v")
    noise.record("spikes")
    pulses.record("spikes")
    for i in range(segments):
        if i:
            sim.reset()
        sim.run(duration)
    pops = {"exc": exc, "inh": inh, "noise": noise, "pulses": pulses}
    block = merge_blocks({label: pop.get_data() for label, pop in pops.items()}, name="test-net")
    sim.end()
    return block


def _signal_key(sig: Any) -> tuple:
    return (sig.name, sig.shape)


def assert_blocks_equal(a: neo.Block, b: neo.Block) -> None:
    """Assert two Blocks are equal as the run store promises (bitwise data, all metadata).

    Raises
    ------
    AssertionError
        Naming the segment, object and field that differ.
    """
    _same(
        a,
        b,
        "block",
        ("name", "description", "file_origin", "rec_datetime", "file_datetime", "index"),
    )
    assert _eq(a.annotations, b.annotations), (
        f"block annotations: {a.annotations} != {b.annotations}"
    )
    assert len(a.segments) == len(b.segments), "segment count differs"
    for i, (sa, sb) in enumerate(zip(a.segments, b.segments, strict=True)):
        where = f"segment {i}"
        _same(sa, sb, where, ("name", "description", "file_origin", "rec_datetime", "index"))
        assert _eq(sa.annotations, sb.annotations), f"{where} annotations differ"
        assert len(sa.spiketrains) == len(sb.spiketrains), f"{where}: spike train count differs"
        for j, (ta, tb) in enumerate(zip(sa.spiketrains, sb.spiketrains, strict=True)):
            w = f"{where}, spike train {j}"
            assert ta.dtype == tb.dtype, f"{w}: dtype {ta.dtype} != {tb.dtype}"
            assert ta.units == tb.units, f"{w}: units differ"
            assert _bitwise(ta.magnitude, tb.magnitude), f"{w}: spike times differ"
            assert ta.t_start == tb.t_start and ta.t_stop == tb.t_stop, (
                f"{w}: t_start/t_stop differ"
            )
            _same(ta, tb, w, ("name", "description", "file_origin"))
            assert ta.sampling_rate == tb.sampling_rate, f"{w}: sampling_rate differs"
            assert _eq(ta.annotations, tb.annotations), f"{w}: {ta.annotations} != {tb.annotations}"
            assert _eq(ta.array_annotations, tb.array_annotations), f"{w}: array_annotations differ"
        assert len(sa.analogsignals) == len(sb.analogsignals), f"{where}: signal count differs"
        for j, (ga, gb) in enumerate(zip(sa.analogsignals, sb.analogsignals, strict=True)):
            w = f"{where}, analog signal {j} ({ga.name!r})"
            assert ga.units == gb.units and ga.dtype == gb.dtype, f"{w}: units or dtype differ"
            assert _bitwise(ga.magnitude, gb.magnitude), f"{w}: values differ"
            assert ga.sampling_rate == gb.sampling_rate, f"{w}: sampling rate differs"
            assert ga.t_start == gb.t_start, f"{w}: t_start differs"
            _same(ga, gb, w, ("name", "description", "file_origin"))
            assert _eq(ga.annotations, gb.annotations), f"{w}: {ga.annotations} != {gb.annotations}"
            assert _eq(ga.array_annotations, gb.array_annotations), f"{w}: array_annotations differ"


def _same(a: Any, b: Any, where: str, attrs: Sequence[str]) -> None:
    for attr in attrs:
        va, vb = getattr(a, attr, None), getattr(b, attr, None)
        assert _eq(va, vb), f"{where}: {attr} {va!r} != {vb!r}"


def _bitwise(x: np.ndarray, y: np.ndarray) -> bool:
    return x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes()


def _eq(x: Any, y: Any) -> bool:
    """Equality that compares arrays elementwise (NaN equal to NaN) and recurses."""
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype.kind in "fc" or y.dtype.kind in "fc":
            return x.shape == y.shape and bool(np.array_equal(x, y, equal_nan=True))
        return x.shape == y.shape and bool(np.array_equal(x, y))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_eq(x[k], y[k]) for k in x)
    if isinstance(x, list | tuple) and isinstance(y, list | tuple):
        return (
            type(x) is type(y)
            and len(x) == len(y)
            and all(_eq(u, v) for u, v in zip(x, y, strict=True))
        )
    if isinstance(x, float) and isinstance(y, float) and x != x and y != y:
        return True
    return bool(x == y)
