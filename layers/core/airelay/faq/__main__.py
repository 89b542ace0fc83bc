"""python -m airelay.faq build SOURCE --to URL [--model ID] [--float16] | info URL

python -m airelay.faq build layers/core/airelay/data/faq/shop_faq.yaml --to file://.airelay/faq-index.bin
python -m airelay.faq build faq.csv --to s3://my-bucket/index/faq-index.bin --model openai/text-embedding-3-small
python -m airelay.faq info s3://my-bucket/index/faq-index.bin
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from ..errors import AirelayError
from ..settings import get_settings

DEFAULT_MODEL = "local/use-multilingual"


class ProgressBar:
    """A one-line progress bar on stderr (redrawn in place on a terminal, a few plain lines otherwise)."""

    def __init__(self, label: str, stream=sys.stderr, width: int = 30) -> None:
        self.label, self.stream, self.width = label, stream, width
        self.started = time.perf_counter()
        self.tty = stream.isatty()
        self.last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        filled = int(self.width * fraction)
        line = (
            f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} rows "
            f"{time.perf_counter() - self.started:5.1f} s"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
        elif int(fraction * 10) != self.last_tenth:  # logs and CI: at most 11 lines
            self.last_tenth = int(fraction * 10)
            self.stream.write(line + "\n")
        self.stream.flush()


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a whole number, 1 or more: '{text}'")
    return value


async def build(args: argparse.Namespace) -> int:
    from ..providers import registry  # these read the settings when imported: main checked them first
    from .build import build_from, read_source
    from .store import open_object

    open_object(args.to)  # a malformed target is refused now, not after the whole source was embedded
    stored = read_source(args.source)  # and a bad source before the model loads
    print(f"building {args.to} from {args.source} with {args.model}", file=sys.stderr, flush=True)
    embedder = await registry.embedder(args.model)
    progress = None if args.quiet else ProgressBar("embedding")
    report = await build_from(
        stored, args.to, embedder, float16=args.float16, batch_rows=args.batch_rows, progress=progress
    )
    if report.superseded:
        print(f"error: {args.source} changed while it was built; nothing was written, build again", file=sys.stderr)
        return 1
    print(
        f"wrote {report.url}: {report.entries} entries, {report.rows} rows x {report.dimension} {report.dtype}, "
        f"{report.bytes:,} bytes, model {report.model}, {report.embed_calls} embedding calls, "
        f"{report.usage.prompt_tokens} tokens, {report.seconds:.1f} s",
        file=sys.stderr,
    )
    return 0


def info(args: argparse.Namespace) -> int:
    from .index import deserialize
    from .store import open_object

    data, version = open_object(args.url).read()
    index = deserialize(data)
    meta = index.meta
    print(
        f"{args.url} (version {version})\n  model {meta.model}, {meta.dimension} dimensions, stored as {meta.dtype}\n"
        f"  {len(index.entries)} entries, {index.rows} rows, {len(data):,} bytes\n"
        f"  source sha256 {meta.source_sha256}\n  built {meta.built_at}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airelay.faq", description="Build or inspect an FAQ index.")
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="embed an FAQ source (JSON, YAML or CSV) into an index object")
    b.add_argument("source", help="path, file:// or s3:// URL of the source; .json, .yaml/.yml or .csv")
    b.add_argument("--to", required=True, help="where to write the index: file://PATH or s3://BUCKET/KEY")
    b.add_argument("--model", default=DEFAULT_MODEL, help=f"embedding model id (default {DEFAULT_MODEL})")
    b.add_argument("--float16", action="store_true", help="store the matrix as float16 (half the size)")
    b.add_argument("--batch-rows", type=positive_int, default=None, help="texts per embedding call")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    i = commands.add_parser("info", help="print an index's metadata")
    i.add_argument("url")
    args = parser.parse_args(argv)
    try:
        get_settings()
        return asyncio.run(build(args)) if args.command == "build" else info(args)
    except ValueError as exc:  # a bad setting, URL or source
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: not found: {exc.filename or exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a directory, a file that may not be read
        print(f"error: {exc.filename}: {exc.strerror}" if exc.filename else f"error: {exc}", file=sys.stderr)
        return 2
    except AirelayError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
