"""Your app's backend mints a short-lived visitor token for each browser session; the browser sends it to airelay in
`x-visitor-token`. Needs only PyJWT and the secret airelay checks with (VISITOR_TOKEN_SECRET or its SSM parameter)."""

import os
import time

import jwt  # pip install PyJWT

SECRET = os.environ["VISITOR_TOKEN_SECRET"]  # at least 32 bytes: openssl rand -hex 32


def visitor_token(visitor_id: str, ttl_s: int = 900, limits: dict | None = None) -> str:
    """visitor_id: 1-64 letters, digits, '.', '_' or '-' (e.g. your session id); limits: any of
    requests_per_minute, tokens_per_minute, usd_per_day for this visitor (else airelay's defaults)."""
    now = int(time.time())
    claims = {"sub": visitor_id, "aud": "airelay", "iat": now, "exp": now + ttl_s}
    if limits:
        claims["limits"] = limits
    return jwt.encode(claims, SECRET, algorithm="HS256")
