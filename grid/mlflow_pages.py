"""MLflow's paginated searches read to the end: the one loop over page tokens the grid and its report use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def all_pages(search: Callable[..., Any], **kwargs: Any) -> list:
    """Every result of an MLflow search call (`client.search_runs`, `client.search_experiments`), all pages."""
    out, token = [], None
    while True:
        page = search(**kwargs, max_results=1000, page_token=token)
        out.extend(page)
        token = page.token
        if not token:
            return out
