"""Where an FAQ source or index lives: `s3://bucket/key` or `file://path` (a plain path works too; any other
`scheme:/` is refused, so a mistyped URL is never written as a local path).

Each stored object has a cheap version stamp: the S3 ETag, or the file's mtime and size, so a warm container can
ask "has it changed?" without downloading it. A missing object raises FileNotFoundError.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from .. import aws
from ..settings import get_settings

if get_settings().faq_index_url.startswith("s3://"):  # the FAQ function and its indexer: S3 client made at INIT
    aws.prepare("s3")

SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/")


def open_object(url: str) -> FileObject | S3Object:
    if SCHEME.match(url) and not url.startswith(("s3://", "file://")):
        raise ValueError(
            f"'{url[:200]}': an FAQ URL is s3://bucket/key or file://path (in lower case), or a plain path"
        )
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
            return aws.clients().s3.head_object(Bucket=self.bucket, Key=self.key)["ETag"]
        except Exception as exc:
            if is_missing(exc):
                return None
            raise

    def read(self) -> tuple[bytes, str]:
        try:
            answer = aws.clients().s3.get_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:
            if is_missing(exc):
                raise FileNotFoundError(self.url) from None
            raise
        return answer["Body"].read(), answer["ETag"]

    def write(self, data: bytes) -> str:
        return aws.clients().s3.put_object(
            Bucket=self.bucket, Key=self.key, Body=data, ContentType="application/octet-stream"
        )["ETag"]


def is_missing(exc: Exception) -> bool:
    error = getattr(exc, "response", {}).get("Error", {})  # botocore's ClientError
    return str(error.get("Code")) in {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
