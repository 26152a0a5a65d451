"""The response cache: an exact layer and a semantic layer, answers served by ext_proc (see contracts)."""

__all__: list[str] = []
