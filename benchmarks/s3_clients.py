"""Benchmark: obstore vs fsspec/s3fs against one S3 API server (moto on 127.0.0.1).

Which client an S3 lake uses (issue 10: "choose the client for speed and say why").
Side by side in one run, on the same server and bucket:

1. put of ``--objects`` small objects (``--size`` bytes each), one after another;
2. the same puts concurrently (obstore: blocking puts from 32 threads, as the lake
   makes them; s3fs: ``pipe`` of a dict, which s3fs batches concurrently);
3. get of those objects concurrently (obstore: 32 threads; s3fs: ``cat`` of a list);
4. listing of those keys (obstore: ``list``; s3fs: ``find`` with its cache dropped);
5. a zarr v3 array of ``--chunks`` chunks written once, then read whole through
   ``zarr.storage.ObjectStore`` (obstore) and ``zarr.storage.FsspecStore`` (s3fs).

Each figure is the best of ``--repeat`` runs; ratios are s3fs time / obstore time (> 1:
obstore faster). s3fs pins aiobotocore/botocore versions that can fight the ones moto
needs, so run it from a separate environment::

    python3.11 -m venv /tmp/s3fs-venv
    /tmp/s3fs-venv/bin/pip install s3fs obstore 'moto[server]' zarr numpy
    /tmp/s3fs-venv/bin/python benchmarks/s3_clients.py

Without s3fs it says how to install it and measures obstore alone. moto is a Python
server on the same cores: it bounds both columns (a real endpoint adds latency per
request, which favours whichever client keeps more requests in flight).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import obstore
import zarr
from obstore.store import S3Store

CONCURRENCY = 32  # requests in flight, as opsnn_lake.storage.objects keeps them
INSTALL = (
    "s3fs is not installed here; measuring obstore alone. For the comparison:\n"
    "  python3.11 -m venv /tmp/s3fs-venv\n"
    "  /tmp/s3fs-venv/bin/pip install s3fs obstore 'moto[server]' zarr numpy\n"
    "  /tmp/s3fs-venv/bin/python benchmarks/s3_clients.py"
)


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """A moto S3 server on a free port of 127.0.0.1 (the one next to this Python)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"moto_server ({exe}) did not start on 127.0.0.1:{port}")


def best(fn: Callable[[], Any], repeat: int) -> float:
    """The shortest of ``repeat`` timings of ``fn()``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


class ObstoreClient:
    """The calls an S3 lake makes, through obstore."""

    name = "obstore"

    def __init__(self, endpoint: str, bucket: str) -> None:
        self.bucket = bucket
        self.config = {
            "endpoint": endpoint,
            "access_key_id": "testing",
            "secret_access_key": "testing",
            "region": "us-east-1",
        }
        self.store = self._store(None)

    def _store(self, prefix: str | None) -> S3Store:
        return S3Store(
            self.bucket,
            prefix=prefix,
            config=self.config,  # type: ignore[arg-type]
            client_options={"allow_http": True},
        )

    def put_sequential(self, files: dict[str, bytes]) -> None:
        for key, data in files.items():
            obstore.put(self.store, key, data)

    def put_concurrent(self, files: dict[str, bytes]) -> None:
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda item: obstore.put(self.store, *item), files.items()))

    def get_concurrent(self, keys: list[str]) -> list[bytes]:
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            return list(pool.map(lambda k: bytes(obstore.get(self.store, k).bytes()), keys))

    def list_keys(self, prefix: str) -> list[str]:
        return [m["path"] for chunk in obstore.list(self.store, prefix) for m in chunk]

    def zarr_store(self, prefix: str, *, read_only: bool) -> Any:
        return zarr.storage.ObjectStore(self._store(prefix), read_only=read_only)


class S3fsClient:
    """The same calls through fsspec/s3fs."""

    name = "s3fs"

    def __init__(self, endpoint: str, bucket: str) -> None:
        import s3fs

        self.bucket = bucket
        self.options = {
            "key": "testing",
            "secret": "testing",
            "endpoint_url": endpoint,
            "client_kwargs": {"region_name": "us-east-1"},
        }
        self.fs = s3fs.S3FileSystem(**self.options)

    def put_sequential(self, files: dict[str, bytes]) -> None:
        for key, data in files.items():
            self.fs.pipe_file(f"{self.bucket}/{key}", data)

    def put_concurrent(self, files: dict[str, bytes]) -> None:
        self.fs.pipe({f"{self.bucket}/{k}": v for k, v in files.items()})

    def get_concurrent(self, keys: list[str]) -> list[bytes]:
        got = self.fs.cat([f"{self.bucket}/{k}" for k in keys])
        return [got[f"{self.bucket}/{k}"] for k in keys]

    def list_keys(self, prefix: str) -> list[str]:
        self.fs.invalidate_cache()
        return [p[len(self.bucket) + 1 :] for p in self.fs.find(f"{self.bucket}/{prefix}")]

    def zarr_store(self, prefix: str, *, read_only: bool) -> Any:
        return zarr.storage.FsspecStore.from_url(
            f"s3://{self.bucket}/{prefix}", storage_options=self.options, read_only=read_only
        )


BUCKET = f"clients-{uuid.uuid4().hex[:8]}"


def measure(client: Any, args: argparse.Namespace) -> dict[str, float]:
    """Seconds for each operation with one client (its own key prefix)."""
    rng = np.random.default_rng(0)
    base = f"{client.name}/{uuid.uuid4().hex[:6]}"
    payload = rng.bytes(args.size)

    def files(tag: str) -> dict[str, bytes]:
        return {f"{base}/{tag}/{i:05d}": payload for i in range(args.objects)}

    out = {}
    counter = iter(range(10**6))
    out["put, one after another"] = best(
        lambda: client.put_sequential(files(f"seq{next(counter)}")), args.repeat
    )
    out["put, concurrent"] = best(
        lambda: client.put_concurrent(files(f"con{next(counter)}")), args.repeat
    )
    client.put_concurrent(files("read"))
    keys = list(files("read"))
    got = client.get_concurrent(keys)
    assert got == [payload] * len(keys), f"{client.name}: read back other bytes"
    out["get, concurrent"] = best(lambda: client.get_concurrent(keys), args.repeat)
    listed = client.list_keys(f"{base}/read")
    assert sorted(listed) == sorted(keys), f"{client.name}: listed {len(listed)} keys"
    out["list"] = best(lambda: client.list_keys(f"{base}/read"), args.repeat)
    out.update(zarr_read(client, f"{base}/array.zarr", args))
    return out


def zarr_read(client: Any, prefix: str, args: argparse.Namespace) -> dict[str, float]:
    """Write a chunked array once, then time opening it and reading it whole."""
    chunk = 4096  # float64: 32 kB a chunk, the size of a lake's spike chunks
    data = np.arange(args.chunks * chunk, dtype="float64")
    array = zarr.create_array(
        client.zarr_store(prefix, read_only=False), shape=data.shape, chunks=(chunk,),
        dtype=data.dtype,
    )  # fmt: skip
    array[:] = data

    def read() -> None:
        opened = zarr.open_array(client.zarr_store(prefix, read_only=True), mode="r")
        assert np.array_equal(opened[:], data)

    return {f"zarr: open + read {args.chunks} chunks": best(read, args.repeat)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=200, help="objects per test (200)")
    parser.add_argument("--size", type=int, default=2048, help="bytes per object (2048)")
    parser.add_argument("--chunks", type=int, default=100, help="chunks of the zarr array")
    parser.add_argument("--repeat", type=int, default=3, help="timings per figure (best)")
    args = parser.parse_args()
    try:
        import s3fs  # noqa: F401
    except ImportError:
        print(INSTALL, file=sys.stderr)
        have_s3fs = False
    else:
        have_s3fs = True
    proc, endpoint = start_moto()
    try:
        for name in [n for n in os.environ if n.startswith("AWS_")]:
            del os.environ[name]  # the clients get everything explicitly
        import boto3

        boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id="testing",
            aws_secret_access_key="testing", region_name="us-east-1",
        ).create_bucket(Bucket=BUCKET)  # fmt: skip
        clients: list[Any] = [ObstoreClient(endpoint, BUCKET)]
        if have_s3fs:
            clients.append(S3fsClient(endpoint, BUCKET))
        results = {c.name: measure(c, args) for c in clients}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    report(results, args)


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    """One line per operation: seconds per client and the ratio s3fs / obstore."""
    names = list(results)
    print(f"moto on 127.0.0.1; {args.objects} objects of {args.size} B; best of {args.repeat}")
    header = f"{'operation':34s}" + "".join(f"{n:>12s}" for n in names)
    print(header + ("   s3fs/obstore" if len(names) == 2 else ""))
    for op in results[names[0]]:
        line = f"{op:34s}" + "".join(f"{results[n][op]:11.3f}s" for n in names)
        if len(names) == 2:
            line += f"   {results['s3fs'][op] / results['obstore'][op]:10.2f}×"
        print(line)


if __name__ == "__main__":
    main()
