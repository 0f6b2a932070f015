"""A scripted guard-model endpoint for the safety tests (a module of its own: a second conftest.py would
shadow tests/serve/conftest.py for the tests that import from it)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class ScriptedGuard:
    """An OpenAI-compatible guard model that answers each request with the next scripted reply: a string (the
    verdict text), ("sleep", seconds) or ("status", code). It records every request body."""

    def __init__(self, replies: list):
        self.replies, self.bodies = list(replies), []
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            self.bodies.append(await request.json())
            reply = self.replies.pop(0)
            if isinstance(reply, tuple) and reply[0] == "sleep":
                await asyncio.sleep(reply[1])
                reply = "safe"
            if isinstance(reply, tuple) and reply[0] == "status":
                return JSONResponse({"error": {"message": "guard overloaded"}}, status_code=reply[1])
            return {"id": "g", "object": "chat.completion", "model": "guard",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply}}]}

        self.app = app
