"""Where an FAQ source or index lives: `s3://bucket/key` or `file://path` (a plain path works too).

Each stored object has a cheap version stamp: the S3 ETag, or the file's mtime and size, so a warm container can
ask "has it changed?" without downloading it. A missing object raises FileNotFoundError.
"""

from __future__ import annotations

import os
import tempfile
from functools import cache
from pathlib import Path


def open_object(url: str) -> FileObject | S3Object:
    if url.startswith("s3://"):
        bucket, _, key = url[5:].partition("/")
        if not bucket or not key:
            raise ValueError(f"an S3 URL looks like s3://bucket/key, got '{url[:200]}'")
        return S3Object(bucket, key)
    path = url[7:] if url.startswith("file://") else url
    if not path:
        raise ValueError("a file URL needs a path, e.g. file://.airelay/faq-index.bin")
    return FileObject(Path(path))


class FileObject:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"file://{path}"
        self.name = path.name

    def version(self) -> str | None:
        try:
            return stamp(os.stat(self.path))
        except FileNotFoundError:
            return None

    def read(self) -> tuple[bytes, str]:
        with open(self.path, "rb") as file:
            version = stamp(os.fstat(file.fileno()))
            return file.read(), version

    def write(self, data: bytes) -> str:
        """Atomic: readers see the old file or the new one, never half of it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.chmod(tmp, 0o644)  # mkstemp makes it private; an index is not a secret
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return stamp(os.stat(self.path))


def stamp(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns}-{st.st_size}"


class S3Object:
    def __init__(self, bucket: str, key: str) -> None:
        self.bucket = bucket
        self.key = key
        self.url = f"s3://{bucket}/{key}"
        self.name = key.rsplit("/", 1)[-1]

    def version(self) -> str | None:
        try:
            return s3_client().head_object(Bucket=self.bucket, Key=self.key)["ETag"]
        except Exception as exc:
            if is_missing(exc):
                return None
            raise

    def read(self) -> tuple[bytes, str]:
        try:
            answer = s3_client().get_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:
            if is_missing(exc):
                raise FileNotFoundError(self.url) from None
            raise
        return answer["Body"].read(), answer["ETag"]

    def write(self, data: bytes) -> str:
        return s3_client().put_object(
            Bucket=self.bucket, Key=self.key, Body=data, ContentType="application/octet-stream"
        )["ETag"]


def is_missing(exc: Exception) -> bool:
    error = getattr(exc, "response", {}).get("Error", {})
    return str(error.get("Code")) in {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


def s3_client():
    # One client per container; boto3 reads AWS_ENDPOINT_URL (moto server in tests) when it creates it.
    return _s3_client(os.environ.get("AWS_ENDPOINT_URL", ""), os.environ.get("AWS_REGION", ""))


@cache
def _s3_client(endpoint: str, region: str):
    import boto3

    return boto3.client("s3")
