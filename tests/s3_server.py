"""An S3-compatible server on 127.0.0.1 for the remote cache tests: moto's server mode (PyPI `moto`), one per test
session, with a fresh bucket per test. Imported by the tests that need it: `from s3_server import s3`."""

from __future__ import annotations

import socket
import uuid

import pytest

ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_EC2_METADATA_DISABLED": "true"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    pytest.importorskip("moto", reason="the remote cache tests need explorables[test] (moto)")
    pytest.importorskip("s3fs", reason="the remote cache tests need explorables[remote] (s3fs)")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """(bucket URL s3://NAME/cache, the environment a process needs to reach it); the bucket is new."""
    import boto3

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    bucket = f"bake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/cache", {**ENV, "AWS_ENDPOINT_URL": s3_endpoint}
