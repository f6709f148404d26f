"""Other zarr implementations read every array of real stores, following docs/format.md.

tensorstore (C++) and zarrs (Rust, as zarr-python's codec pipeline in strict mode, so
it cannot fall back to Python codecs) open each array found by walking the store's
``zarr.json`` documents, with no codec registered by hand. The rules of
docs/format.md §3 (CF decoding) then give neo's values bitwise: spike times, signals,
the time coordinate, tonic events. Stores: a NEST run with four populations, spikes and
signals; a silent population; a tonic input; 10^6 spikes over several chunks.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import neo
import numpy as np
import pytest
import tensorstore as ts
import zarr

from opsnn_lake import Lake
from opsnn_lake import store as store_module
from opsnn_lake.ingest import ingest


def _arrays(root: Path) -> list[str]:
    """Every array of a store, by walking its metadata documents (format.md §1)."""
    found = []
    for doc in sorted(root.rglob("zarr.json")):
        if json.loads(doc.read_text())["node_type"] == "array":
            found.append(str(doc.parent.relative_to(root)))
    return found


def _tensorstore(root: Path, name: str) -> np.ndarray:
    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(root / name)}}
    return ts.open(spec, read=True).result().read().result()


def _zarrs(root: Path, name: str) -> np.ndarray:
    config = {"codec_pipeline.path": "zarrs.ZarrsCodecPipeline", "codec_pipeline.strict": True}
    with zarr.config.set(config):
        return zarr.open_array(zarr.storage.LocalStore(root / name, read_only=True), mode="r")[...]


def _decode(raw: np.ndarray, attrs: dict) -> np.ndarray:
    """docs/format.md §3: value = float64(stored) * scale_factor + add_offset (if present)."""
    if "scale_factor" not in attrs:
        return raw
    value = raw.astype(np.float64) * attrs["scale_factor"]
    if "add_offset" in attrs:
        value = value + attrs["add_offset"]
    return value


def _read_all(root: Path) -> dict[str, np.ndarray]:
    """Each array read by both readers (equal raw values), then decoded."""
    out = {}
    for name in _arrays(root):
        a, b = _tensorstore(root, name), _zarrs(root, name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name
        attrs = json.loads((root / name / "zarr.json").read_text())["attributes"]
        out[name] = _decode(a, attrs)
    return out


def _digest(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()


def _assert_neo_values(root: Path, block: neo.Block) -> None:
    """Spike times, signals and time coordinates decoded equal neo's, bitwise."""
    arrays = _read_all(root)
    attrs = json.loads((root / "zarr.json").read_text())["attributes"]
    for seg_name, seg in zip(attrs["segments"], block.segments, strict=True):
        groups = json.loads((root / seg_name / "zarr.json").read_text())["attributes"]
        pops = [f"{seg_name}/{p}" for p in groups.get("populations", [])]
        stored = [arrays[f"{g}/spike_time"] for g in pops if f"{g}/spike_time" in arrays]
        counts = [arrays[f"{g}/spike_count"] for g in pops if f"{g}/spike_count" in arrays]
        trains = [np.asarray(st.magnitude, dtype=np.float64) for st in seg.spiketrains]
        assert np.concatenate([np.zeros(0), *stored]).tobytes() == (
            np.concatenate([np.zeros(0), *trains]).tobytes()
        )
        assert np.concatenate([np.zeros(0, int), *counts]).tolist() == [t.size for t in trains]
        signals = {_digest(v) for k, v in arrays.items() if k.startswith(seg_name) and v.ndim == 2}
        for sig in seg.analogsignals:
            assert _digest(np.asarray(sig.magnitude)) in signals, sig.name
        for g in pops:  # the time coordinate is exactly i * sampling_period + t_start
            meta = json.loads((root / g / "zarr.json").read_text())["attributes"]
            for name in meta.get("signals", []):
                sig_attrs = json.loads((root / g / name / "zarr.json").read_text())["attributes"]
                dim = json.loads((root / g / name / "zarr.json").read_text())["dimension_names"][0]
                start = sig_attrs["t_start"]["__quantity__"]["value"]  # format.md §4
                n = arrays[f"{g}/{name}"].shape[0]
                expected = np.arange(n) * sig_attrs["sampling_period"]
                if float(start):
                    expected = expected + float(start)
                assert arrays[f"{g}/{dim}"].tobytes() == expected.tobytes()


def test_nest_run_reads_with_tensorstore_and_zarrs(tmp_path, nest_block):
    lake = Lake(tmp_path / "lake")
    run_id = lake.add(nest_block, model="net", parameters={}, seed=1)
    root = lake.store_path(run_id)
    assert any("/v" in a for a in _arrays(root)) and any(
        "inh/spike_time" in a for a in _arrays(root)
    )
    _assert_neo_values(root, lake.to_neo(run_id))
    _assert_neo_values(root, nest_block)  # and the block as added


def _silent_block() -> neo.Block:
    """A real NEST population without input: no spikes at all, a recorded v."""
    import pyNN.nest as sim

    from opsnn_lake.neo_convert import merge_blocks

    sim.setup(timestep=0.1, min_delay=0.2, rng_seed=3)
    quiet = sim.Population(6, sim.IF_cond_exp(), label="quiet")
    quiet.record(["spikes", "v"])
    sim.run(30.0)
    block = merge_blocks({"quiet": quiet.get_data()}, name="silent")
    sim.end()
    return block


def test_silent_population_reads_with_tensorstore_and_zarrs(tmp_path):
    block = _silent_block()
    lake = Lake(tmp_path / "lake")
    run_id = lake.add(block, model="silent", parameters={}, seed=3)
    root = lake.store_path(run_id)
    arrays = _read_all(root)
    assert arrays["segment000/quiet/spike_time"].shape == (0,)  # size 0: no chunk file
    assert not (root / "segment000/quiet/spike_time/c").exists()
    _assert_neo_values(root, lake.to_neo(run_id))


def _write_nmnist(path: Path, n: int, seed: int) -> dict[str, np.ndarray]:
    """An N-MNIST file in its own 5-byte format (as tests/test_tonic.py writes them)."""
    rng = np.random.default_rng(seed)
    ev = {
        "x": rng.integers(0, 34, n),
        "y": rng.integers(0, 34, n),
        "t": np.sort(rng.integers(0, 300_000, n)),
        "p": rng.integers(0, 2, n),
    }
    t = ev["t"].astype(np.uint32)
    raw = np.empty((n, 5), dtype=np.uint8)
    raw[:, 0], raw[:, 1] = ev["x"], ev["y"]
    raw[:, 2] = (ev["p"].astype(np.uint32) << 7) | ((t >> 16) & 0x7F)
    raw[:, 3], raw[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.tobytes())
    return ev


def test_tonic_input_reads_with_tensorstore_and_zarrs(tmp_path):
    folder = tmp_path / "NMNIST" / "Test"
    events = _write_nmnist(folder / "3" / "00001.bin", 800, seed=2)
    lake = Lake(tmp_path / "lake")
    report = ingest([folder], lake=lake, tonic="NMNIST", workers=1, progress=False)
    run_id = report.added[0].run_id
    root = lake.store_path(run_id)
    arrays = _read_all(root)
    sample = json.loads((root / "zarr.json").read_text())["attributes"]["tonic"]["samples"][0]
    for name in "xytp":
        np.testing.assert_array_equal(arrays[f"{sample}/{name}"], events[name])
    _assert_neo_values(root, lake.to_neo(run_id))


def test_million_spikes_over_several_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "CHUNK_BYTES", 2**20)  # several chunks, cheaply
    rng = np.random.default_rng(5)
    counts = rng.multinomial(1_000_000, np.full(1000, 1e-3))
    trains = [
        neo.SpikeTrain(np.sort(rng.integers(0, 100_000, c)) * 0.1, units="ms", t_stop=10_000.0)
        for c in counts
    ]
    block = neo.Block(name="million")
    seg = neo.Segment(name="s")
    seg.spiketrains.extend(trains)
    block.segments.append(seg)
    lake = Lake(tmp_path / "lake")
    run_id = lake.add(block, model="million", parameters={}, seed=0)
    root = lake.store_path(run_id)
    (group,) = {a.rpartition("/")[0] for a in _arrays(root) if a.endswith("spike_time")}
    n_chunks = len(list((root / group / "spike_time" / "c").iterdir()))
    assert n_chunks >= 3
    _assert_neo_values(root, block)


def test_schema_1_packed_arrays_are_what_tensorstore_refused():
    """The reproducer of issue 9: schema-1 spike times need numcodecs filters."""
    v1 = Path(__file__).parent / "fixtures" / "v1" / "lake" / "runs"
    root = next(p for p in sorted(v1.iterdir()) if p.name.startswith("fixture-net"))
    _tensorstore(root, "segment000/exc/spike_count")  # plain arrays were always portable
    with pytest.raises(ValueError, match="numcodecs"):
        _tensorstore(root, "segment000/exc/spike_time")
