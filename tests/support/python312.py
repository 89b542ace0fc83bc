"""The python3.12 interpreter (the Lambda runtime's version) that `sam build` and the cold-start benchmark use."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def find_python312() -> Path:
    """PY312 if set, else pyenv's newest 3.12, else a python3.12 on PATH (not pyenv's shim)."""
    candidates = [Path(os.environ["PY312"])] if os.environ.get("PY312") else []
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(pyenv.glob("versions/3.12.*/bin/python3.12"), reverse=True)
    on_path = shutil.which("python3.12")
    if on_path and "shims" not in on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("no python3.12 found: set PY312=/path/to/python3.12")
