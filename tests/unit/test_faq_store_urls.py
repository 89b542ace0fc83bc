"""FAQ_INDEX_URL and the FAQ command's URLs: s3://, file:// or a plain path; any other scheme is refused, never
written as a local path named after it."""

import pytest

from airelay.faq.store import FileObject, S3Object, open_object


@pytest.mark.parametrize(
    ("url", "kind", "where"),
    [
        ("s3://bucket/index/faq-index.bin", S3Object, "s3://bucket/index/faq-index.bin"),
        ("file://.airelay/faq-index.bin", FileObject, "file://.airelay/faq-index.bin"),
        ("file:///tmp/faq-index.bin", FileObject, "file:///tmp/faq-index.bin"),
        ("/tmp/faq-index.bin", FileObject, "file:///tmp/faq-index.bin"),
        ("faq:v2.bin", FileObject, "file://faq:v2.bin"),  # a file name with a colon, no scheme
    ],
)
def test_the_valid_forms_are_kept(url, kind, where):
    stored = open_object(url)
    assert isinstance(stored, kind) and stored.url == where


@pytest.mark.parametrize("url", ["S3://bucket/key", "s3:/bucket/key", "ftp://host/key", "FILE:///tmp/x", "https://x/y"])
def test_another_scheme_is_refused(url):
    with pytest.raises(ValueError, match="s3://bucket/key or file://path"):
        open_object(url)
