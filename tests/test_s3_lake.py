"""Lakes on object storage: everything a local lake does, against a real S3 API server.

The server is moto's, started on 127.0.0.1 by ``tests/s3_server.py``; the NEST runs are
real. Each result is compared with the same operation on a local lake.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import obstore
import pytest

from opsnn_lake import Lake
from opsnn_lake import analysis as an
from opsnn_lake.errors import (
    CorruptStoreError,
    InvalidArgumentError,
    LakeReadOnlyError,
    NotALakeError,
    RunNotFoundError,
)
from opsnn_lake.neo_convert import block_to_nodes
from opsnn_lake.object_lake import ObjectLake
from opsnn_lake.provenance import Provenance
from opsnn_lake.storage.objects import ObjectLocation, parse_url


def _objects(url: str) -> dict[str, str]:
    """key → ETag of every object below ``url`` (what a read-only user must not change)."""
    root = parse_url(url)
    found = {}
    for chunk in obstore.list(root.store()):
        for meta in chunk:
            found[meta["path"]] = meta["e_tag"]
    return found


@pytest.fixture
def both(s3_url, tmp_path, nest_block, nest_block_two_segments):
    """The same three runs in an S3 lake and in a local lake."""
    remote, local = Lake(s3_url), Lake(tmp_path / "lake")
    for lake in (remote, local):
        for seed, g in ((1, 30.0), (2, 80.0)):
            lake.add(nest_block, model="net", parameters={"g_inh": g, "n_pop": 145}, seed=seed)
        lake.add(nest_block_two_segments, model="net", parameters={"g_inh": 50.0}, seed=9)
    return remote, local


@pytest.mark.parametrize(
    "url",
    ["gs://bucket/lake", "http://127.0.0.1/lake", "s3:/bucket/lake", "s3:bucket",
     "s3://B/lake", "s3://ab/../x", "file+s3://bucket/x"],
)  # fmt: skip
def test_unsupported_urls_are_refused_and_create_nothing(url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgumentError) as err:
        Lake(url)
    assert url in str(err.value) and "s3://bucket/prefix" in str(err.value)
    assert list(tmp_path.iterdir()) == []  # never a local folder "s3:" or "gs:"
    with pytest.raises(InvalidArgumentError):
        Lake(Path(url))  # a Path of a URL is no local folder either


def test_a_url_mangled_by_pathlib_is_refused(tmp_path):
    mangled = Path("s3://bucket/lake").absolute()  # /cwd/s3:/bucket/lake
    with pytest.raises(InvalidArgumentError, match="pathlib"):
        Lake(mangled)
    with pytest.raises(InvalidArgumentError, match="pathlib"):
        Lake(tmp_path / "gs:" / "lake")
    assert list(tmp_path.iterdir()) == []


def test_missing_bucket_and_foreign_prefix_are_clear_errors(s3_env, s3_bucket, tmp_path):
    with pytest.raises(NotALakeError, match="bucket 'no-such-bucket-x' does not exist"):
        Lake("s3://no-such-bucket-x/lake")
    obstore.put(parse_url(f"s3://{s3_bucket}/other").store(), "data.bin", b"theirs")
    with pytest.raises(NotALakeError, match="not an OpSNN lake"):
        Lake(f"s3://{s3_bucket}/other")
    with pytest.raises(NotALakeError, match="no lake here"):
        Lake(f"s3://{s3_bucket}/nothing", mode="r")
    with pytest.raises(InvalidArgumentError, match="s3:// lakes only"):
        Lake(tmp_path / "lake", storage_options={"region": "x"})


def test_storage_options_instead_of_environment(
    s3_env, s3_bucket, monkeypatch, tmp_path, nest_block
):
    for name in s3_env:
        monkeypatch.delenv(name)
    options = {
        "endpoint": s3_env["AWS_ENDPOINT_URL"],
        "access_key_id": "testing",
        "secret_access_key": "testing",
        "region": "us-east-1",
        "allow_http": True,
    }
    lake = Lake(f"s3://{s3_bucket}/lake", storage_options=options)
    assert isinstance(lake, ObjectLake) and len(lake) == 0
    run_id = lake.add(nest_block, model="net", parameters={"g": 1.0}, seed=1)
    assert Lake(f"s3://{s3_bucket}/lake", mode="r", storage_options=options).read_only
    # the catalog entry carries the URL and the options but no credentials: readers
    # give theirs in the environment
    import intake

    text = lake.write_catalog(tmp_path / "lake.yaml").read_text()
    assert "storage_options" in text and s3_env["AWS_ENDPOINT_URL"] in text
    assert "secret_access_key" not in text
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    cat = intake.open_catalog(str(tmp_path / "lake.yaml"))["lake"]
    assert list(cat) == [run_id]
    assert cat[run_id].to_dask()["segment000/exc"].spike_count.sum().compute() > 0


def test_add_search_open_to_neo_equal_a_local_lake(both, nest_block):
    remote, local = both
    assert isinstance(remote, ObjectLake) and type(local) is Lake
    ids = sorted(local.search().index)
    assert sorted(remote.search().index) == ids
    assert list(remote.search(g_inh=(40, 90)).index) == list(local.search(g_inh=(40, 90)).index)
    for run_id in ids:
        assert remote.provenance(run_id).parameters == local.provenance(run_id).parameters
        tree_r, tree_l = remote.open(run_id), local.open(run_id)
        assert tree_r.groups == tree_l.groups
        for group in tree_l.groups:
            ds_l = tree_l[group].to_dataset()
            for name, var in tree_r[group].to_dataset().variables.items():
                np.testing.assert_array_equal(var.values, ds_l[name].values)
        block_r, block_l = remote.to_neo(run_id), local.to_neo(run_id)
        trains_r = [st for seg in block_r.segments for st in seg.spiketrains]
        trains_l = [st for seg in block_l.segments for st in seg.spiketrains]
        assert len(trains_r) == len(trains_l)
        for a, b in zip(trains_r, trains_l, strict=True):
            np.testing.assert_array_equal(a.magnitude, b.magnitude)
    # a prefix resolves, the store is in the bucket, a second add changes nothing
    assert remote.resolve_run_id(ids[0][:-4]) == ids[0]
    assert isinstance(remote.store_path(ids[0]), ObjectLocation)
    before = _objects(remote.location)
    again = remote.add(nest_block, model="net", parameters={"g_inh": 30.0, "n_pop": 145}, seed=1)
    assert again in ids and _objects(remote.location) == before
    with pytest.raises(RunNotFoundError):
        remote.open("net-nope")


def test_fast_path_add_nodes_and_a_fresh_view(s3_url, nest_block):
    lake = Lake(s3_url)
    prov = Provenance(model="fast", parameters={"g": 1.5}, seed=3)
    run_id = lake.add_nodes(block_to_nodes(nest_block, where="test"), prov)
    assert lake.add(nest_block, model="fast", parameters={"g": 1.5}, seed=3) == run_id
    other = Lake(s3_url, mode="r")  # another process's view: built from the records
    assert list(other.search(g=1.5).index) == [run_id]
    assert other.has_run(run_id) and run_id in other and "fast-nope" not in other
    assert lake.store_path(run_id).exists()
    assert not lake.store_path("fast-0000").exists()


def test_view_follows_other_writers_and_the_snapshot(s3_url, nest_block):
    writer, reader = Lake(s3_url), Lake(s3_url, mode="r")
    first = writer.add(nest_block, model="net", parameters={"g": 1.0}, seed=1)
    assert len(reader) == 0
    assert reader.refresh() == [first] and len(reader) == 1
    assert writer.reindex() == 1  # compacts into index/snapshot.sqlite
    second = writer.add(nest_block, model="net", parameters={"g": 2.0}, seed=1)
    fresh = Lake(s3_url, mode="r")  # snapshot + the one record not in it
    assert sorted(fresh.search().index) == sorted([first, second])
    assert fresh.search(g=2.0).index.tolist() == [second]
    assert writer.sync() == [] and "index/snapshot.sqlite" in _objects(s3_url)


def test_read_only_never_writes(both):
    remote, _ = both
    url = remote.location
    before = _objects(url)
    lake = Lake(url, mode="r")
    lake.search(g_inh=30.0)
    run_id = lake.search().index[0]
    lake.open(run_id)["segment000/exc/spike_time"].compute()
    lake.to_neo(run_id)
    assert lake.check(deep=True).ok
    for write in (
        lambda: lake.add(remote.to_neo(run_id), model="x", seed=1),
        lambda: lake.reindex(),
        lambda: lake.check(repair=True),
        lambda: lake.sync(),
    ):
        with pytest.raises(LakeReadOnlyError):
            write()
    assert _objects(url) == before


def test_damaged_objects_raise_naming_run_array_chunk_and_repair_quarantines(both, nest_block):
    remote, _ = both
    run_id = remote.search(g_inh=30.0).index[0]
    store = remote.store_path(run_id)
    key = "segment000/exc/spike_time/c/0"
    data = bytearray(obstore.get(store.store(), key).bytes())
    data[len(data) // 2] ^= 0xFF
    obstore.put(store.store(), key, bytes(data))
    with pytest.raises(CorruptStoreError) as err:
        remote.to_neo(run_id)
    text = str(err.value)
    assert run_id in text and "segment000/exc/spike_time" in text and "'0'" in text
    assert "CRC-32C" in text
    obstore.delete(store.store(), "segment000/exc/spike_count/c/0")
    with pytest.raises(CorruptStoreError, match="chunk file is missing"):
        remote.open(run_id)["segment000/exc/spike_count"].compute()
    report = remote.check()
    assert list(report.damaged) == [run_id] and not report.ok
    repaired = remote.check(repair=True)
    assert run_id in repaired.quarantined and "quarantine/" in repaired.quarantined[run_id]
    assert run_id not in remote.search().index and run_id not in Lake(remote.location)
    assert remote.check(older_than=0).ok  # the quarantined data is kept, not a left-over
    again = remote.add(nest_block, model="net", parameters={"g_inh": 30.0, "n_pop": 145}, seed=1)
    assert again == run_id and remote.check(deep=True).ok


def test_edited_metadata_and_a_missing_manifest_are_corrupt(s3_url, nest_block):
    lake = Lake(s3_url)
    run_id = lake.add(nest_block, model="net", parameters={"g": 1.0}, seed=1)
    store = lake.store_path(run_id)
    root = json.loads(bytes(obstore.get(store.store(), "zarr.json").bytes()))
    entry = root["consolidated_metadata"]["metadata"]["segment000/exc/spike_time"]
    entry["attributes"]["scale_factor"] = 0.5
    obstore.put(store.store(), "zarr.json", json.dumps(root).encode())
    with pytest.raises(CorruptStoreError, match="changed after writing") as err:
        lake.open(run_id)
    assert run_id in str(err.value) and "segment000/exc/spike_time" in str(err.value)
    assert "segment000/exc/spike_time" in lake.check().damaged[run_id]
    obstore.delete(store.store(), "opsnn-manifest.json")
    with pytest.raises(CorruptStoreError, match="manifest"):
        lake.to_neo(run_id)


def test_catalog_of_an_s3_lake(both, tmp_path):
    import intake

    remote, local = both
    path = remote.write_catalog(tmp_path / "catalogs" / "lake.yaml")
    text = path.read_text()
    assert remote.location in text and "CATALOG_DIR" not in text
    cat = intake.open_catalog(str(path))["lake"]
    assert sorted(cat) == sorted(local.search().index)
    sub = cat.search(g_inh=(20, 90))
    ds = sub.to_dataset("segment000/exc", variables=["spike_count"])
    expected = local.write_catalog(tmp_path / "local.yaml")
    ds_local = intake.open_catalog(str(expected))["lake"].search(g_inh=(20, 90))
    ds_local = ds_local.to_dataset("segment000/exc", variables=["spike_count"])
    np.testing.assert_array_equal(ds.spike_count.values, ds_local.spike_count.values)
    entry = sub[sorted(sub)[0]]
    assert entry.to_dask()["segment000/exc"].spike_count.sum().compute() >= 0
    assert "run" in repr(cat)


def test_analyses_on_s3_equal_local(both):
    remote, local = both
    for stat in (an.firing_rate, an.isi_cv):
        got = stat(remote.search(), lake=remote).compute()
        want = stat(local.search(), lake=local).compute()
        np.testing.assert_allclose(got.values, want.values, rtol=1e-12, equal_nan=True)
    tree = an.firing_rate([remote.open(r) for r in remote.search().index]).compute()
    assert tree.size == got.size


def test_lazy_reads_in_worker_processes_go_straight_to_the_bucket(both):
    import dask

    remote, local = both
    run_id = remote.search().index[0]
    with dask.config.set(scheduler="processes", num_workers=2):
        # the stores and sources are pickled to the workers, which open their own client
        values = remote.open(run_id)["segment000/exc/spike_time"].compute().values
        rate = an.firing_rate(remote.search(), lake=remote).compute()
    np.testing.assert_array_equal(values, local.open(run_id)["segment000/exc/spike_time"].values)
    want = an.firing_rate(local.search(), lake=local).compute()
    np.testing.assert_allclose(rate.values, want.values, rtol=1e-12)


def test_cli_on_an_s3_lake(both, tmp_path, capsys):
    from opsnn_lake.cli import main

    remote, _ = both
    url = remote.location
    assert main(["ls", "--lake", url]) == 0
    assert "net-" in capsys.readouterr().out
    assert main(["check", "--lake", url, "--deep"]) == 0
    assert main(["reindex", "--lake", url]) == 0
    assert "indexed 3 runs" in capsys.readouterr().out
    assert main(["analyse", "--lake", url, "--stat", "rate", "-o", str(tmp_path / "r.nc")]) == 0
    assert main(["plot", "--lake", url, "stat", "--stat", "rate", "--x", "g_inh",
                 "-o", str(tmp_path / "rate.png")]) == 0  # fmt: skip
    assert (tmp_path / "rate.png").is_file()
    assert main(["catalog", "--lake", url, "-o", str(tmp_path / "cat.yaml")]) == 0


def test_ingest_into_an_s3_lake(s3_url, tmp_path, nest_block):
    from neo.io import PickleIO

    from opsnn_lake.cli import main

    data = tmp_path / "data"
    data.mkdir()
    PickleIO(str(data / "run.pkl")).write_block(nest_block)
    argv = ["ingest", str(data), "--lake", s3_url, "--trust-pickle", "--no-progress"]
    assert main([*argv, "--workers", "1"]) == 0
    lake = Lake(s3_url, mode="r")
    assert len(lake) == 1
    assert lake.check(deep=True).ok


def test_register_env_and_refresh_of_a_local_lake(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSNN_LAKE_REGISTER", "0")
    assert Lake(tmp_path / "lake").register is False
    monkeypatch.setenv("OPSNN_LAKE_REGISTER", "1")
    lake = Lake(tmp_path / "lake")
    assert lake.register is True and lake.refresh() == []
    assert Lake(tmp_path / "lake", register=False).register is False


def test_a_dead_writers_attempt_is_left_to_check(s3_url):
    # Attempts are not named by process: nothing is removed at once, nothing local made.
    assert Lake(s3_url).discard_unfinished("va-0", 12345) == []


def test_of_two_commits_of_one_run_exactly_one_wins(s3_url, nest_block):
    from opsnn_lake.storage.layout import ObjectLayout

    lake = Lake(s3_url)
    layout = ObjectLayout(lake.root)
    first, second = layout.new_attempt("net-x"), layout.new_attempt("net-x")
    records = [layout.record("net-x", a, {"run_id": "net-x"}, "0" * 64) for a in (first, second)]
    assert layout.commit("net-x", records[0]) is not None
    assert layout.commit("net-x", records[1]) is None  # If-None-Match: * refused it
    assert obstore.get(lake.root.store(), "runs/net-x.json").bytes() == records[0]


def test_check_cli_finds_and_repairs_an_uncommitted_attempt(s3_url, nest_block, capsys):
    from opsnn_lake import store
    from opsnn_lake.cli import main
    from opsnn_lake.storage.layout import ObjectLayout

    lake = Lake(s3_url)
    lake.add(nest_block, model="net", parameters={"g": 1.0}, seed=1)
    attempt = ObjectLayout(lake.root).new_attempt("net-orphan")  # a writer killed mid-way
    store.write_store(attempt, block_to_nodes(nest_block, where="t"), {"run_id": "net-orphan"})
    assert main(["check", "--lake", s3_url]) == 0  # younger than an hour: a live writer's
    assert main(["check", "--lake", s3_url, "--older-than", "0"]) == 1
    assert attempt.url in capsys.readouterr().out
    assert main(["check", "--lake", s3_url, "--repair", "--older-than", "0"]) == 0
    assert not attempt.exists()
    assert main(["check", "--lake", s3_url, "--older-than", "0"]) == 0
    assert len(Lake(s3_url, mode="r")) == 1


def test_local_staging_left_overs_can_wait_for_an_age(tmp_path):
    lake = Lake(tmp_path / "lake")
    orphan = lake.staging_dir / "net-x.999999999.abcd1234"  # a process that cannot exist
    orphan.mkdir()
    assert lake.check().staging_leftovers == [str(orphan)]
    assert lake.check(older_than=3600).staging_leftovers == []
    assert lake.check(repair=True, older_than=0).repaired and not orphan.exists()
