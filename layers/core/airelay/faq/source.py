"""FAQ sources: JSON, YAML or CSV files of entries {id, question, answer, alternates?, tags?}, checked.

JSON / YAML: a list of entries, or a mapping with `entries: [...]` (and optionally `version: 1`).
CSV: a header row with `id,question,answer` and optionally `alternates,tags`; several alternates or tags in one
cell are separated by `|`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import PurePosixPath

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

FORMATS = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".csv": "csv"}
CELL_SEPARATOR = "|"
MAX_TEXT_CHARS = 4000
MAX_SOURCE_BYTES = 16 * 1024 * 1024  # YAML parses at 0.6-3.5 MB/s: within the indexer's 300 s and 1 GB with room
# PyYAML's libyaml loader where the wheel has libyaml, as PyYAML's docs advise (3.5 MB/s here, the Python one 0.6 MB/s)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FaqSourceError(ValueError):
    """The source file cannot be used; the message says where and why (never the whole file)."""


class FaqEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    id: str = Field(min_length=1, max_length=200)
    question: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    answer: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    alternates: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("alternates", "tags")
    @classmethod
    def _no_blank_items(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(v.strip() for v in values)
        if any(not v or len(v) > MAX_TEXT_CHARS for v in cleaned):
            raise ValueError(f"items must be non-empty texts of at most {MAX_TEXT_CHARS} characters")
        return cleaned

    @property
    def texts(self) -> tuple[str, ...]:
        """What gets embedded for this entry: the question first, then each alternate."""
        return (self.question, *dict.fromkeys(a for a in self.alternates if a != self.question))


@dataclass(frozen=True)
class FaqSource:
    entries: tuple[FaqEntry, ...]
    checksum: str  # sha256 of the source bytes, stored in the index

    @property
    def rows(self) -> int:
        return sum(len(e.texts) for e in self.entries)


def format_of(name: str) -> str:
    suffix = PurePosixPath(name.lower()).suffix
    if suffix not in FORMATS:
        raise FaqSourceError(f"unknown FAQ source type '{suffix or name}': use .json, .yaml, .yml or .csv")
    return FORMATS[suffix]


def parse_source(data: bytes, name: str) -> FaqSource:
    """Parse and check a source file's bytes; `name` (a file name or key) decides the format."""
    kind = format_of(name)
    if len(data) > MAX_SOURCE_BYTES:
        raise FaqSourceError(f"{name}: {len(data):,} bytes, over the {MAX_SOURCE_BYTES:,} a source may have")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FaqSourceError(f"{name}: not UTF-8 text") from None
    try:
        raw = {"json": _json, "yaml": _yaml, "csv": _csv}[kind](text, name)
    except RecursionError:
        raise FaqSourceError(f"{name}: nested too deeply") from None
    except FaqSourceError:
        raise
    except ValueError:  # what the parsers do not turn into their own errors: a value Python will not convert
        raise FaqSourceError(f"{name}: a value cannot be read (a number of over 4,300 digits, or a bad date)") from None
    return FaqSource(check_entries(raw, name), hashlib.sha256(data).hexdigest())


def check_entries(raw: object, name: str = "source") -> tuple[FaqEntry, ...]:
    if isinstance(raw, dict):
        if raw.get("version", 1) != 1:
            raise FaqSourceError(f"{name}: unsupported source version {raw.get('version')!r} (expected 1)")
        raw = raw.get("entries")
    if not isinstance(raw, list) or not raw:
        raise FaqSourceError(f"{name}: expected a non-empty list of entries (or a mapping with 'entries')")
    entries, seen, chars = [], set(), 0
    for position, item in enumerate(raw, start=1):
        chars += text_chars(item)
        if chars > MAX_SOURCE_BYTES:  # a file's texts have no more characters than it has bytes, unless aliased
            raise FaqSourceError(
                f"{name}: entry {position}: the entries' texts add up to over {MAX_SOURCE_BYTES:,} characters "
                "(YAML aliases repeat what they name: write the entries out)"
            )
        try:
            entry = FaqEntry.model_validate(item)
        except ValidationError as exc:
            raise FaqSourceError(f"{name}: entry {position}{_label(item)}: {_problems(exc)}") from None
        if entry.id in seen:
            raise FaqSourceError(f"{name}: entry {position}: duplicate id '{entry.id}'")
        seen.add(entry.id)
        entries.append(entry)
    return tuple(entries)


def text_chars(item: object) -> int:
    """The characters of an entry's texts as parsed, counted before it is checked: the question, answer, alternates and
    tags that are texts or bytes (anything else fails the check; bytes count their length, never less than as text)."""
    if not isinstance(item, dict):
        return 0
    texts = [item.get("question"), item.get("answer")]
    for key in ("alternates", "tags"):
        if isinstance(item.get(key), list):
            texts += item[key]
    return sum(len(text) for text in texts if isinstance(text, str | bytes))  # YAML's !!binary: bytes, read as text


def _label(item: object) -> str:
    ident = item.get("id") if isinstance(item, dict) else None
    # only a scalar: a YAML alias can make a nested one that takes hours to render
    return f" (id '{str(ident)[:60]}')" if isinstance(ident, str | int) and ident != "" else ""


def _problems(exc: ValidationError) -> str:
    parts = []
    for problem in exc.errors(include_input=False)[:3]:
        where = ".".join(str(p) for p in problem["loc"]) or "entry"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)


def _json(text: str, name: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FaqSourceError(f"{name}: not valid JSON ({exc.msg}, line {exc.lineno})") from None


def _yaml(text: str, name: str) -> object:
    try:
        return yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        if "nesting depth" in str(getattr(exc, "problem", "")):  # libyaml's own limit, 1000 levels
            raise FaqSourceError(f"{name}: nested too deeply") from None
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise FaqSourceError(f"{name}: not valid YAML{where}") from None


def _csv(text: str, name: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        return _csv_items(reader, name)
    except csv.Error as exc:  # the csv module's messages name the problem, never the text
        raise FaqSourceError(f"{name}: not valid CSV at line {reader.line_num + 1} ({exc})") from None


def _csv_items(reader: csv.DictReader, name: str) -> list[dict]:
    header = list(reader.fieldnames or ())
    columns = set(header)
    if len(columns) < len(header):
        raise FaqSourceError(f"{name}: the CSV header names a column twice")
    missing = {"id", "question", "answer"} - columns
    if missing:
        raise FaqSourceError(f"{name}: the CSV header lacks {', '.join(sorted(missing))}")
    unknown = columns - {"id", "question", "answer", "alternates", "tags"}
    if unknown:
        raise FaqSourceError(f"{name}: unknown CSV columns {', '.join(sorted(unknown))}")
    rows = []
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # blank line
        if any((cell or "").strip() for cell in row.get(None) or ()):  # DictReader's key for cells past the header
            raise FaqSourceError(
                f"{name}: line {reader.line_num}: more cells than the header has columns (quote a cell that holds a comma)"
            )
        item = {k: row.get(k) or "" for k in ("id", "question", "answer")}
        for key in ("alternates", "tags"):
            item[key] = [p.strip() for p in (row.get(key) or "").split(CELL_SEPARATOR) if p.strip()]
        rows.append(item)
    return rows
