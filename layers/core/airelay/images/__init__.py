"""Image input: decoding with a pixel cap (decode.py) and fetching a URL without server-side request forgery (fetch.py).

Both import Pillow / httpx2 only when used, so only the classify function pays for them.
"""
