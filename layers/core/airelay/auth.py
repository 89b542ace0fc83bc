"""Optional sign-in: bearer JWTs checked against the issuer's published keys (JWKS), for apps with user accounts."""

from __future__ import annotations

from .errors import ProviderUnavailable, Unauthorized
from .settings import Settings

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


class JwtVerifier:
    """Checks signature, issuer, audience and expiry; the issuer's keys are fetched once and cached."""

    def __init__(self, issuer: str, audience: str, jwks_url: str) -> None:
        import jwt

        self.jwt = jwt
        self.issuer = issuer
        self.audience = audience
        self.keys = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)

    def subject(self, token: str) -> str:
        """The token's `sub`. Blocking on a key cache miss: call it from a worker thread."""
        try:
            key = self.keys.get_signing_key_from_jwt(token)
        except self.jwt.PyJWKClientConnectionError:
            raise ProviderUnavailable("The sign-in service could not be reached.") from None
        except (self.jwt.PyJWKClientError, self.jwt.InvalidTokenError):
            raise Unauthorized("A valid bearer token is required.") from None
        try:
            claims = self.jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except self.jwt.InvalidTokenError:
            raise Unauthorized("A valid bearer token is required.") from None
        return str(claims["sub"])


def verifier_for(settings: Settings) -> JwtVerifier | None:
    if not settings.jwt_issuer:
        return None
    jwks_url = settings.jwt_jwks_url or settings.jwt_issuer.rstrip("/") + "/.well-known/jwks.json"
    return JwtVerifier(settings.jwt_issuer, settings.jwt_audience, jwks_url)
