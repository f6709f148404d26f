"""Four processes add 100 runs each to one lake while a reader searches it.

The data in the runs does not matter here (small hand-made Blocks, run ids made
distinct by parameters); the processes, the files and the index are all real.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from opsnn_lake import Lake
from opsnn_lake.store import read_nodes

WRITERS = 4
RUNS_EACH = 100

WRITER = textwrap.dedent(
    """
    import sys
    import neo, numpy as np, quantities as pq
    from opsnn_lake import Lake

    lake_path, writer, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    lake = Lake(lake_path)
    rng = np.random.default_rng(writer)
    for i in range(n):
        block = neo.Block(name="b")
        seg = neo.Segment(name="seg")
        block.segments.append(seg)
        for n_spikes in (1 + i % 5, 3):
            t = np.sort(rng.uniform(0.0, 20.0, n_spikes))
            seg.spiketrains.append(neo.SpikeTrain(t * pq.ms, t_stop=20 * pq.ms))
        lake.add(block, model="conc", parameters={"writer": writer, "i": i}, seed=i)
    """
)

# The reader uses what notebook users use: the intake catalog over the live index.
READER = textwrap.dedent(
    """
    import json, sys, time
    from opsnn_lake.catalog import LakeCatalog
    from opsnn_lake.store import read_nodes

    lake_path, target = sys.argv[1], int(sys.argv[2])
    cat = LakeCatalog(lake_path)
    seen, counts, errors = set(), [], []
    print("ready", flush=True)
    deadline = time.monotonic() + 300
    while len(seen) < target and time.monotonic() < deadline:
        frame = cat.search(model="conc").to_dataframe()
        counts.append(len(frame))
        for run_id in frame.index:
            if run_id in seen:
                continue
            try:
                source = cat[run_id]
                nodes = read_nodes(source.path)  # every array, root attrs checked
                spikes = sum(
                    v.data.size for node in nodes.values()
                    for k, v in node.variables.items() if k == "spike_time"
                )
                if spikes != frame.loc[run_id, "n_spikes"]:
                    errors.append(f"{run_id}: {spikes} spikes, row says "
                                  f"{frame.loc[run_id, 'n_spikes']}")
            except Exception as err:  # report every failure, whatever its type
                errors.append(f"{run_id}: {type(err).__name__}: {err}")
            seen.add(run_id)
    print(json.dumps({"validated": len(seen), "counts": counts, "errors": errors}))
    """
)


def test_four_writers_and_a_reader(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.index.close()
    target = WRITERS * RUNS_EACH
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(lake.path), str(target)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "ready"
        writers = [
            subprocess.Popen([sys.executable, "-c", WRITER, str(lake.path), str(w), str(RUNS_EACH)])
            for w in range(WRITERS)
        ]
        codes = [w.wait(timeout=300) for w in writers]
        out, _ = reader.communicate(timeout=300)
    finally:
        reader.kill()
    assert codes == [0] * WRITERS
    result = json.loads(out.strip().splitlines()[-1])
    assert result["errors"] == []
    assert result["validated"] == target
    # the reader really read while the writers wrote
    assert any(0 < c < target for c in result["counts"])
    assert result["counts"] == sorted(result["counts"])  # rows only ever appear

    lake = Lake(tmp_path / "lake")
    assert len(lake) == target
    stores = sorted(lake.runs_dir.iterdir())
    assert len(stores) == target
    assert list(lake.staging_dir.iterdir()) == []
    assert lake.check().ok
    frame = lake.search(model="conc")
    pairs = set(zip(frame["writer"], frame["i"], strict=True))
    assert pairs == {(w, i) for w in range(WRITERS) for i in range(RUNS_EACH)}
    read_nodes(stores[0])
