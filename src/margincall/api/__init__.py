"""The risk engine as a service: FastAPI app, API keys with roles, rate limits, WebSocket streams, metrics."""

from margincall.api.app import create_app
from margincall.api.keys import Principal, Role
from margincall.api.service import Service

__all__ = ["Principal", "Role", "Service", "create_app"]
