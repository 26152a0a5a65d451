"""Tollway's Envoy external processor (grpc.aio): one gRPC stream per HTTP request.

Entry points: `ext_proc.app.run(settings)` with `ext_proc.settings.ExtProcSettings`, or
`python -m ext_proc`. Importing this package does no work; the protobuf classes are loaded by `run`.
"""

__all__: list[str] = []
