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
        # the key set is cached for 5 minutes; no per-key cache, which would trust a key the issuer dropped for as
        # long as the container lives
        self.keys = jwt.PyJWKClient(jwks_url, cache_keys=False, lifespan=300, timeout=5)

    def claims(self, token: str) -> dict:
        """The token's claims, with a non-empty string `sub`. Blocking on a key cache miss: call it from a worker
        thread."""
        try:
            key = self.keys.get_signing_key_from_jwt(token)
        except (self.jwt.PyJWKClientConnectionError, self.jwt.PyJWKSetError, ValueError):  # unreachable, not keys
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
        except (self.jwt.PyJWTError, TypeError, ValueError):  # also an `alg` that does not fit the key's type
            raise Unauthorized("A valid bearer token is required.") from None
        if not isinstance(claims["sub"], str) or not claims["sub"].strip():  # no subject, no identity of its own
            raise Unauthorized("A valid bearer token is required.")
        return claims


def holds_claim(claims: dict, rule: tuple[str, str] | None) -> bool:
    """Whether `claims` hold the OPERATOR_CLAIM rule's value: the claim equals it, lists it (Cognito's
    `cognito:groups`), or names it among space-separated words (an OAuth `scope`)."""
    if rule is None:
        return False
    name, value = rule
    found = claims.get(name)
    if isinstance(found, str):
        return found == value or value in found.split()
    return isinstance(found, list) and value in found


def verifier_for(settings: Settings) -> JwtVerifier | None:
    if not settings.jwt_issuer:
        return None
    jwks_url = settings.jwt_jwks_url or settings.jwt_issuer.rstrip("/") + "/.well-known/jwks.json"
    return JwtVerifier(settings.jwt_issuer, settings.jwt_audience, jwks_url)
