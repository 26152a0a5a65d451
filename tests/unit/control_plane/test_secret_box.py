"""SecretBox: seal/open round trips, key rotation, and errors that never carry secrets."""

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from control_plane.errors import SecretKeyError, SecretUnreadableError
from control_plane.secret_box import SecretBox, generate_key

CLEAR = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"


def _box(*keys: str) -> SecretBox:
    return SecretBox(SecretStr(",".join(keys)))


def test_seal_then_open_round_trips_and_ciphertext_hides_the_value() -> None:
    box = _box(generate_key())
    first, second = box.seal(CLEAR), box.seal(CLEAR)
    assert first != second  # a fresh IV every time
    assert CLEAR not in first
    assert "abcdefghijklmnop" not in first
    assert first.startswith("gAAAA")  # Fernet's version byte, base64
    assert box.open(first) == CLEAR
    assert box.open(second) == CLEAR
    assert box.open(box.seal("naïve ✓")) == "naïve ✓"


def test_generate_key_gives_distinct_fernet_keys() -> None:
    one, two = generate_key(), generate_key()
    assert one != two
    assert len(one) == 44
    Fernet(one.encode())  # accepted by Fernet itself


def test_wrong_key_and_corrupt_values_raise_without_echoing() -> None:
    sealed = _box(generate_key()).seal(CLEAR)
    other = _box(generate_key())
    with pytest.raises(SecretUnreadableError) as wrong_key:
        other.open(sealed)
    tampered = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    for corrupt in (tampered, "not-a-token", "", "gAAAA☃"):
        with pytest.raises(SecretUnreadableError) as corrupt_error:
            _box(generate_key()).open(corrupt)
        assert "gAAAA" not in str(corrupt_error.value)
    message = str(wrong_key.value)
    assert message.startswith("a sealed secret does not open with the configured secret key(s)")
    assert sealed not in message
    assert CLEAR not in message
    assert wrong_key.value.__cause__ is None
    assert wrong_key.value.__suppress_context__ is True


def test_several_keys_first_seals_all_open_and_reseal_moves_to_the_first() -> None:
    old, new = generate_key(), generate_key()
    sealed_with_old = _box(old).seal(CLEAR)
    rotating = _box(new, old)
    assert rotating.open(sealed_with_old) == CLEAR
    assert _box(new).open(rotating.seal(CLEAR)) == CLEAR  # the first key seals
    resealed = rotating.reseal(sealed_with_old)
    assert _box(new).open(resealed) == CLEAR
    with pytest.raises(SecretUnreadableError):
        _box(old).open(resealed)
    assert repr(rotating) == "SecretBox(keys=2)"
    assert _box(f" {new} , {old} ").open(sealed_with_old) == CLEAR  # spaces around keys are ignored


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "the secret key is empty"),
        (" , ", "the secret key is empty"),
        ("too-short-to-be-a-key", "secret key number 1 of 1 is malformed"),
        ("ключ", "secret key number 1 of 1 is malformed"),
    ],
)
def test_malformed_keys_are_refused_without_echoing(key: str, message: str) -> None:
    with pytest.raises(SecretKeyError, match=message) as error:
        SecretBox(SecretStr(key))
    if key.strip(" ,"):
        assert key not in str(error.value)


def test_second_key_malformed_is_named_by_position() -> None:
    with pytest.raises(SecretKeyError, match="secret key number 2 of 2 is malformed") as error:
        _box(generate_key(), "nope-nope")
    assert "nope-nope" not in str(error.value)
