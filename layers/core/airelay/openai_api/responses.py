"""POST /v1/responses (stateless)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
