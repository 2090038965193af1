"""The bake cache on an object store: a real S3-compatible server on 127.0.0.1 (moto), reached through fsspec/s3fs
as a remote site would reach S3. Same entries, same checks, same atomic publish as the local folder."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest
from s3_server import s3, s3_endpoint  # noqa: F401 (fixtures)

from generator.bake import Baker
from generator.cache import BakeCache, CacheError
from generator.spec import spec_from_data

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def raw(url: str) -> bytes:
    """An object's bytes read with boto3, not through the code under test."""
    import boto3

    bucket, _, key = url.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def put_raw(url: str, data: bytes) -> None:
    import boto3

    bucket, _, key = url.removeprefix("s3://").partition("/")
    boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1").put_object(
        Bucket=bucket, Key=key, Body=data)


def test_an_entry_on_s3_has_the_local_layout_and_bytes(s3, tmp_path):
    url, _ = s3
    payload = b'{"x": 1}'
    remote, local = BakeCache(url), BakeCache(tmp_path)
    assert remote.get("ab" * 32) is None
    remote.put("ab" * 32, payload, bake_seconds=1.5)
    local.put("ab" * 32, payload, bake_seconds=1.5)
    assert remote.path("ab" * 32) == f"{url}/ab/{'ab' * 32}.json"
    stored = raw(remote.path("ab" * 32))
    assert stored == local.path("ab" * 32).read_bytes()
    header = json.loads(stored.split(b"\n", 1)[0])
    assert header["sha256"] == hashlib.sha256(payload).hexdigest() and header["length"] == len(payload)
    assert BakeCache(url).get("ab" * 32) == payload
    assert BakeCache(url).bake_seconds("ab" * 32) == 1.5


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_a_damaged_object_is_detected_deleted_and_reported(s3, damage, caplog):
    url, _ = s3
    caplog.set_level("INFO", logger="mkdocs.plugins.explorables")
    cache = BakeCache(url)
    key = "cd" * 32
    cache.put(key, b'{"payload": "' + b"x" * 1000 + b'"}')
    blob = raw(cache.path(key))
    put_raw(cache.path(key), {"truncate": blob[:-100], "flip": blob[:-10] + b"y" + blob[-9:], "empty": b""}[damage])
    assert cache.get(key) is None
    assert "corrupted" in caplog.text
    import botocore.exceptions
    with pytest.raises(botocore.exceptions.ClientError):
        raw(cache.path(key))


def test_two_writers_of_one_key_and_a_reader_never_see_a_partial_entry(s3):
    url, _ = s3
    key = "ef" * 32
    payloads = (b"A" * 300_000, b"B" * 300_000)
    bad: list[bytes] = []

    def write(payload):
        cache = BakeCache(url)
        for _ in range(8):
            cache.put(key, payload)

    def read():
        cache = BakeCache(url)
        for _ in range(30):
            data = cache.get(key)
            if data is not None and data not in payloads:
                bad.append(data[:20])
    threads = [threading.Thread(target=write, args=(p,)) for p in payloads] + [threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert bad == []
    assert BakeCache(url).get(key) in payloads


def test_eviction_keeps_what_another_site_uses(s3):
    url, _ = s3
    first, second = BakeCache(url), BakeCache(url)
    for key in ("11" * 32, "22" * 32):
        first.put(key, b"{}")
    first.evict_stale("site-a")
    second.put("22" * 32, b"{}")
    second.evict_stale("site-b")
    again = BakeCache(url)          # site a now uses nothing
    assert again.evict_stale("site-a") == 1
    assert BakeCache(url).get("11" * 32) is None and BakeCache(url).get("22" * 32) == b"{}"


def test_a_bake_into_s3_gives_the_local_bytes(s3, tmp_path, tiny_models):
    url, _ = s3
    spec = spec_from_data({"model": str(tiny_models["gpt2"]), "text": "a small test"}, file="t")
    local = Baker(tmp_path).payload(spec)
    remote = Baker(url)
    assert remote.payload(spec) == local and remote.baked == 1
    warm = Baker(url)
    assert warm.payload(spec) == local and warm.baked == 0


def test_missing_credentials_name_the_setting(s3, monkeypatch):
    url, _ = s3
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(CacheError) as caught:
        BakeCache(url)
    text = str(caught.value)
    assert "cache_dir" in text and url in text and "AWS_ACCESS_KEY_ID" in text


def test_an_unreachable_store_and_a_missing_bucket_are_errors_naming_the_setting(s3, monkeypatch):
    url, _ = s3
    with pytest.raises(CacheError) as missing:
        BakeCache("s3://no-such-bucket-here/cache")
    assert "no-such-bucket-here" in str(missing.value) and "does not exist" in str(missing.value)
    from s3_server import free_port
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(CacheError) as unreachable:
        BakeCache(url)
    assert "cannot be reached" in str(unreachable.value) and "AWS_ENDPOINT_URL" in str(unreachable.value)


def test_the_cli_bakes_into_s3_and_a_normal_bake_never_imports_fsspec(s3, tmp_path, tiny_models):
    url, env = s3
    (tmp_path / "explorables").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "explorables" / "a.yml").write_text(textwrap.dedent(f"""\
        - id: one
          model: {tiny_models["gpt2"]}
          text: A small text.
        """), encoding="utf-8")
    code = ("import sys\nfrom generator.cli import main\ncode = main(sys.argv[1:])\n"
            "print('IMPORTED=' + ','.join(m for m in ('fsspec', 's3fs', 'ray') if m in sys.modules))\n"
            "sys.exit(code)\n")
    environment = {**os.environ, **env, "PYTHONPATH": REPO}

    def bake(cache: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code, "--root", str(tmp_path), "--cache", cache, "bake"],
                              capture_output=True, text=True, timeout=600, env=environment)
    local = bake(".cache")
    assert local.returncode == 0, local.stderr[-2000:]
    assert "IMPORTED=\n" in local.stdout, "a local bake imports neither fsspec, s3fs nor ray"
    remote = bake(url)
    assert remote.returncode == 0, remote.stderr[-2000:]
    assert "IMPORTED=fsspec,s3fs\n" in remote.stdout
    wrong = subprocess.run([sys.executable, "-c", code, "--root", str(tmp_path), "--cache", "s3://missing-bkt/x",
                            "bake"], capture_output=True, text=True, timeout=300, env=environment)
    assert wrong.returncode == 1 and "missing-bkt" in wrong.stderr and "Traceback" not in wrong.stderr
