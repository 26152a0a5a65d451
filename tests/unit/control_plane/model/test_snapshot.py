import pytest
from pydantic import ValidationError

from control_plane.model import Backend, Model, RegistrySpec, Snapshot


def _model(name: str, *aliases: str, url: str = "http://127.0.0.1:9000/v1") -> Model:
    return Model(name=name, aliases=aliases, backends=(Backend(name="b", base_url=url),))


def test_resolve_by_name_and_alias() -> None:
    snapshot = Snapshot(version=3, spec=RegistrySpec(models=(_model("llama", "l3"), _model("qwen"))))
    assert snapshot.resolve("llama") is snapshot.resolve("l3")
    resolved = snapshot.resolve("l3")
    assert resolved is not None
    assert resolved.name == "llama"
    assert snapshot.resolve("gpt") is None


def test_alias_colliding_with_another_model_is_refused() -> None:
    with pytest.raises(ValidationError, match="'qwen' is used by both 'llama' and 'qwen'"):
        RegistrySpec(models=(_model("llama", "qwen"), _model("qwen")))


def test_duplicate_model_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="used by both"):
        RegistrySpec(models=(_model("a"), _model("a")))


def test_model_rules() -> None:
    with pytest.raises(ValidationError, match="duplicate backend names"):
        Model(
            name="m",
            backends=(Backend(name="b", base_url="http://h"), Backend(name="b", base_url="http://i")),
        )
    with pytest.raises(ValidationError, match="share one scheme and base path"):
        Model(
            name="m",
            backends=(
                Backend(name="a", base_url="http://h/v1"),
                Backend(name="b", base_url="http://i/openai/v1"),
            ),
        )
    with pytest.raises(ValidationError, match="alias equals the model name"):
        _model("m", "m")
    with pytest.raises(ValidationError):
        Model(name="m", backends=())


def test_with_and_without_model() -> None:
    spec = RegistrySpec(models=(_model("a"),))
    replaced = spec.with_model(_model("a", "alias"))
    assert [m.aliases for m in replaced.models] == [("alias",)]
    assert [m.name for m in replaced.with_model(_model("b")).models] == ["a", "b"]
    assert spec.without_model("a").models == ()


def test_snapshot_round_trips_through_json() -> None:
    snapshot = Snapshot(version=7, spec=RegistrySpec(models=(_model("meta-llama/Llama-3-8B", "l3"),)))
    assert Snapshot.model_validate_json(snapshot.model_dump_json()) == snapshot


def test_replacing_a_model_keeps_its_place() -> None:
    spec = RegistrySpec(models=(_model("a"), _model("b")))
    assert spec.with_model(_model("a")) == spec
    assert [m.name for m in spec.with_model(_model("a", "x")).models] == ["a", "b"]
