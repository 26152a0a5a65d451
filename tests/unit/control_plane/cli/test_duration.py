from datetime import timedelta

import pytest

from control_plane.cli.duration import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("60s", timedelta(seconds=60)), ("15m", timedelta(minutes=15)), ("12h", timedelta(hours=12)),
     ("30d", timedelta(days=30)), ("0s", timedelta(0)), (" 5m ", timedelta(minutes=5))],
)  # fmt: skip
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "60", "1w", "-5s", "1.5h", "5 minutes", "s", "99999d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|ten years"):
        parse_duration(text)
