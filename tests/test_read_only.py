"""Issue 9 item 5: a lake the process cannot write is read without writing anything.

The lake is shown on a read-only bind mount (real ``mount``; unmounted in the fixture's
teardown). An unprivileged user was tried too, but cannot run this venv's Python here.
"""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import intake
import pytest

from opsnn_lake import Lake
from opsnn_lake.cli import main
from opsnn_lake.errors import IndexMissingError, LakeReadOnlyError


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a digest of its bytes (and every directory)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return out


@pytest.fixture(scope="module")
def source(nest_block):
    """A lake with three real NEST runs and its catalog, in a folder others may read."""
    top = Path(tempfile.mkdtemp(prefix="opsnn-ro-"))
    os.chmod(top, 0o755)  # nobody must traverse it; mkdtemp makes it private
    try:
        lake = Lake(top / "src" / "lake")
        for g in (40.0, 50.0, 60.0):
            lake.add(nest_block, model="net", parameters={"g_inh": g}, seed=int(g))
        lake.write_catalog(top / "src" / "catalogs" / "lake.yaml")
        lake.index.close()
        for path in [top, *top.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def ro_mount(source):
    """``source/src`` bind-mounted read-only at ``source/ro``; always unmounted."""
    mnt = source / "ro"
    mnt.mkdir(exist_ok=True)
    subprocess.run(["mount", "--bind", str(source / "src"), str(mnt)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(mnt)], check=True)
        yield mnt
    finally:
        gc.collect()  # close SQLite connections the CLI left to the garbage collector
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode:
            subprocess.run(["umount", "--lazy", str(mnt)], check=True)  # still detaches
        mnt.rmdir()


def test_every_reader_works_on_a_read_only_mount(source, ro_mount, tmp_path, capsys):
    before = _snapshot(source / "src")
    lake = Lake(ro_mount / "lake", mode="r")
    assert len(lake) == 3
    run_id = lake.search(g_inh=50.0).index[0]
    assert lake.to_neo(run_id).segments[0].spiketrains
    tree = lake.open(run_id)
    assert tree.children
    with pytest.raises(LakeReadOnlyError, match=r"mode='r'"):
        lake.reindex()
    with pytest.raises(LakeReadOnlyError, match=r"may not write the lake.*mode='r'"):
        Lake(ro_mount / "lake")

    cat = intake.open_catalog(str(ro_mount / "catalogs" / "lake.yaml"))["lake"]
    sub = cat.search(g_inh=(45.0, 60.0))
    assert len(sub) == 2
    assert sub[run_id].to_dask() is not None

    lake_arg = ["--lake", str(ro_mount / "lake")]
    assert main(["ls", *lake_arg]) == 0
    assert "3 runs" in capsys.readouterr().out
    assert main(["check", *lake_arg]) == 0
    assert main(["analyse", *lake_arg, "--stat", "rate", "--population", "exc"]) == 0
    png = tmp_path / "raster.png"
    assert main(["plot", *lake_arg, "raster", run_id, "-o", str(png)]) == 0
    assert png.stat().st_size > 0
    capsys.readouterr()
    for command in (["reindex"], ["check", "--repair"]):
        assert main([*command, *lake_arg]) == 2
        err = capsys.readouterr().err
        assert "may not write the lake" in err and "mode='r'" in err
        assert "move the file away" not in err
    lake.index.close()
    cat.close()
    assert _snapshot(source / "src") == before  # no -wal, -shm, lock or staging file


def test_a_lost_index_is_reported_not_read_as_empty(tmp_path, nest_block, capsys):
    lake = Lake(tmp_path / "lake")
    lake.add(nest_block, model="net", parameters={"g_inh": 1.0}, seed=1)
    lake.index.close()
    db = lake.path / "index.sqlite"
    db.write_bytes(b"")  # 0 bytes: SQLite would read it as an empty database
    with pytest.raises(IndexMissingError, match=r"is empty \(0 bytes\).*1 store.*reindex"):
        Lake(lake.path, mode="r")
    assert main(["ls", "--lake", str(lake.path)]) == 2
    err = capsys.readouterr().err
    assert "opsnn-lake reindex" in err
    db.unlink()
    with pytest.raises(IndexMissingError, match=r"is missing"):
        intake.open_catalog(str(lake.write_catalog(tmp_path / "cat.yaml")))["lake"]
    assert main(["reindex", "--lake", str(lake.path)]) == 0
    assert len(Lake(lake.path, mode="r")) == 1
    # a new lake without runs has no index yet and reads as empty, writing nothing
    empty = Lake(tmp_path / "empty")
    empty.index.close()
    (empty.path / "index.sqlite").unlink()
    assert len(Lake(empty.path, mode="r")) == 0
    assert not (empty.path / "index.sqlite").exists()
