"""Runs one function's Lambda handler with one event and prints the response, as `sam local invoke` would.

python -m local.invoke chat --event events/chat_buffered.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from .lambda_bridge import Container
from .template import functions


def find_function(name: str):
    wanted = name.lower().removesuffix("function")
    for function in functions():
        if function.name.lower().removesuffix("function") == wanted:
            return function
    names = ", ".join(f.name for f in functions())
    raise SystemExit(f"no function '{name}' in template.yaml (functions: {names})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.invoke", description=__doc__.splitlines()[0])
    parser.add_argument("function", help="the function's logical id, e.g. ChatFunction or chat")
    parser.add_argument("--event", "-e", required=True, type=Path, help="an API Gateway event file (see events/)")
    args = parser.parse_args(argv)
    try:
        event = json.loads(args.event.read_text("utf-8"))
    except OSError as exc:
        print(f"error: {args.event}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # not JSON, or not UTF-8
        print(f"error: {args.event} is not a JSON event: {exc}", file=sys.stderr)
        return 2
    with contextlib.redirect_stdout(sys.stderr):  # the function's own lines (logs, metrics) go where SAM shows them
        response = Container(find_function(args.function)).invoke(event).result()
    json.dump(response, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
