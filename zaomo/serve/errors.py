"""OpenAI-shaped errors: every failure a client sees is `{"error": {message, type, param, code}}` with the
HTTP status the official clients map to their exception classes."""

from __future__ import annotations

from fastapi.responses import JSONResponse


class APIError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def unsupported(param: str, why: str) -> APIError:
    """A request parameter this engine cannot honour: refused by name rather than silently dropped."""
    return APIError(400, f"'{param}' is not supported {why}", param=param, code="unsupported_parameter")


class BodyLimit:
    """Refuse a body whose declared size is over the limit before reading it (plain ASGI: no per-request cost
    beyond a header scan)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            size = dict(scope["headers"]).get(b"content-length", b"")
            if size.isdigit() and int(size) > self.limit:
                resp = JSONResponse(error_body(f"request body of {int(size)} bytes exceeds serve.max_body_bytes="
                                               f"{self.limit}", "invalid_request_error", code="body_too_large"),
                                    status_code=413)
                await resp(scope, receive, send)
                return
        await self.app(scope, receive, send)
