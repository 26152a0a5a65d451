"""`python -m control_plane.demo.mock_upstream --port 9000 --name demo-a`: flags over `TOLLWAY_MOCK_*`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from control_plane.demo.mock_upstream.server import run
from control_plane.demo.mock_upstream.settings import MockUpstreamSettings

__all__ = ["main", "parse_settings"]


def parse_settings(argv: Sequence[str] | None = None) -> MockUpstreamSettings:
    """Settings from the environment, with the command-line flags that were given taking precedence."""
    parser = argparse.ArgumentParser(prog="python -m control_plane.demo.mock_upstream", description=__doc__)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--name", help="backend name, sent back in x-mock-backend")
    parser.add_argument("--model", dest="models", action="append", help="served model name (repeatable)")
    parser.add_argument("--first-token-delay-ms", type=int)
    parser.add_argument("--inter-token-delay-ms", type=int)
    parser.add_argument("--fail-status", type=int, help="answer requests with this status")
    parser.add_argument("--fail-times", type=int, help="with --fail-status: only the first N requests")
    parser.add_argument(
        "--hold-headers",
        action="store_const",
        const=True,
        help="streams: send the response headers only together with the first event",
    )
    parser.add_argument("--usage", choices=["report", "omit", "zero"], help="usage counts in replies")
    parser.add_argument("--cached-tokens", type=int, help="reported as prompt_tokens_details.cached_tokens")
    parser.add_argument("--log-level")
    parser.add_argument("--ssl-certfile", help="PEM certificate: serve HTTPS (with --ssl-keyfile)")
    parser.add_argument("--ssl-keyfile", help="PEM private key of --ssl-certfile")
    given = {key: value for key, value in vars(parser.parse_args(argv)).items() if value is not None}
    return MockUpstreamSettings(**given)


def main(argv: Sequence[str] | None = None) -> None:
    run(parse_settings(argv))


if __name__ == "__main__":
    main()
