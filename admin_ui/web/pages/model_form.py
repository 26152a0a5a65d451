"""The model form of the admin UI: its inputs (simple fields, repeated backend rows, JSON textareas for
the traffic policy and the rarer settings), turning a post into what `Model.model_validate` takes, and
the facts of each model the list shows.

Backend rows are named `backends.<row>.<field>`; a row left blank is ignored, and validation messages
about the n-th backend kept are shown on the row it came from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from admin_ui.web.formatting import count, money_micro
from admin_ui.web.forms import blank_to_none, lines, nest
from admin_ui.web.pages.editing import flatten, pretty_json
from control_plane.model import Model, RegistrySpec
from control_plane.model.backend import Backend, ProviderKind
from control_plane.model.price import price_at
from control_plane.model.traffic import LbPolicy, TrafficPolicy

__all__ = [
    "BACKEND_FIELDS",
    "JSON_FIELDS",
    "MAX_ROWS",
    "MODEL_FIELDS",
    "PROVIDERS",
    "ParsedModel",
    "form_fields",
    "model_rows",
    "model_values",
    "new_model_values",
    "parse_model_form",
]

BACKEND_FIELDS: tuple[str, ...] = tuple(Backend.model_fields)
"""The inputs of one backend row: `backends.<row>.<field>`."""
JSON_FIELDS: tuple[str, ...] = ("traffic", "upstream_headers", "registration", "cache")
"""Inputs holding a JSON value (blank = the model's default)."""
MODEL_FIELDS: tuple[str, ...] = (
    "name",
    "description",
    "owned_by",
    "aliases",
    "upstream_credentials",
    *JSON_FIELDS,
)
"""The model's other inputs, by field name."""
MAX_ROWS = 50
"""At most this many backend rows on the form."""
PROVIDERS = [(kind.value, kind.value) for kind in ProviderKind]

_ROW_BLANK_KEYS = ("name", "base_url", "ca_file")  # a row with these blank is an unused row


def form_fields(rows: int) -> list[str]:
    """Every input name of a form with `rows` backend rows (plus `backends` for the list as a whole)."""
    names = [*MODEL_FIELDS[:4], "backends"]
    names += [f"backends.{row}.{name}" for row in range(rows) for name in BACKEND_FIELDS]
    return names + list(MODEL_FIELDS[4:])


def new_model_values() -> dict[str, Any]:
    """The form of a new model: the defaults (owned_by, the default traffic policy as JSON)."""
    return {
        "name": "",
        "description": "",
        "owned_by": "tollway",
        "aliases": "",
        "upstream_credentials": [],
        "traffic": pretty_json(TrafficPolicy().model_dump(mode="json")),
        "upstream_headers": "",
        "registration": "",
        "cache": "",
    }


def model_values(model: Model) -> dict[str, Any]:
    """An existing model as form values (its backends as rows 0..n-1)."""
    values: dict[str, Any] = {
        "name": model.name,
        "description": model.description,
        "owned_by": model.owned_by,
        "aliases": "\n".join(model.aliases),
        "upstream_credentials": list(model.upstream_credentials),
        "traffic": pretty_json(model.traffic.model_dump(mode="json")),
        "upstream_headers": pretty_json(model.upstream_headers) if model.upstream_headers else "",
        "registration": pretty_json(model.registration.model_dump(mode="json")) if model.registration else "",
        "cache": pretty_json(model.cache.model_dump(mode="json", exclude_none=True)) if model.cache else "",
    }
    for row, backend in enumerate(model.backends):
        values.update(flatten(backend.model_dump(mode="json"), prefix=f"backends.{row}."))
    return values


@dataclass(slots=True)
class ParsedModel:
    """A posted model form: `data` for `Model.model_validate`, the messages of JSON that did not parse,
    and for each backend kept the form row it came from."""

    data: dict[str, Any]
    json_errors: dict[str, str] = field(default_factory=dict)
    backend_rows: list[int] = field(default_factory=list)

    def row_key(self, key: str) -> str:
        """A validation key of the n-th backend kept (`backends.1.base_url`) as its form row's input."""
        parts = key.split(".")
        if len(parts) >= 2 and parts[0] == "backends" and parts[1].isdigit():
            index = int(parts[1])
            if index < len(self.backend_rows):
                parts[1] = str(self.backend_rows[index])
        return ".".join(parts)


def _json_value(name: str, text: str, errors: dict[str, str]) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        errors[name] = f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        return None


def parse_model_form(values: Mapping[str, Any], rows: int) -> ParsedModel:
    """The posted values (strings; `upstream_credentials` a list) as a `ParsedModel`."""
    simple = blank_to_none({name: values.get(name, "") for name in ("name", "description", "owned_by")})
    parsed = ParsedModel(data=dict(simple))
    parsed.data["aliases"] = lines(str(values.get("aliases", "")))
    credentials = values.get("upstream_credentials", [])
    parsed.data["upstream_credentials"] = (
        [str(c) for c in credentials] if isinstance(credentials, list) else []
    )
    backends = []
    for row in range(rows):
        raw = {name: str(values.get(f"backends.{row}.{name}", "")) for name in BACKEND_FIELDS}
        if all(raw[name].strip() == "" for name in _ROW_BLANK_KEYS):
            continue
        backends.append(nest(blank_to_none(raw)))
        parsed.backend_rows.append(row)
    parsed.data["backends"] = backends
    for name in JSON_FIELDS:
        text = str(values.get(name, "")).strip()
        if text:
            value = _json_value(name, text, parsed.json_errors)
            if name not in parsed.json_errors:
                parsed.data[name] = value
    return parsed


def _traffic_facts(traffic: TrafficPolicy) -> list[str]:
    lb = traffic.load_balancing
    balance = lb.policy.value.replace("_", " ")
    if lb.policy is LbPolicy.RING_HASH:
        balance += f" on {lb.hash_header}"
    retry = traffic.retry
    conditions = ", ".join(c.value for c in retry.retry_on)
    plural = "y" if retry.attempts == 1 else "ies"
    retries = f"{retry.attempts} retr{plural} on {conditions}" if retry.attempts else "no retries"
    timeouts = traffic.timeouts
    facts = [
        f"Balancing: {balance}",
        f"Retries: {retries}",
        f"Timeouts: first byte {timeouts.first_byte_s:g} s, idle {timeouts.idle_s:g} s",
    ]
    outlier = traffic.outlier_detection
    facts.append(
        f"Ejection: after {outlier.consecutive_5xx} errors in a row" if outlier.enabled else "Ejection: off"
    )
    health = traffic.health_check
    facts.append(
        f"Health check: {health.path} every {health.interval_s:g} s" if health else "Health check: off"
    )
    facts.append(f"Max requests in flight: {count(traffic.circuit_breakers.max_requests)}")
    return facts


def _backend_facts(backends: Sequence[Backend]) -> list[dict[str, str]]:
    ordered = sorted(backends, key=lambda b: (b.priority, b.name))
    return [
        {
            "name": b.name,
            "url": b.base_url,
            "weight": count(b.weight),
            "priority": str(b.priority),
            "provider": "" if b.provider is ProviderKind.OPENAI_COMPATIBLE else b.provider.value,
        }
        for b in ordered
    ]


def model_rows(spec: RegistrySpec, now: datetime) -> list[dict[str, Any]]:
    """What the list shows of each model, by name."""
    rows = []
    for model in sorted(spec.models, key=lambda m: m.name):
        price = price_at(spec.prices, model.name, now)
        rows.append(
            {
                "name": model.name,
                "description": model.description,
                "aliases": list(model.aliases),
                "backends": _backend_facts(model.backends),
                "traffic": _traffic_facts(model.traffic),
                "credentials": list(model.upstream_credentials),
                "registration": model.registration is not None,
                "price": None
                if price is None
                else {
                    "input": money_micro(price.input_per_1m_micro),
                    "output": money_micro(price.output_per_1m_micro),
                    "cached": money_micro(price.cached_input_per_1m_micro),
                },
            }
        )
    return rows
