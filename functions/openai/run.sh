#!/bin/bash
# Entry point of the OpenAI-compatible function under the AWS Lambda Web Adapter (LWA).
# template.yaml sets Handler: run.sh and AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap, so
# LWA runs this script, waits until GET $AWS_LWA_READINESS_CHECK_PATH answers,
# then forwards every API Gateway request to this server and streams the reply.
set -euo pipefail

TASK_ROOT="${LAMBDA_TASK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
PORT="${AWS_LWA_PORT:-${PORT:-8080}}"

# Function code and its own dependencies (uvicorn) first, then the CoreLayer
# (/opt/python: airelay, fastapi, openai, ...), then whatever the runtime set.
export PYTHONPATH="${TASK_ROOT}:/opt/python${PYTHONPATH:+:${PYTHONPATH}}"
export PATH="${TASK_ROOT}/bin:${PATH}"

cd "${TASK_ROOT}"

PYTHON="${AIRELAY_PYTHON:-$(command -v python3 || command -v python)}"

# Only LWA talks to this server, over loopback: bind 127.0.0.1, one worker (one
# request per execution environment). --timeout-keep-alive is longer than the
# adapter's idle connection reuse, so uvicorn never closes a pooled connection
# just as LWA sends the next request on it (uvicorn's default is 5 s).
# Access logs are off: API Gateway and Powertools log requests already.
# No proxy headers: the caller's address comes from API Gateway's request context
# (x-amzn-request-context, set by LWA), never from an X-Forwarded-For a client wrote.
exec "${PYTHON}" -m uvicorn app:app \
    --host "${UVICORN_HOST:-127.0.0.1}" \
    --port "${PORT}" \
    --workers 1 \
    --no-proxy-headers \
    --no-access-log \
    --timeout-keep-alive 120 \
    --timeout-graceful-shutdown 2 \
    --no-server-header \
    --log-level "$(printf '%s' "${LOG_LEVEL:-info}" | tr '[:upper:]' '[:lower:]')"
