"""The FAQ index object (build, serialize, load, match) and where it is stored; its sources are in
test_faq_sources.py."""

import asyncio
import hashlib
import json
import struct

import numpy as np
import pytest

from airelay.errors import FaqIndexUnusable
from airelay.faq.build import build_index, build_to
from airelay.faq.index import MAGIC, FaqIndex, IndexedEntry, deserialize, serialize
from airelay.faq.store import open_object
from tests.fakes import KeyedEmbedder

from .test_faq_sources import SOURCE, source


def build(embedder=None, data=SOURCE, **options):
    index, _usage, _calls = asyncio.run(build_index(source(data), embedder or KeyedEmbedder(), **options))
    return index


# ---------------------------------------------------------------- build, serialize, load


def test_build_embeds_every_question_and_alternate_once_in_batches():
    embedder = KeyedEmbedder(tokens_per_text=3)
    # GIVEN 3 entries with 6 texts WHEN the index is built in batches of 4
    index, usage, calls = asyncio.run(build_index(source(), embedder, batch_rows=4))
    # THEN each text was embedded once, in 2 calls, and the usage is summed
    assert calls == embedder.calls == 2 and len(embedder.texts) == index.rows == 6
    assert usage.prompt_tokens == 18
    assert index.row_entries.tolist() == [0, 0, 0, 1, 2, 2]
    assert np.allclose(np.linalg.norm(index.matrix, axis=1), 1.0, atol=1e-6)


def test_roundtrip_keeps_matrix_and_metadata():
    index = build()
    # WHEN the index is serialized and loaded again
    loaded = deserialize(serialize(index))
    # THEN matrix, row map, entries and metadata are the same
    assert np.array_equal(loaded.matrix, index.matrix)
    assert loaded.row_entries.tolist() == index.row_entries.tolist()
    assert loaded.entries == index.entries and loaded.entries[0].tags == ("shipping",)
    assert loaded.meta == index.meta
    assert loaded.meta.model == "fake/keyed" and loaded.meta.dimension == 16
    assert loaded.meta.source_sha256 == hashlib.sha256(json.dumps(SOURCE, ensure_ascii=False).encode()).hexdigest()


def test_float16_halves_the_matrix_and_keeps_the_scores():
    embedder = KeyedEmbedder(dimension=512)
    index = build(embedder)
    small, full = serialize(index, "float16"), serialize(index, "float32")
    # GIVEN the same index stored as float16 and float32
    matrix_bytes = index.rows * 512 * 4
    # THEN float16 saves half the matrix bytes
    assert len(full) - len(small) == matrix_bytes // 2
    loaded = deserialize(small)
    assert loaded.meta.dtype == "float16" and loaded.matrix.dtype == np.float32
    # AND matching gives the same order with scores within float16 precision
    query = embedder.vector("언제 도착하나요?")
    a, b = index.match(query, 3), loaded.match(query, 3)
    assert [m.entry.id for m in a] == [m.entry.id for m in b]
    assert all(abs(x.score - y.score) < 2e-3 for x, y in zip(a, b))


def test_an_index_of_another_model_is_refused():
    index = deserialize(serialize(build(KeyedEmbedder("fake/model-a"))))
    # WHEN the bot's embedding model is another one THEN it refuses, naming both and how to fix it
    with pytest.raises(FaqIndexUnusable) as refused:
        index.require_model("local/use-multilingual")
    assert "fake/model-a" in refused.value.message and "local/use-multilingual" in refused.value.message
    assert "--model local/use-multilingual" in refused.value.message
    index.require_model("fake/model-a")  # the same model is fine


def with_digest(body: bytes) -> bytes:
    return MAGIC + hashlib.sha256(body).digest() + body


@pytest.mark.parametrize(
    "damage,why",
    [
        (lambda d: d[:-7], "checksum"),  # truncated upload
        (lambda d: d[:-1] + bytes([d[-1] ^ 0xFF]), "checksum"),  # one flipped bit
        (lambda d: b"PK\x03\x04" + d[4:], "magic"),  # some other file
        (lambda d: b"", "magic"),
        (lambda d: with_digest(d[40:-4]), "size"),  # consistent digest, short matrix
        (lambda d: with_digest(struct.pack("<I", 3) + b"{x}" + d[44:]), "header"),  # consistent digest, bad header
    ],
)
def test_corrupt_objects_are_detected(damage, why):
    data = serialize(build())
    with pytest.raises(FaqIndexUnusable, match=why):
        deserialize(damage(data))


def test_rows_that_do_not_map_onto_entries_are_refused():
    index = build()
    header_size = struct.unpack_from("<I", serialize(index), 40)[0]
    data = serialize(index)
    header = json.loads(data[44 : 44 + header_size])
    header["row_entries"] = [0, 0, 0, 2, 2, 2]  # entry 1 lost its row
    head = json.dumps(header).encode()
    with pytest.raises(FaqIndexUnusable, match="map onto its entries"):
        deserialize(with_digest(struct.pack("<I", len(head)) + head + data[44 + header_size :]))


# ---------------------------------------------------------------- matching


def test_an_alternate_maps_back_to_its_entry_once():
    embedder = KeyedEmbedder()
    index = build(embedder)
    # GIVEN a question identical to an alternate of the first entry
    matches = index.match(embedder.vector("How long does delivery take?"), top_k=3)
    # THEN that entry comes first, each entry appears once, and scores are sorted
    assert matches[0].entry.id == "shipping-time"
    assert len({m.entry.id for m in matches}) == len(matches) == 3
    assert matches[0].score > matches[1].score >= matches[2].score
    assert matches[0].entry.question == "배송은 얼마나 걸리나요?"


def test_top_k_larger_than_the_faq_returns_every_entry():
    index = build()
    assert len(index.match(KeyedEmbedder().vector("anything"), top_k=50)) == 3


def test_a_vector_of_the_wrong_size_is_refused():
    with pytest.raises(FaqIndexUnusable, match="dimensions"):
        build().match(np.ones(8, dtype=np.float32), 1)


def test_large_indexes_shortlist_by_sign_codes_and_find_the_same_best_entry():
    # GIVEN 3000 entries of 2 rows and questions that are noisy paraphrases of one row each
    rng = np.random.default_rng(7)
    matrix = rng.standard_normal((6000, 64)).astype(np.float32)
    entries = tuple(IndexedEntry(str(i), f"q{i}", f"a{i}") for i in range(3000))
    rows = np.repeat(np.arange(3000), 2)
    exact = FaqIndex.create("fake/x", entries, rows, matrix, "sha")
    fast = FaqIndex(exact.meta, entries, rows, exact.matrix, exact_rows_max=1000)
    assert exact.codes is None and fast.codes is not None
    hits = 0
    for target in rng.integers(0, 6000, 50):
        noise = rng.standard_normal(64).astype(np.float32)
        query = exact.matrix[target] + 0.6 * noise / np.linalg.norm(noise)
        query /= np.linalg.norm(query)
        # WHEN both match THEN the shortlisted search finds the exact search's best entry
        best = exact.match(query, 3)[0]
        assert best.entry.id == str(target // 2)
        found = fast.match(query, 3)[0]
        hits += found.entry.id == best.entry.id
        if found.entry.id == best.entry.id:  # AND scores it exactly as the exact search does (the FAQ threshold)
            assert found.score == pytest.approx(best.score, abs=1e-5)
    assert hits >= 48, hits


def test_large_indexes_score_each_shortlisted_entry_once_as_the_exact_search_does():
    # GIVEN 3000 entries of 2 close rows each (both rows of an entry are shortlisted together)
    rng = np.random.default_rng(11)
    bases = rng.standard_normal((3000, 64)).astype(np.float32)
    matrix = np.repeat(bases, 2, axis=0) + 0.05 * rng.standard_normal((6000, 64)).astype(np.float32)
    entries = tuple(IndexedEntry(str(i), f"q{i}", f"a{i}") for i in range(3000))
    rows = np.repeat(np.arange(3000), 2)
    exact = FaqIndex.create("fake/x", entries, rows, matrix, "sha")
    fast = FaqIndex(exact.meta, entries, rows, exact.matrix, exact_rows_max=1000)
    for target in (0, 1, 2, 3001, 5998, 5999, *rng.integers(0, 6000, 10).tolist()):
        # WHEN a question is one of the rows (the first rows of the index among them)
        query = exact.matrix[target]
        scores = {m.entry.id: m.score for m in exact.match(query, len(entries))}
        found = fast.match(query, 10)
        # THEN the shortlisted search's best entry is the exact search's, scored the same (the FAQ threshold is
        # applied to that score), every entry appears once, and none scores above its exact score (an entry is
        # credited with its own shortlisted rows only; a lower one may have one of its rows left out)
        assert found[0].entry.id == str(target // 2)
        assert found[0].score == pytest.approx(scores[found[0].entry.id], abs=1e-5)
        assert len({m.entry.id for m in found}) == len(found) == 10
        assert all(m.score <= scores[m.entry.id] + 1e-5 for m in found)


# ---------------------------------------------------------------- stores


def test_file_objects_write_atomically_and_change_version(tmp_path):
    stored = open_object(f"file://{tmp_path}/sub/index.bin")
    # GIVEN no file yet THEN there is no version and reading says not found
    assert stored.version() is None
    with pytest.raises(FileNotFoundError):
        stored.read()
    # WHEN it is written twice THEN each write is read back whole, with a new version
    first = stored.write(b"one")
    assert stored.read() == (b"one", first) and stored.version() == first
    second = stored.write(b"second")
    assert second != first and stored.read() == (b"second", second)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["index.bin"]  # no temp files left


def test_build_to_a_file_url_writes_a_loadable_index(tmp_path):
    (tmp_path / "faq.json").write_text(json.dumps(SOURCE, ensure_ascii=False), "utf-8")
    seen = []
    report = asyncio.run(
        build_to(
            str(tmp_path / "faq.json"),
            f"file://{tmp_path}/out/faq.bin",
            KeyedEmbedder(),
            float16=True,
            progress=lambda done, total: seen.append((done, total)),
        )
    )
    loaded = deserialize((tmp_path / "out" / "faq.bin").read_bytes())
    assert report.entries == 3 and report.rows == 6 and report.dtype == "float16" and loaded.meta.dtype == "float16"
    assert seen[0] == (0, 6) and seen[-1] == (6, 6)


@pytest.mark.parametrize("url", ["s3://bucket-only", "s3:///key", "file://"])
def test_malformed_urls_are_refused(url):
    with pytest.raises(ValueError):
        open_object(url)


def test_with_one_row_per_entry_the_score_is_the_plain_cosine():
    embedder = KeyedEmbedder()
    data = {"entries": [{"id": str(i), "question": f"question {i}", "answer": "a"} for i in range(5)]}
    index = build(embedder, data)
    query = embedder.vector("something else")
    assert index.centroids is None  # nothing to blend: each entry's centroid is its only row
    matches = index.match(query, 5)
    assert [round(m.score, 5) for m in matches] == sorted(
        (round(float(embedder.vector(f"question {i}") @ query), 5) for i in range(5)), reverse=True
    )
