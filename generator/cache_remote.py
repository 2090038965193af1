"""The bake cache on any fsspec filesystem (`s3://`, `gs://`, `az://`, `memory://`, ...): the store behind
`BakeCache` for a URL. Imported only when the cache location is a URL (a normal build never imports fsspec); the
filesystem libraries come with the `explorables[remote]` extra (fsspec, s3fs) or their own packages (gcsfs, adlfs).

Publishing an entry whole: an object store (S3, GCS, Azure Blob, fsspec's memory) makes a PUT visible only once
complete, the old object or the new one, never part of one (a multipart upload too: the object appears when it is
completed), so an entry is one `pipe_file`. Other filesystems (SFTP, HDFS, a local `file://` URL) write a
temporary name and rename it, as the local store does. The entry's header (SHA-256 and length, `cache.py`) catches
anything else: a damaged entry is reported, deleted and baked again.
"""

from __future__ import annotations

import uuid
from typing import Any

from .cache import CacheError

# Filesystems whose single write is all-or-nothing for readers (object stores).
OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "memory"})
SETTING = "the bake cache location (cache_dir in mkdocs.yml, --cache for the explorables command)"


class FsspecStore:
    """Entries under `url` on its fsspec filesystem; `options` are fsspec storage options (credentials, endpoint).
    Raises CacheError, naming the setting and what to do, when the filesystem is missing, has no credentials, or
    cannot be reached."""

    def __init__(self, url: str, options: dict[str, Any]):
        try:
            import fsspec
        except ImportError:
            raise CacheError(f"{SETTING} is the URL {url}, which needs fsspec: install explorables[remote] "
                             "(fsspec and s3fs), or use a local folder") from None
        self.url = url.rstrip("/")
        protocol = url.split("://", 1)[0].lower()
        options = dict(options)
        if protocol in ("s3", "s3a"):
            # botocore's defaults retry a refused connection for minutes; a build should say so in seconds
            options.setdefault("config_kwargs", {"connect_timeout": 5, "read_timeout": 60,
                                                 "retries": {"max_attempts": 2, "mode": "standard"}})
            if not _has_s3_credentials(options):
                raise CacheError(f"{SETTING} {url}: no credentials for S3 were found. Set AWS_ACCESS_KEY_ID and "
                                 "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), give key and secret in cache_options in "
                                 "mkdocs.yml, or set anon: true in cache_options for a public bucket")
        options.setdefault("skip_instance_cache", True)    # credentials and endpoint as they are now
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url, **options)
        except ImportError as exc:
            raise CacheError(f"{SETTING} is the URL {url}, whose filesystem is not installed ({exc}): install "
                             "explorables[remote] for s3://, gcsfs for gs://, adlfs for az://") from None
        except (ValueError, TypeError) as exc:
            raise CacheError(f"{SETTING} {url}: the storage options are not accepted: {exc} (check cache_options "
                             "in mkdocs.yml)") from None
        self.root = self.root.rstrip("/")
        self.atomic_put = protocol in OBJECT_STORES
        self._probe()

    def _probe(self) -> None:
        """Reach the store once, so that a wrong URL, endpoint or credentials fail the build before any bake."""
        if self.atomic_put:
            bucket = self.root.split("/", 1)[0]
            try:
                self._call("reach", self.fs.info, bucket)
            except FileNotFoundError:
                raise CacheError(f"{SETTING} {self.url}: the bucket '{bucket}' does not exist (or these credentials "
                                 "may not see it): create it, or correct the URL") from None
        else:
            self._call("create", self.fs.makedirs, self.root, exist_ok=True)

    def _call(self, doing: str, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except FileNotFoundError:
            raise
        except Exception as exc:   # noqa: BLE001: every library's own error becomes one message naming the setting
            raise CacheError(explain(self.url, doing, exc)) from None

    def where(self, relative: str) -> str:
        return f"{self.url}/{relative}"

    def _path(self, relative: str) -> str:
        return f"{self.root}/{relative}" if self.root else relative

    def read(self, relative: str) -> bytes | None:
        try:
            return self._call("read", self.fs.cat_file, self._path(relative))
        except FileNotFoundError:
            return None

    def first_line(self, relative: str) -> bytes | None:
        try:
            with self._call("read", self.fs.open, self._path(relative), "rb") as handle:
                return handle.readline()
        except (FileNotFoundError, OSError):
            return None

    def publish(self, relative: str, data: bytes) -> None:
        path = self._path(relative)
        if self.atomic_put:
            self._call("write", self.fs.pipe_file, path, data)
            return
        parent = path.rsplit("/", 1)[0]
        self._call("write", self.fs.makedirs, parent, exist_ok=True)
        temp = f"{parent}/.{uuid.uuid4().hex}.tmp"
        try:
            self._call("write", self.fs.pipe_file, temp, data)
            self._call("write", self.fs.mv, temp, path)
        except BaseException:
            try:
                self.fs.rm_file(temp)
            except Exception:   # noqa: BLE001: the temporary file may not exist
                pass
            raise

    def delete(self, relative: str) -> None:
        try:
            self._call("delete", self.fs.rm_file, self._path(relative))
        except FileNotFoundError:
            pass

    def listing(self, folder: str, suffix: str) -> list[str]:
        try:
            names = self._call("list", self.fs.ls, self._path(folder), detail=False)
        except FileNotFoundError:
            return []
        return sorted(f"{folder}/{name.rstrip('/').rsplit('/', 1)[-1]}" for name in names if name.endswith(suffix))

def _has_s3_credentials(options: dict[str, Any]) -> bool:
    """Whether S3 credentials are given in `options` or found by botocore's chain (environment, shared files,
    profile, instance metadata). s3fs would otherwise go on anonymously, and a private bucket answer 403 later."""
    if options.get("anon") or options.get("key") or options.get("profile") or options.get("session"):
        return True
    try:
        import botocore.session
    except ImportError:
        return True     # s3fs will say what is missing
    return botocore.session.get_session().get_credentials() is not None


def explain(url: str, doing: str, exc: Exception) -> str:
    """A store failure in words: which setting, what went wrong, what to do."""
    kind = type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else kind
    lowered = f"{kind} {text}".lower()
    if "credential" in lowered or "access denied" in lowered or "accessdenied" in lowered \
            or "invalidaccesskeyid" in lowered or "signaturedoesnotmatch" in lowered or "forbidden" in lowered:
        return (f"{SETTING} {url}: could not {doing} it: no valid credentials ({kind}: {text}). Set them for the "
                "filesystem (for S3: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE), or give them in "
                "cache_options in mkdocs.yml")
    if "connect" in lowered or "endpoint" in lowered or "timeout" in lowered or "timed out" in lowered \
            or "name resolution" in lowered:
        return (f"{SETTING} {url}: could not {doing} it: the store cannot be reached ({kind}: {text}). Check the URL, "
                "the endpoint (AWS_ENDPOINT_URL, or endpoint_url in cache_options) and the network")
    return f"{SETTING} {url}: could not {doing} it ({kind}: {text}); check the URL and cache_options"
