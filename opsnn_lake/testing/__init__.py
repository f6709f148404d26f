"""Test helpers shipped with the package: real networks, Block comparison, hypothesis strategies.

The compliance suites every source and simulator back-end passes,
:class:`~opsnn_lake.testing.suites.SourceTests` and
:class:`~opsnn_lake.testing.suites.BackendTests`, are in :mod:`opsnn_lake.testing.suites`
(importable from here too; they need pytest), and small real sample files of every
source are written by :mod:`opsnn_lake.testing.samples`.

Real simulations only: the networks here run on NEST through PyNN in a second or two.
The strategies (:func:`blocks`, :func:`annotation_values`, :func:`labels`) need
``hypothesis`` (a test dependency); it is imported when they are first used.
"""

# No ``from __future__ import annotations``: it would bind the name ``annotations``,
# which this module defines (the annotation-dict strategy).
from collections.abc import Sequence
from typing import Any

import neo
import numpy as np
import quantities as pq

from opsnn_lake.jsonable import units_string
from opsnn_lake.neo_convert import merge_blocks

__all__ = [
    "HOSTILE_LABELS",
    "BackendTests",
    "SourceTests",
    "annotation_values",
    "annotations",
    "assert_blocks_equal",
    "blocks",
    "labels",
    "nest_network_block",
    "values_equal",
]

# Labels that must be sanitised for paths and kept verbatim in attrs.
HOSTILE_LABELS = (
    "../x",
    "..",
    ".",
    "",
    "a/b\\c",
    "CON",
    "exc",
    "EXC",  # differs from "exc" only by case
    "x" * 300,
    "x" * 299 + "y",  # long and equal to the one above in its first 299 characters
    "ünïcødé ✓ 神経",
    " \t\n",
    "nul\x00byte",
    "zarr.json",  # a store's own file names
    "opsnn-manifest.json",
)


def nest_network_block(
    *, n_exc: int = 80, n_inh: int = 20, duration: float = 200.0, segments: int = 1, seed: int = 7
) -> neo.Block:
    """Run a small real PyNN network on NEST and return all recordings as one Block.

    IF_cond_exp excitatory and inhibitory cells (spikes, v, gsyn_exc, gsyn_inh on the
    excitatory cells; spikes and v of a PopulationView of the inhibitory ones), driven
    by a SpikeSourcePoisson and a SpikeSourceArray population (spikes recorded).
    With ``segments > 1`` the simulator is reset between runs (``sim.reset()``).

    Parameters
    ----------
    n_exc, n_inh : int
        Number of excitatory and inhibitory cells.
    duration : float
        Simulated time per segment (ms).
    segments : int
        Number of segments (runs separated by ``sim.reset()``).
    seed : int
        Seed of the simulator and of the connectivity.

    Returns
    -------
    neo.Block
        The four populations merged with :func:`~opsnn_lake.neo_convert.merge_blocks`.
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


# --------------------------------------------------------------------------- comparison


def assert_blocks_equal(a: neo.Block, b: neo.Block) -> None:
    """Assert two Blocks are equal as the run store promises (bitwise data, all metadata).

    Stricter than ``==``: values must have the same type (``int`` is not
    ``numpy.int64``, a tuple is not a list), arrays the same dtype and shape,
    quantities the same units, and floats the same bits (NaN equals NaN).

    Parameters
    ----------
    a, b : neo.Block
        The Blocks to compare (``a`` is usually the one given to the lake).

    Raises
    ------
    AssertionError
        Naming the segment, object and field that differ.
    """
    _same(a, b, "block", ("name", "description", "file_origin", "rec_datetime", "file_datetime"))
    _same(a, b, "block", ("index",))
    assert _eq(a.annotations, b.annotations), (
        f"block annotations: {a.annotations!r} != {b.annotations!r}"
    )
    assert len(a.segments) == len(b.segments), "segment count differs"
    for i, (sa, sb) in enumerate(zip(a.segments, b.segments, strict=True)):
        where = f"segment {i}"
        _same(sa, sb, where, ("name", "description", "file_origin", "rec_datetime", "index"))
        _same(sa, sb, where, ("file_datetime",))
        assert _eq(sa.annotations, sb.annotations), (
            f"{where} annotations: {sa.annotations!r} != {sb.annotations!r}"
        )
        _assert_data_equal(sa.spiketrains, sb.spiketrains, where, "spike train", _TRAIN_FIELDS)
        _assert_data_equal(
            sa.analogsignals, sb.analogsignals, where, "analog signal", _SIGNAL_FIELDS
        )


# What is compared beyond the values: quantities, then plain attributes.
_TRAIN_FIELDS = (
    ("t_start", "t_stop"),
    ("name", "description", "file_origin", "sampling_rate", "left_sweep"),
)
_SIGNAL_FIELDS = (("sampling_rate", "t_start"), ("name", "description", "file_origin"))


def _assert_data_equal(
    a: Sequence[Any], b: Sequence[Any], where: str, what: str, fields: tuple[tuple[str, ...], ...]
) -> None:
    """Spike trains or analog signals equal, pairwise: values, ``fields``, annotations."""
    quantities, attrs = fields
    assert len(a) == len(b), f"{where}: {what} count differs"
    for j, (x, y) in enumerate(zip(a, b, strict=True)):
        w = f"{where}, {what} {j} ({x.name!r})"
        assert _eq_quantity(x, y), f"{w}: values, dtype or units differ"
        for name in quantities:
            assert _eq_quantity(getattr(x, name), getattr(y, name)), (
                f"{w}: {name} {getattr(x, name)!r} differs"
            )
        _same(x, y, w, attrs)
        _same_annotations(x, y, w)


def _same_annotations(a: Any, b: Any, where: str) -> None:
    """Annotations and array_annotations of two data objects equal (``_eq``)."""
    assert _eq(a.annotations, b.annotations), f"{where}: {a.annotations!r} != {b.annotations!r}"
    assert _eq(dict(a.array_annotations), dict(b.array_annotations)), (
        f"{where}: array_annotations {a.array_annotations!r} != {b.array_annotations!r}"
    )


def _same(a: Any, b: Any, where: str, attrs: Sequence[str]) -> None:
    for attr in attrs:
        va, vb = getattr(a, attr, None), getattr(b, attr, None)
        assert _eq(va, vb), f"{where}: {attr} {va!r} != {vb!r}"


def _units(q: pq.Quantity) -> str:
    return units_string(q)


def _eq_quantity(x: Any, y: Any) -> bool:
    """Same units (as written), dtype, shape and bits (any NaN equal to any NaN)."""
    if not (isinstance(x, pq.Quantity) and isinstance(y, pq.Quantity)):
        return _eq(x, y)
    return _units(x) == _units(y) and _eq_array(x.magnitude, y.magnitude)


def _eq_array(x: np.ndarray, y: np.ndarray) -> bool:
    """Same dtype, shape and values; -0.0 is not 0.0, NaN equals NaN (whatever its payload)."""
    if x.dtype != y.dtype or x.shape != y.shape:
        return False
    if x.tobytes() == y.tobytes():
        return True
    if x.dtype.kind not in "fc":
        return bool(np.array_equal(x, y))
    parts = [(x.real, y.real), (x.imag, y.imag)] if x.dtype.kind == "c" else [(x, y)]
    for u, v in parts:
        nan = np.isnan(u)
        if not (nan == np.isnan(v)).all() or not np.array_equal(u[~nan], v[~nan]):
            return False
        if not (np.signbit(u[~nan]) == np.signbit(v[~nan])).all():
            return False
    return True


def values_equal(x: Any, y: Any) -> bool:
    """Type-strict equality of annotation values, as the store keeps them.

    Same type (``int`` is not ``numpy.int64``, a tuple not a list), arrays and
    quantities of the same dtype, shape and units, floats of the same value and sign
    (NaN equals NaN), containers recursively.

    Parameters
    ----------
    x, y : Any
        The values.

    Returns
    -------
    bool
        Whether the store would call them the same.
    """
    return _eq(x, y)


def _eq(x: Any, y: Any) -> bool:
    """Type-strict equality that compares arrays elementwise (NaN equal to NaN) and recurses."""
    if type(x) is not type(y):
        return False
    if isinstance(x, pq.Quantity):
        return _eq_quantity(x, y)
    if isinstance(x, np.ndarray):
        return _eq_array(x, y)
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(_eq(x[k], y[k]) for k in x)
    if isinstance(x, list | tuple):
        return len(x) == len(y) and all(_eq(u, v) for u, v in zip(x, y, strict=True))
    if isinstance(x, float | complex | np.generic):  # bits: NaN, NaT and -0.0 included
        return _eq_array(np.asarray(x), np.asarray(y))
    return bool(x == y)


# --------------------------------------------------------------------------- strategies


def _st() -> Any:
    import hypothesis.strategies as st

    return st


def labels() -> Any:
    """Strategy: population or segment labels, hostile ones included (or None)."""
    st = _st()
    return st.one_of(
        st.none(),
        st.sampled_from(HOSTILE_LABELS),
        st.text(max_size=12),
    )


def _scalars() -> Any:
    st = _st()
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(),  # NaN, infinities and -0.0 included
        st.text(max_size=8),
        st.binary(max_size=6),
        st.complex_numbers(allow_nan=False, max_magnitude=1e300),
        st.decimals(allow_nan=False, allow_infinity=False, places=3),
        st.datetimes(),
        st.dates(),
        st.times(),
        st.timedeltas(),
        st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)),
        st.builds(np.uint8, st.integers(0, 255)),
        st.builds(np.float32, st.floats(width=32)),
        st.builds(np.float64, st.floats()),
        st.builds(np.bool_, st.booleans()),
        st.builds(np.str_, st.text(max_size=4)),
        st.integers(-(2**40), 2**40).map(lambda k: np.datetime64(k, "ms")),
        st.integers(-(2**40), 2**40).map(lambda k: np.timedelta64(k, "us")),
        st.builds(np.complex64, st.floats(width=32, allow_nan=False, allow_infinity=False)),
        st.builds(
            pq.Quantity,
            st.floats(),
            st.sampled_from(["ms", "s", "mV", "nS", "Hz", "dimensionless", "1/s", "uV*ms"]),
        ),
        _arrays(),
    )


def _arrays() -> Any:
    st = _st()
    from hypothesis.extra import numpy as hnp

    dtypes = st.sampled_from(
        [
            np.int64,
            np.int32,
            np.uint16,
            np.float64,
            np.float32,
            np.bool_,
            "<U3",
            "|S2",
            np.complex128,
            "<M8[s]",
            "<m8[ms]",
        ]
    )
    return hnp.arrays(dtypes, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))


def annotation_values() -> Any:
    """Strategy: anything neo accepts as an annotation that the store must keep exactly."""
    st = _st()
    keys = st.one_of(st.text(max_size=6), st.sampled_from(["__tuple__", "__dict__", "units"]))
    return st.recursive(
        _scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.lists(inner, max_size=3).map(tuple),
            st.dictionaries(keys, inner, max_size=3),
        ),
        max_leaves=6,
    )


def annotations(*, max_size: int = 3) -> Any:
    """Strategy: an annotation dict (keys may look like the JSON tags of the store)."""
    st = _st()
    keys = st.one_of(
        st.text(max_size=8).filter(lambda k: k != "source_population"),
        st.sampled_from(
            ["__tuple__", "__ndarray__", "units", "channel_ids", "time", "v", "name", "index"]
        ),
    )
    return st.dictionaries(keys, annotation_values(), max_size=max_size)


def _per_train_annotations(draw: Any, n: int) -> list[dict[str, Any]]:
    """Annotations of ``n`` trains: shared keys of one type each (unit coordinates), odd ones."""
    st = _st()
    records: list[dict[str, Any]] = [{} for _ in range(n)]
    makers = {
        "int": st.integers(-(2**40), 2**40),
        "np.int64": st.builds(np.int64, st.integers(-(2**40), 2**40)),
        "float": st.floats(),
        "np.float32": st.builds(np.float32, st.floats(width=32)),
        "bool": st.booleans(),
        "str": st.text(max_size=4),
        "any": annotation_values(),
    }
    for key in draw(
        st.lists(
            st.sampled_from(["channel_id", "gid", "rate", "v", "unit_v", "time_v"]),
            max_size=3,
            unique=True,
        )
    ):
        kind = draw(st.sampled_from(sorted(makers)))
        for rec in records:
            if draw(st.integers(0, 9)):  # now and then a train lacks the key
                rec[key] = draw(makers[kind])
    for rec in records:
        rec.update(draw(annotations(max_size=1)))
    return records


def _train_times(draw: Any, *, t_start: float, t_stop: float, dtype: Any, grid: bool) -> np.ndarray:
    st = _st()
    n = draw(st.integers(0, 5))
    if grid:  # a simulator's time grid: multiples of a resolution (here 0.1)
        lo, hi = int(np.ceil(t_start * 10)), int(np.floor(t_stop * 10))
        k = draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)) if hi >= lo else []
        times = np.sort(np.array(k, dtype=np.int64)) * 0.1
    else:
        values = draw(
            st.lists(
                st.floats(t_start, t_stop, width=32 if dtype == np.float32 else 64), max_size=n
            )
        )
        times = np.sort(np.array(values, dtype=np.float64))
    times = times.astype(dtype)
    return times[(times >= dtype(t_start)) & (times <= dtype(t_stop))]


def _population_trains(draw: Any, label: str | None, n_trains: int) -> list[neo.SpikeTrain]:
    st = _st()
    units = draw(st.sampled_from(["ms", "s"]))
    dtype = draw(st.sampled_from([np.float64, np.float64, np.float32]))
    grid = draw(st.booleans())
    t_start = draw(st.sampled_from([0.0, 0.5, -20.0, 100.0]))
    t_stop = t_start + draw(st.sampled_from([0.0, 10.0, 1000.0]))
    per_train_bounds = draw(st.booleans())
    records = _per_train_annotations(draw, n_trains)
    trains = []
    for rec in records:
        start, stop = t_start, t_stop
        if per_train_bounds:
            start -= draw(st.sampled_from([0.0, 1.0]))
            stop += draw(st.sampled_from([0.0, 5.0]))
        times = _train_times(draw, t_start=start, t_stop=stop, dtype=dtype, grid=grid)
        arr_ann = {}
        if draw(st.booleans()):
            arr_ann["amplitude"] = np.arange(times.size, dtype=np.float64) * 0.5
        if draw(st.integers(0, 3)) == 0:
            arr_ann["tag"] = np.array(["a", "bc", "d", "e", "f"][: times.size])
        if draw(st.integers(0, 3)) == 0:
            arr_ann["count"] = np.arange(
                times.size, dtype=draw(st.sampled_from([np.int32, np.int64]))
            )
        st_ = neo.SpikeTrain(
            times,
            units=units,
            t_start=pq.Quantity(np.array(start, dtype=dtype), units),
            t_stop=pq.Quantity(np.array(stop, dtype=dtype), units),
            name=draw(st.one_of(st.none(), st.text(max_size=5))),
            description=draw(st.one_of(st.none(), st.text(max_size=5))),
            sampling_rate=draw(st.sampled_from([1.0 * pq.Hz, 10.0 * pq.kHz])),
            array_annotations=arr_ann or None,
        )
        st_.annotations.update(rec)  # directly: neo's annotate() would refuse nothing here
        if label is not None or draw(st.booleans()):
            st_.annotations["source_population"] = label
        trains.append(st_)
    return trains


def _signal(draw: Any, label: str | None) -> neo.AnalogSignal:
    st = _st()
    from hypothesis.extra import numpy as hnp

    n_time = draw(st.integers(0, 6))
    n_chan = draw(st.integers(0, 3))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    values = draw(hnp.arrays(dtype, (n_time, n_chan)))  # NaN and infinities included
    rate_hz = draw(st.sampled_from([1e-9, 0.1, 1000.0, 10000.0, 1e9])) * draw(
        st.sampled_from([1.0, 3.0, 0.7])
    )
    rate = pq.Quantity(rate_hz / 1000.0, "kHz") if draw(st.booleans()) else rate_hz * pq.Hz
    t_units = draw(st.sampled_from(["ms", "s"]))
    t_start = pq.Quantity(draw(st.sampled_from([0.0, 0.1, -5.0, 1e6])), t_units)
    sig = neo.AnalogSignal(
        values,
        units=draw(st.sampled_from(["mV", "nS", "pA", "dimensionless", "uS"])),
        sampling_rate=rate,
        t_start=t_start,
        name=draw(
            st.one_of(
                st.none(),
                st.sampled_from(
                    ["v", "gsyn_exc", "time", "spike_x", "time_v", "unit_v", "v_channel_ids"]
                ),
                st.text(max_size=6),
            )
        ),
        description=draw(st.one_of(st.none(), st.text(max_size=5))),
    )
    sig.annotations.update(draw(annotations(max_size=2)))
    if draw(st.booleans()):
        sig.annotations["channel_ids"] = np.arange(n_chan, dtype=np.int64) + draw(st.integers(0, 2))
    if draw(st.booleans()):
        sig.array_annotate(channel_index=np.arange(n_chan, dtype=np.int64))
    if draw(st.integers(0, 3)) == 0:
        sig.array_annotate(names=np.array([f"c{i}" for i in range(n_chan)], dtype="<U3"))
    if label is not None or draw(st.booleans()):
        sig.annotations["source_population"] = label
    return sig


def _fill_segment(
    draw: Any, seg: neo.Segment, max_populations: int, max_trains: int, max_signals: int
) -> None:
    """Draw a segment's populations: their trains and signals, maybe interleaved."""
    st = _st()
    pops = draw(st.lists(labels(), max_size=max_populations, unique=True))
    trains: list[neo.SpikeTrain] = []
    signals: list[neo.AnalogSignal] = []
    for label in pops:
        n = draw(st.integers(0, max_trains))
        trains += _population_trains(draw, label, n)
        signals += [_signal(draw, label) for _ in range(draw(st.integers(0, max_signals)))]
    if draw(st.booleans()):  # populations interleaved in the segment
        trains = draw(st.permutations(trains))
        signals = draw(st.permutations(signals))
    if trains:
        seg.spiketrains.extend(trains)
    if signals:
        seg.analogsignals.extend(signals)


def blocks(
    *, max_segments: int = 3, max_populations: int = 3, max_trains: int = 4, max_signals: int = 2
) -> Any:
    """Strategy: neo Blocks with everything the run store promises to keep.

    Segments (names None, duplicated or hostile), populations (``source_population``
    labels, hostile ones included, interleaved in the segment), spike trains (empty
    ones, zero or one unit, ms or s, float64 or float32, times on a 0.1 grid or not,
    per-train bounds, typed annotations, array_annotations), analog signals (float32
    or float64 values with NaN and infinities, sampling rates from 1e-9 Hz to 1 GHz,
    annotations and array_annotations) and annotations of every JSON-able kind.

    Parameters
    ----------
    max_segments, max_populations, max_trains, max_signals : int
        Size limits (per block, per segment, per population, per population).

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        Strategy producing :class:`neo.Block` objects.
    """
    st = _st()

    @st.composite
    def build(draw: Any) -> neo.Block:
        optional_text = st.one_of(st.none(), st.text(max_size=6))
        when = st.one_of(st.none(), st.datetimes())
        block = neo.Block(
            name=draw(optional_text),
            description=draw(optional_text),
            file_origin=draw(optional_text),
            file_datetime=draw(when),
            rec_datetime=draw(when),
        )
        block.annotations.update(draw(annotations()))
        seg_names = st.one_of(labels(), st.sampled_from(["seg", "seg", "segment000"]))
        for i in range(draw(st.integers(0, max_segments))):
            seg = neo.Segment(
                name=draw(seg_names),
                description=draw(optional_text),
                rec_datetime=draw(when),
                index=draw(st.one_of(st.none(), st.just(i))),
            )
            seg.annotations.update(draw(annotations(max_size=2)))
            _fill_segment(draw, seg, max_populations, max_trains, max_signals)
            block.segments.append(seg)
            seg.block = block
        return block

    return build()


def __getattr__(name: str) -> Any:
    """The compliance suites, imported on first use (they import pytest)."""
    if name in ("SourceTests", "BackendTests"):
        from opsnn_lake.testing import suites

        return getattr(suites, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
