"""Paging of long lists (tenants, keys, audit entries): which slice a page shows and the links around
it. Pages count from 1; a page past the end shows the last one."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode

__all__ = ["DEFAULT_PER_PAGE", "MAX_PER_PAGE", "Pager", "paginate"]

T = TypeVar("T")

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500


@dataclass(frozen=True, slots=True)
class Pager:
    """Where a page sits in a list of `total` items; `link(n)` is page n's URL (query kept)."""

    page: int
    per_page: int
    total: int
    path: str
    query: tuple[tuple[str, str], ...] = ()

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def first_item(self) -> int:
        """1-based index of the first item shown (0 when the list is empty)."""
        return 0 if self.total == 0 else (self.page - 1) * self.per_page + 1

    @property
    def last_item(self) -> int:
        return min(self.total, self.page * self.per_page)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def link(self, page: int) -> str:
        params = [(k, v) for k, v in self.query if k != "page" and v != ""]
        if page > 1:
            params.append(("page", str(page)))
        if self.per_page != DEFAULT_PER_PAGE:
            params = [(k, v) for k, v in params if k != "per_page"] + [("per_page", str(self.per_page))]
        return f"{self.path}?{urlencode(params)}" if params else self.path


def paginate(
    items: Sequence[T],
    *,
    page: int,
    per_page: int,
    path: str,
    query: Sequence[tuple[str, str]] = (),
) -> tuple[Sequence[T], Pager]:
    """The items of page `page` (clamped to 1..pages) and its pager."""
    per_page = min(max(1, per_page), MAX_PER_PAGE)
    pages = max(1, math.ceil(len(items) / per_page))
    page = min(max(1, page), pages)
    start = (page - 1) * per_page
    pager = Pager(page=page, per_page=per_page, total=len(items), path=path, query=tuple(query))
    return items[start : start + per_page], pager
