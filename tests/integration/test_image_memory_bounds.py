"""Images that pass the pixel limit and then take far more memory than it is there to bound. Measured in a fresh
interpreter, as tests/unit/test_image_decode.py measures decoding (Pillow's and libjpeg's buffers are outside
Python's allocator; the kernel's high-water mark is reset and read)."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import textwrap

from PIL import Image

from airelay.settings import Settings
from tests.conftest import ROOT
from tests.support.photos import jpeg_bytes
from tests.unit.test_image_decode import peak_memory_of_decoding

MB = 1024 * 1024
DEFAULT_MAX_PIXELS = Settings().image_max_pixels
MODEL = ROOT / "functions" / "classify" / "model" / "efficientnet-lite0.onnx"


def segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def flat_sequential_jpeg(width: int, height: int, interleaved: bool) -> bytes:
    """A flat grey 4:4:4 baseline (SOF0, not progressive) JPEG: its three components in one interleaved scan, or in
    one scan each (non-interleaved, which the JPEG standard allows in sequential mode too). Huffman tables of one
    one-bit code each make every 8 x 8 block two bits: "no DC change", "end of block"."""
    blocks = -(-width // 8) * -(-height // 8)
    dqt = segment(0xFFDB, b"\x00" + b"\x01" * 64)
    components = b"".join(bytes([c, 0x11, 0]) for c in (1, 2, 3))
    sof0 = segment(0xFFC0, struct.pack(">BHHB", 8, height, width, 3) + components)
    one_code = bytes([1] + [0] * 15) + b"\x00"  # one code, one bit long, for symbol 0
    dht = segment(0xFFC4, b"\x00" + one_code + b"\x10" + one_code)  # DC table 0 and AC table 0

    def scan(ids: tuple[int, ...], n_blocks: int) -> bytes:
        bits = 2 * n_blocks
        data = bytes(bits // 8) + (bytes([0xFF >> (bits % 8)]) if bits % 8 else b"")
        header = bytes([len(ids)]) + b"".join(bytes([c, 0x00]) for c in ids) + b"\x00\x3f\x00"
        return segment(0xFFDA, header) + data

    scans = scan((1, 2, 3), 3 * blocks) if interleaved else b"".join(scan((c,), blocks) for c in (1, 2, 3))
    return b"\xff\xd8" + dqt + sof0 + dht + scans + b"\xff\xd9"


def test_a_baseline_jpeg_with_one_scan_per_component_is_bounded_like_a_progressive_one():
    # GIVEN two 750 KB baseline JPEGs of 8000 x 8000 flat grey pixels (64 M pixels: accepted, as they are decoded at
    # 1/8 scale), one with its components interleaved in one scan, the other with a scan per component
    interleaved = flat_sequential_jpeg(8000, 8000, interleaved=True)
    per_component = flat_sequential_jpeg(8000, 8000, interleaved=False)
    assert len(per_component) < 1 * MB
    # WHEN each is decoded in a fresh interpreter with the default limit
    small = peak_memory_of_decoding(interleaved)
    result = peak_memory_of_decoding(per_component)
    # THEN the interleaved one decodes small, in little memory (as the docs say of a baseline JPEG)
    assert small["size"] == [1000, 1000] and small["peak_growth_kb"] * 1024 < 32 * MB
    # AND the one with a scan per component, whose decoder must hold every coefficient at full size as a
    # progressive one's does (2 bytes per pixel and component: 384 MB here, 1 GB at 13000 x 13000 from a 2 MB
    # file), is either refused from its header like a progressive JPEG or decoded in bounded memory
    refused = (result.get("status"), result.get("code")) == (413, "image_too_large")
    assert refused or result["peak_growth_kb"] * 1024 < 5 * DEFAULT_MAX_PIXELS, result


CLASSIFY = textwrap.dedent(
    """
    import json, re, sys
    from airelay.images.decode import decode_image
    from airelay.providers.local_efficientnet import LocalEfficientNet

    def status_kb(field):
        with open("/proc/self/status") as status:
            return int(re.search(field + r":\\s+(\\d+) kB", status.read()).group(1))

    model = LocalEfficientNet(path=sys.argv[1])
    model.classify_sync(decode_image(open(sys.argv[2], "rb").read(), 16_000_000))  # warm: the runtime's own buffers
    image = decode_image(sys.stdin.buffer.read(), 16_000_000)
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    before = status_kb("VmRSS")
    try:
        labels = model.classify_sync(image)
        result = {"labels": len(labels)}
    except Exception as failed:
        result = {"error": type(failed).__name__}
    result["peak_growth_kb"] = status_kb("VmHWM") - before
    print(json.dumps(result))
    """
)


def test_a_long_thin_image_is_classified_in_bounded_memory(tmp_path):
    # GIVEN a 16 KB PNG of 64 x 250,000 pixels (16 M pixels: just within the default limit), already decoded
    out = io.BytesIO()
    Image.new("L", (64, 250_000)).save(out, "PNG")
    assert len(out.getvalue()) < 64 * 1024
    # WHEN the local model, warmed on the coffee photo, classifies it in a fresh interpreter
    warm = tmp_path / "coffee.jpg"
    warm.write_bytes(jpeg_bytes())
    env = {"PYTHONPATH": f"{ROOT / 'layers' / 'core'}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", CLASSIFY, str(MODEL), str(warm)],
        input=out.getvalue(),
        capture_output=True,
        env=env,
        timeout=300,
        check=True,
    )
    result = json.loads(done.stdout)
    # THEN it needs memory for a 224 x 224 input, not for the image stretched to 256 x 1,000,000 pixels (1 GB: on
    # the 1536 MB function, a request that runs it out of memory); a full-size RGB copy (64 MB) is the most allowed
    assert result["peak_growth_kb"] * 1024 < 4 * DEFAULT_MAX_PIXELS + 32 * MB, result
