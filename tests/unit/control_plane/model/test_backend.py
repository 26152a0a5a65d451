import pytest
from pydantic import ValidationError

from control_plane.model import Backend


def test_base_url_parts() -> None:
    backend = Backend(name="gpu-1", base_url="http://10.0.0.5:8000/v1/")
    assert backend.base_url == "http://10.0.0.5:8000/v1"
    assert (backend.scheme, backend.host, backend.port, backend.base_path) == (
        "http",
        "10.0.0.5",
        8000,
        "/v1",
    )
    assert backend.host_is_ip
    assert not backend.uses_tls


def test_default_ports_by_scheme() -> None:
    assert Backend(name="a", base_url="https://api.example.com/v1").port == 443
    assert Backend(name="a", base_url="http://vllm.internal").port == 80
    assert Backend(name="a", base_url="http://vllm.internal").base_path == ""


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://x/v1", "http:// or https://"),
        ("http:///v1", "needs a host"),
        ("http://h/v1?key=1", "query"),
        ("http://user:pw@h/v1", "credentials"),
        ("http://h:99999/v1", "invalid port"),
        ("http://h/v 1", "not allowed"),
    ],
)
def test_bad_base_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Backend(name="a", base_url=url)


def test_name_weight_priority_bounds() -> None:
    with pytest.raises(ValidationError):
        Backend(name="Not_A_Label", base_url="http://h")
    with pytest.raises(ValidationError):
        Backend(name="a", base_url="http://h", weight=0)
    with pytest.raises(ValidationError):
        Backend(name="a", base_url="http://h", priority=8)
