"""KeyAuthorizer: hands API Gateway the API key a request carries, so the usage plan meters and throttles it.

The API's ApiKeySourceType is AUTHORIZER: API Gateway takes the key from `usageIdentifierKey` and itself refuses
(403) a key that is not in the usage plan, so this function checks nothing but that a key was sent: `x-api-key`
(airelay's own routes) or `Authorization: Bearer <key>` (the OpenAI-compatible /v1 routes, as OpenAI's SDKs send it).
"""


def handler(event, _context):
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items() if value}
    key = headers.get("x-api-key", "")
    if event.get("resource", "").startswith("/v1/"):
        scheme, _, token = headers.get("authorization", "").partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else ""
    if not key:
        raise Exception("Unauthorized")  # API Gateway's way: this exact message answers 401
    api = event["methodArn"].split("/", 2)[:2]  # arn:...:api-id/stage: every route of this stage, so a cached
    return {  # answer holds for the key's other routes too
        "principalId": "api-key",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "/".join(api) + "/*"}],
        },
        "usageIdentifierKey": key,
    }
