"""Every request no processor is registered for: 404 `unknown_url`, the upstream is never contacted."""

from __future__ import annotations

from ext_proc.errors import UnknownUrlError
from ext_proc.exchange import HeadersEvent, Reply
from ext_proc.processor import PassThroughProcessor, RequestInfo

__all__ = ["UnknownUrlProcessor"]


class UnknownUrlProcessor(PassThroughProcessor):
    __slots__ = ("_request",)

    def __init__(self, request: RequestInfo) -> None:
        self._request = request

    async def request_headers(self, event: HeadersEvent) -> Reply:
        raise UnknownUrlError(self._request.method, self._request.path)
