"""The `tollway` command line."""

__all__: list[str] = []
