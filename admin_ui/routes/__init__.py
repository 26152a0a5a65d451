"""One router per admin resource."""

__all__: list[str] = []
