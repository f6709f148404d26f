"""Object-storage locations (``s3://bucket/prefix``) and their I/O, through obstore.

An :class:`ObjectLocation` names a prefix in a bucket plus the options of the client
(endpoint, credentials…; by default the standard ``AWS_*`` environment variables). It
is a frozen, picklable value: dask tasks and child processes carry it and open their
own client (one per process and prefix, cached).

Reads and writes of many objects are concurrent (threads: one round trip's latency for
a whole store rather than one per object); :func:`create` is S3's conditional create
(``If-None-Match: *``), the one atomic step that commits a run.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from opsnn_lake.errors import InvalidArgumentError, NotALakeError

__all__ = [
    "ObjectInfo",
    "ObjectLocation",
    "check_bucket",
    "create",
    "delete_many",
    "get",
    "get_many",
    "is_url",
    "list_objects",
    "parse_url",
    "put",
    "put_many",
]

T = TypeVar("T")
U = TypeVar("U")

SCHEMES = ("s3",)
# "<scheme>:" of more than one letter: a URL (or a typo of one), never a local path.
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Client settings among storage options (the others configure the S3 store itself).
# Credentials among storage options: never written to a file (catalogs take AWS_*).
_SECRETS = frozenset({"access_key_id", "secret_access_key", "session_token", "token"})
_CLIENT_KEYS = frozenset(
    {"allow_http", "allow_invalid_certificates", "timeout", "connect_timeout", "proxy_url"}
)
# Fail in seconds, not minutes, when the endpoint is wrong or down (obstore's default
# retries for 3 minutes); transient errors are still retried.
_RETRY = {"max_retries": 4, "retry_timeout": timedelta(seconds=20)}
_CONCURRENCY = 32  # puts and gets in flight at once
# Opening a lake asks for one short listing: a stalled endpoint fails in about 10 s
# rather than after the 30 s request timeout, retried (storage option "timeout" wins).
_PROBE: dict[str, Any] = {
    "timeout": "5s",
    "retry": {"max_retries": 1, "retry_timeout": timedelta(seconds=10)},
}


def is_url(value: object) -> bool:
    """True if ``value`` is a string that names a URL scheme (``s3://…``, ``gs:…``)."""
    return isinstance(value, str) and _SCHEME.match(value) is not None


def _plain_options(options: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    out = []
    for key, value in sorted((options or {}).items()):
        if not isinstance(key, str):
            raise InvalidArgumentError(f"storage_options: keys must be strings, got {key!r}")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        out.append((key, text))
    return tuple(out)


def parse_url(url: str, storage_options: Mapping[str, Any] | None = None) -> ObjectLocation:
    """The :class:`ObjectLocation` of ``s3://bucket/prefix``.

    Raises
    ------
    InvalidArgumentError
        For another scheme (``gs://``, ``http://``), a malformed URL (``s3:/bucket``) or
        an invalid bucket name; the message says what is supported.
    """
    match = _SCHEME.match(url)
    scheme = match["scheme"].lower() if match else ""
    expected = "expected s3://bucket/prefix or a local path"
    if scheme not in SCHEMES:
        raise InvalidArgumentError(
            f"lake {url!r}: unsupported URL scheme {scheme + ':'!r}; {expected} "
            f"(supported schemes: {', '.join(s + '://' for s in SCHEMES)})"
        )
    rest = url[len(scheme) + 1 :]
    if not rest.startswith("//"):
        raise InvalidArgumentError(f"lake {url!r}: malformed URL; {expected}")
    bucket, _, key = rest[2:].partition("/")
    if not _BUCKET.match(bucket):
        raise InvalidArgumentError(
            f"lake {url!r}: {bucket!r} is not a valid bucket name (3-63 lower-case "
            f"letters, digits, dots and hyphens); {expected}"
        )
    key = "/".join(part for part in key.split("/") if part)
    if any(part in (".", "..") for part in key.split("/")):
        raise InvalidArgumentError(f"lake {url!r}: '.' and '..' are not allowed in a prefix")
    return ObjectLocation(bucket, key, _plain_options(storage_options))


@dataclass(frozen=True)
class ObjectLocation:
    """A prefix in a bucket, plus the options of the client that reaches it.

    Parameters
    ----------
    bucket : str
        The bucket.
    key : str
        The prefix inside the bucket (no leading or trailing slash; ``""``: the bucket).
    options : tuple of (str, str)
        Storage options (obstore's S3 configuration keys, e.g. ``endpoint``,
        ``access_key_id``, ``region``, ``allow_http``); the ``AWS_*`` environment
        variables fill in the rest.
    run_id : str, optional
        The run a store location holds (error messages name it).
    """

    bucket: str
    key: str = ""
    options: tuple[tuple[str, str], ...] = ()
    run_id: str | None = field(default=None, compare=False)

    @property
    def url(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"

    @property
    def name(self) -> str:
        """The last part of the key."""
        return self.key.rpartition("/")[2]

    @property
    def storage_options(self) -> dict[str, str]:
        """The options as a dict."""
        return dict(self.options)

    @property
    def shareable_options(self) -> dict[str, str]:
        """The options without credentials (what a catalog, a file others read, records)."""
        return {k: v for k, v in self.options if k.lower().removeprefix("aws_") not in _SECRETS}

    def __str__(self) -> str:
        return self.url

    def child(self, key: str, *, run_id: str | None = None) -> ObjectLocation:
        """The location ``key`` below this one."""
        joined = f"{self.key}/{key.strip('/')}" if self.key else key.strip("/")
        return ObjectLocation(self.bucket, joined, self.options, run_id)

    def __truediv__(self, key: str) -> ObjectLocation:
        return self.child(key)

    def exists(self) -> bool:
        """True if an object is at this key or below it (one or two requests)."""
        if self.key and get_info(self.parent(), self.name) is not None:
            return True
        return any_below(self)

    def is_dir(self) -> bool:
        """True if objects exist below this key (a store's prefix)."""
        return self.exists()

    def parent(self) -> ObjectLocation:
        """The location one level up."""
        return ObjectLocation(self.bucket, self.key.rpartition("/")[0], self.options)

    def store(self, *, probe: bool = False) -> Any:
        """The obstore ``S3Store`` rooted at this prefix (cached per process and
        ``AWS_*`` environment); ``probe``: one that gives up within seconds."""
        env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
        return _s3_store(self.bucket, self.key, self.options, env, probe)


def _first(stream: Any) -> list[Any]:
    for chunk in stream:
        return [chunk]
    return []


@functools.lru_cache(maxsize=256)
def _s3_store(
    bucket: str,
    prefix: str,
    options: tuple[tuple[str, str], ...],
    aws_env: tuple[tuple[str, str], ...],
    probe: bool = False,
) -> Any:
    from obstore.store import S3Store

    config = dict(options)
    client = {k: config.pop(k) for k in list(config) if k in _CLIENT_KEYS}
    env = dict(aws_env)  # what S3Store reads itself, from os.environ, is this too
    # Names the AWS CLI and SDKs read, which object_store itself does not.
    if "endpoint" not in config and env.get("AWS_ENDPOINT_URL_S3"):
        config["endpoint"] = env["AWS_ENDPOINT_URL_S3"]
    if "region" not in config and not env.get("AWS_REGION") and env.get("AWS_DEFAULT_REGION"):
        config["region"] = env["AWS_DEFAULT_REGION"]
    if "allow_http" not in client and env.get("AWS_ALLOW_HTTP"):
        client["allow_http"] = env["AWS_ALLOW_HTTP"]
    if probe:  # a stalled endpoint (accepts, never answers) fails in seconds
        client.setdefault("timeout", _PROBE["timeout"])
    return S3Store(
        bucket,
        prefix=prefix or None,
        config=config or None,  # type: ignore[arg-type]  # keys checked by obstore
        client_options=client or None,  # type: ignore[arg-type]
        retry_config=_PROBE["retry"] if probe else _RETRY,  # type: ignore[arg-type]
    )


def _each(call: Callable[[T], U], items: Iterable[T]) -> list[U]:
    """``call`` on every item, up to ``_CONCURRENCY`` at once, results in order.

    obstore's blocking calls release the GIL while they wait, so threads overlap the
    requests as well as its async API does; and unlike the async API, no tokio thread
    ever calls back into Python, which at interpreter exit can abort the process
    (a completion scheduled on an event loop while Python finalizes).
    """
    items = list(items)
    if len(items) <= 1:
        return [call(item) for item in items]
    with concurrent.futures.ThreadPoolExecutor(min(_CONCURRENCY, len(items))) as pool:
        return list(pool.map(call, items))


def short(err: BaseException) -> str:
    """The first line of an obstore error (the rest is a debug dump)."""
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def get(loc: ObjectLocation, key: str) -> bytes | None:
    """The bytes of the object ``key`` below ``loc``, or None if there is none."""
    import obstore

    try:
        return bytes(obstore.get(loc.store(), key).bytes())
    except FileNotFoundError:
        return None


def get_many(loc: ObjectLocation, keys: Iterable[str]) -> dict[str, bytes | None]:
    """The bytes of several objects at once (None for those missing)."""
    keys = list(keys)
    return dict(zip(keys, _each(functools.partial(get, loc), keys), strict=True))


def put_many(loc: ObjectLocation, files: Mapping[str, bytes]) -> None:
    """Write several objects below ``loc`` concurrently (overwriting)."""
    _each(lambda item: put(loc, *item), files.items())


def put(loc: ObjectLocation, key: str, data: bytes) -> None:
    """Write (or overwrite) one object."""
    import obstore

    obstore.put(loc.store(), key, data)


def create(loc: ObjectLocation, key: str, data: bytes) -> str | None:
    """Create ``key`` only if no object has that key (S3 ``If-None-Match: *``).

    Returns
    -------
    str or None
        The new object's ETag (``""`` if the server gives none) if this call created
        it; None if the object existed already (another writer won), which leaves that
        object untouched.
    """
    import obstore
    from obstore.exceptions import AlreadyExistsError

    try:
        result = obstore.put(loc.store(), key, data, mode="create")
    except AlreadyExistsError:
        return None
    return str(result.get("e_tag") or "")


def any_below(loc: ObjectLocation) -> bool:
    """True if at least one object has a key below ``loc``."""
    import obstore

    return any(len(chunk) for chunk in _first(obstore.list(loc.store(), chunk_size=1)))


@dataclass(frozen=True)
class ObjectInfo:
    """Size (bytes), time of last modification and ETag of one object."""

    size: int
    modified: datetime
    etag: str | None = None


def get_info(loc: ObjectLocation, key: str) -> ObjectInfo | None:
    """Size and modification time of one object, or None if there is none."""
    import obstore

    try:
        meta = obstore.head(loc.store(), key)
    except FileNotFoundError:
        return None
    return ObjectInfo(int(meta["size"]), meta["last_modified"], meta.get("e_tag"))


def list_objects(loc: ObjectLocation, prefix: str = "") -> dict[str, ObjectInfo]:
    """Every object below ``loc`` (or below ``loc/prefix``): key relative to ``loc`` → info."""
    import obstore

    found: dict[str, ObjectInfo] = {}
    stream = obstore.list(loc.store(), prefix.strip("/") or None, chunk_size=1000)
    for chunk in stream:
        for meta in chunk:
            found[meta["path"]] = ObjectInfo(
                int(meta["size"]), meta["last_modified"], meta.get("e_tag")
            )
    return found


def list_prefixes(loc: ObjectLocation, prefix: str = "") -> list[str]:
    """The "folders" directly below ``loc/prefix`` (keys relative to ``loc``)."""
    import obstore

    listing = obstore.list_with_delimiter(loc.store(), prefix.strip("/") or None)
    return sorted(str(p) for p in listing["common_prefixes"])


def delete_many(loc: ObjectLocation, keys: Iterable[str]) -> None:
    """Delete objects (missing ones are no error)."""
    import obstore

    keys = list(keys)
    for start in range(0, len(keys), 1000):  # S3 deletes at most 1,000 keys a request
        obstore.delete(loc.store(), keys[start : start + 1000])


def check_bucket(loc: ObjectLocation) -> None:
    """Fail with a clear error if the bucket is missing or unreachable.

    Raises
    ------
    NotALakeError
        If the bucket does not exist, the endpoint cannot be reached, or the
        credentials are refused; the message names the URL and the fix.
    """
    import obstore

    try:
        obstore.list_with_delimiter(loc.store(probe=True), None)
    except Exception as err:  # obstore raises several types; all mean "cannot use it"
        text = str(err)
        if "NoSuchBucket" in text:
            why = f"the bucket {loc.bucket!r} does not exist; create it first"
        elif "AccessDenied" in text or "InvalidAccessKeyId" in text or "403" in text:
            why = "access denied; check the AWS_* credentials or storage_options"
        else:
            why = f"cannot reach it ({short(err)}); check AWS_ENDPOINT_URL and the network"
        raise NotALakeError(f"{loc.url}: {why}") from None
