"""What Pillow does not say of a JPEG: how many of its components its first scan holds, read from the markers.

libjpeg decodes a sequential JPEG a band of rows at a time only when its first scan holds every component; otherwise
(one scan per component, which the standard allows) it buffers every coefficient at full size, as for a progressive
one."""

from __future__ import annotations

FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOF0-SOF15 but DHT, JPG and DAC
START_OF_SCAN = 0xDA
NO_LENGTH = frozenset(range(0xD0, 0xDA)) | {0x01}  # RST0-7, SOI, EOI, TEM: a marker alone, no segment


def components_per_scan(data: bytes) -> tuple[int, int] | None:
    """(components in the frame, components in the first scan), or None when the header cannot be read that far."""
    frame = None
    at = 2  # after SOI
    while at + 1 < len(data):  # every step moves on by at least one byte
        # not a marker, or a fill byte before one: skipped, as libjpeg skips them
        if data[at] != 0xFF or data[at + 1] in (0x00, 0xFF):
            at += 1
            continue
        marker = data[at + 1]
        if marker in NO_LENGTH:
            at += 2
            continue
        length = int.from_bytes(data[at + 2 : at + 4])
        segment = data[at + 4 : at + 2 + length]
        if length < 2 or len(segment) < length - 2:
            return None
        if marker in FRAME_MARKERS:
            frame = segment[5] if len(segment) > 5 else None  # after precision, height and width
        elif marker == START_OF_SCAN:
            return (frame, segment[0]) if frame and segment else None
        at += 2 + length
    return None
