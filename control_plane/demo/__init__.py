"""Demo pieces for `make run`, integration tests and benchmarks: a mock OpenAI upstream."""

__all__: list[str] = []
