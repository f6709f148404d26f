"""Review of the object lake: holes in publishing and repair, each shown against moto.

Faults are injected around the real S3 calls (the server and the stores are real): a
commit whose reply is lost, a commit that lands while ``check`` runs, a record written by
a newer version of the package.
"""

from __future__ import annotations

import json

import obstore
import pytest

from opsnn_lake import Lake
from opsnn_lake.cli import main
from opsnn_lake.errors import CorruptStoreError
from opsnn_lake.storage import objects
from opsnn_lake.storage.layout import ObjectLayout


def _add(lake: Lake, block, g: float) -> str:
    return lake.add(block, model="net", parameters={"g": g}, seed=1)


def test_catalog_cli_names_the_url_not_a_local_path(s3_url, nest_block, tmp_path, capsys):
    _add(Lake(s3_url), nest_block, 1.0)
    assert main(["catalog", "--lake", s3_url, "-o", str(tmp_path / "lake.yaml")]) == 0
    out = capsys.readouterr().out
    assert f"-> lake {s3_url}" in out and "s3:/" + s3_url[5:] not in out
    assert "not created yet" not in out


def test_repair_keeps_the_data_of_a_record_it_cannot_read(s3_url, nest_block):
    lake = Lake(s3_url)
    run_id = _add(lake, nest_block, 1.0)
    store = lake.store_path(run_id)
    key = ObjectLayout.record_key(run_id)
    record = json.loads(objects.get(lake.root, key) or b"")
    record["version"] = 99  # written by a newer opsnn_lake
    objects.put(lake.root, key, json.dumps(record).encode())
    report = lake.check(older_than=0)
    assert f"{s3_url}/{key}" in report.bad_stores and report.staging_leftovers == []
    lake.check(repair=True, older_than=0)
    assert store.exists() and objects.get(lake.root, key) is not None


def test_repair_spares_a_run_committed_while_it_lists(s3_url, nest_block, monkeypatch):
    lake, writer = Lake(s3_url), Lake(s3_url)
    _add(lake, nest_block, 1.0)
    listed = ObjectLayout.attempts
    committed = []

    def attempts_then_a_commit(self):
        found = listed(self)  # listed before the other writer's objects exist
        committed.append(_add(writer, nest_block, 2.0))
        return found

    with monkeypatch.context() as patch:  # (undo() would drop the AWS_* settings too)
        patch.setattr(ObjectLayout, "attempts", attempts_then_a_commit)
        report = lake.check(repair=True, older_than=0)
    assert committed[0] not in report.quarantined and report.rows_without_store == []
    assert committed[0] in Lake(s3_url, mode="r") and lake.check(older_than=0).ok


@pytest.mark.parametrize("lost", ["refused on retry", "connection reset"])
def test_a_commit_whose_reply_was_lost_keeps_its_data(s3_url, nest_block, monkeypatch, lost):
    lake = Lake(s3_url)
    real = ObjectLayout.commit

    def commit_reply_lost(self, run_id, record):
        real(self, run_id, record)  # the create landed, but the writer never heard so
        if lost == "connection reset":
            raise ConnectionResetError("connection reset by peer")
        return None  # a retried create: 412, the object exists (it is our own)

    with monkeypatch.context() as patch:
        patch.setattr(ObjectLayout, "commit", commit_reply_lost)
        run_id = _add(lake, nest_block, 1.0)
    fresh = Lake(s3_url, mode="r")
    assert run_id in fresh and fresh.check(deep=True, older_than=0).ok
    assert fresh.to_neo(run_id).segments[0].spiketrains


def test_the_manifest_must_be_the_one_the_record_names(s3_url, nest_block):
    lake = Lake(s3_url)
    run_id = _add(lake, nest_block, 1.0)
    store = lake.store_path(run_id)
    manifest = json.loads(bytes(obstore.get(store.store(), "opsnn-manifest.json").bytes()))
    manifest["written_by"] = "someone else"  # same digests, other bytes: not the commit's
    obstore.put(store.store(), "opsnn-manifest.json", json.dumps(manifest).encode())
    assert "manifest" in Lake(s3_url).check().damaged[run_id]
    with pytest.raises(CorruptStoreError, match="manifest"):
        Lake(s3_url, mode="r").open(run_id)


def test_an_endpoint_that_never_answers_fails_naming_the_url(s3_env, monkeypatch):
    import socket

    from opsnn_lake.errors import NotALakeError

    with socket.socket() as silent:  # accepts connections, never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        with pytest.raises(NotALakeError, match="cannot reach it") as err:
            Lake("s3://stalled/lake")
    assert "s3://stalled/lake" in str(err.value) and "AWS_ENDPOINT_URL" in str(err.value)


def test_a_catalog_never_holds_credentials(s3_env, s3_bucket, monkeypatch, tmp_path):
    import intake

    options = {
        "endpoint": s3_env["AWS_ENDPOINT_URL"],
        "access_key_id": "testing",
        "secret_access_key": "s3cr3t-never-in-yaml",
        "allow_http": True,
    }
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-never-in-yaml")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    lake = Lake(f"s3://{s3_bucket}/lake", storage_options=options)
    text = lake.write_catalog(tmp_path / "lake.yaml").read_text()
    assert "s3cr3t" not in text and "access_key_id" not in text
    assert s3_env["AWS_ENDPOINT_URL"] in text and "AWS_SECRET_ACCESS_KEY" in text
    cat = intake.open_catalog(str(tmp_path / "lake.yaml"))["lake"]  # credentials: AWS_*
    assert len(cat.search()) == 0
    entry_args = Lake(f"s3://{s3_bucket}/lake", storage_options=options)
    assert entry_args.root.storage_options["secret_access_key"] == "s3cr3t-never-in-yaml"


CONCURRENT_IO = """
import sys
from opsnn_lake.storage import objects
loc = objects.parse_url(sys.argv[1])
files = {f"k/{i:04d}": bytes([i % 256]) * 2048 for i in range(200)}
for _ in range(3):
    objects.put_many(loc, files)
    assert objects.get_many(loc, list(files)) == files
"""


def test_processes_doing_concurrent_io_exit_cleanly(s3_url):
    import subprocess
    import sys

    # Completions that tokio threads scheduled on an event loop while Python finalized
    # aborted one such process in three (SIGABRT after all its work was done).
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_IO, f"{s3_url}/io{i}"], stderr=subprocess.PIPE
        )
        for i in range(6)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]


def test_check_mends_a_commit_record_whose_row_differs_from_the_store(s3_url, nest_block):
    lake = Lake(s3_url)
    run_id = _add(lake, nest_block, 1.0)
    key = ObjectLayout.record_key(run_id)
    record = json.loads(objects.get(lake.root, key) or b"")
    record["row"]["p.g"] = 99.0  # what every fresh view would then find under g
    objects.put(lake.root, key, json.dumps(record).encode())
    assert Lake(s3_url, mode="r").search(g=99.0).index.tolist() == [run_id]
    lake.reindex()  # the view and the snapshot come from the stores: they agree
    assert Lake(s3_url, mode="r").search(g=1.0).index.tolist() == [run_id]
    report = lake.check()
    assert "99.0" in report.bad_rows[run_id]
    lake.check(repair=True)
    objects.delete_many(lake.root, [ObjectLayout.SNAPSHOT])  # views from the records alone
    assert Lake(s3_url, mode="r").search(g=1.0).index.tolist() == [run_id]
    assert lake.check().ok


def test_a_read_only_view_of_many_records_writes_no_snapshot(s3_url, nest_block):
    lake = Lake(s3_url)
    run_id = _add(lake, nest_block, 1.0)
    layout = ObjectLayout(lake.root)
    record = json.loads(objects.get(lake.root, ObjectLayout.record_key(run_id)) or b"")
    records = {}
    for i in range(520):  # more than a writable view compacts by itself
        other = f"net-{i:020d}"
        row = {**record["row"], "run_id": other, "p.g": float(i)}
        attempt = layout.new_attempt(other)
        records[ObjectLayout.record_key(other)] = layout.record(other, attempt, row, "0" * 64)
    objects.put_many(lake.root, records)
    before = objects.list_objects(lake.root)
    reader = Lake(s3_url, mode="r")
    assert len(reader) == 521 and reader.search(g=7.0).index.tolist() == ["net-" + "7".zfill(20)]
    assert objects.list_objects(lake.root) == before  # mode "r" wrote nothing
    assert len(Lake(s3_url)) == 521  # a writable view compacts them
    assert ObjectLayout.SNAPSHOT in objects.list_objects(lake.root)


@pytest.mark.parametrize("hostile", ["../x", "..", "a/../../b", "runs/x"])
def test_hostile_run_ids_are_not_found(s3_url, hostile):
    from opsnn_lake.errors import RunNotFoundError

    lake = Lake(s3_url)
    assert hostile not in lake and not lake.has_run(hostile)
    with pytest.raises(RunNotFoundError):
        lake.open(hostile)
