"""The real Envoy 1.40 accepts what translate() produces (`envoy --mode validate` on a static bootstrap).

The bootstrap embeds the translated clusters and the listener twice: once as translated (RDS over ADS)
and once with the route configuration inlined, so Envoy also checks every route against the clusters.
Seen here: a `ca_file` that does not exist is rejected already in validate mode ("Invalid path: …"),
which is also what makes a live Envoy NACK such a cluster at CDS time.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from control_plane.model import Backend, Limits, Plan, RegistrySpec, Snapshot, Tenant
from tests.unit.xds.xds_samples import SAMPLES, model, open_sample_secret, snapshot
from xds.translate import TranslateOptions, translate
from xds.translate.cluster import SYSTEM_CA_FILE

_VENV_ENVOY = Path(sys.executable).parent / "envoy"
ENVOY = str(_VENV_ENVOY) if _VENV_ENVOY.exists() else shutil.which("envoy")

pytestmark = pytest.mark.skipif(ENVOY is None, reason="no envoy binary")

OPTIONS = TranslateOptions(listener_host="127.0.0.1", listener_port=18080)


def _static_h2_cluster(name: str, port: int) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STATIC",
        "connectTimeout": "1s",
        "typedExtensionProtocolOptions": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicitHttpConfig": {"http2ProtocolOptions": {}},
            }
        },
        "loadAssignment": {
            "clusterName": name,
            "endpoints": [
                {
                    "lbEndpoints": [
                        {
                            "endpoint": {
                                "address": {"socketAddress": {"address": "127.0.0.1", "portValue": port}}
                            }
                        }
                    ]
                }
            ],
        },
    }


def bootstrap(translated: dict[str, dict[str, Any]]) -> dict[str, Any]:
    listener = translated["lds"]["tollway_http"]
    inline = copy.deepcopy(listener)
    inline["name"] = "tollway_http_inline_routes"
    inline["address"]["socketAddress"]["portValue"] += 1
    manager = inline["filterChains"][0]["filters"][0]["typedConfig"]
    del manager["rds"]
    manager["routeConfig"] = translated["rds"]["tollway"]
    return {
        "node": {"id": "validate", "cluster": "tollway"},
        "admin": {"address": {"socketAddress": {"address": "127.0.0.1", "portValue": 0}}},
        "dynamicResources": {
            "adsConfig": {
                "apiType": "GRPC",
                "transportApiVersion": "V3",
                "grpcServices": [{"envoyGrpc": {"clusterName": "tollway_xds"}}],
            }
        },
        "staticResources": {
            "clusters": [
                _static_h2_cluster("tollway_xds", 18000),
                _static_h2_cluster(OPTIONS.ext_proc_cluster, 18001),
                *translated["cds"].values(),
            ],
            "listeners": [listener, inline],
        },
    }


def envoy_validate(config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(config))
    assert ENVOY is not None
    return subprocess.run(
        [ENVOY, "--mode", "validate", "-c", str(path), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _with_system_ca(snap: Snapshot) -> Snapshot:
    """The golden samples name CA files of a real deployment; this host has only the system bundle."""
    models = tuple(
        m.model_copy(update={"backends": tuple(b.model_copy(update={"ca_file": None}) for b in m.backends)})
        for m in snap.models
    )
    return snap.model_copy(update={"spec": snap.spec.model_copy(update={"models": models})})


@pytest.mark.skipif(not Path(SYSTEM_CA_FILE).is_file(), reason="no system CA bundle on this host")
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_envoy_accepts_the_translation(name: str, tmp_path: Path) -> None:
    translated = translate(_with_system_ca(SAMPLES[name]), OPTIONS, open_sample_secret).to_dict()
    result = envoy_validate(bootstrap(translated), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout + result.stderr


def test_envoy_rejects_a_missing_ca_file(tmp_path: Path) -> None:
    bad = snapshot(
        1,
        model(
            "needs-ca", Backend(name="tls", base_url="https://127.0.0.1:9/v1", ca_file="/nonexistent/ca.pem")
        ),
    )
    result = envoy_validate(bootstrap(translate(bad, OPTIONS).to_dict()), tmp_path)
    assert result.returncode != 0
    assert "Invalid path: /nonexistent/ca.pem" in result.stdout + result.stderr


def test_validation_catches_a_route_to_a_missing_cluster(tmp_path: Path) -> None:
    """Guards the check itself: the inlined route config is really verified against the clusters."""
    translated = translate(SAMPLES["one_ip_model"], OPTIONS).to_dict()
    translated["cds"] = {}
    result = envoy_validate(bootstrap(translated), tmp_path)
    assert result.returncode != 0
    assert "model.llama-3-8b" in result.stdout + result.stderr


def test_envoy_accepts_a_tenant_with_zero_requests_per_minute(tmp_path: Path) -> None:
    """`requests_per_minute: 0` becomes an always-empty bucket (max_tokens 0), which Envoy allows."""
    spec = RegistrySpec(
        models=(model("m", Backend(name="a", base_url="http://10.0.0.1:8000/v1")),),
        plans=(Plan(name="blocked", limits=Limits(requests_per_minute=0)),),
        tenants=(Tenant(id="nobody", plan="blocked"),),
    )
    translated = translate(Snapshot(version=1, spec=spec), OPTIONS).to_dict()
    limiter = translated["rds"]["tollway"]["virtualHosts"][0]["typedPerFilterConfig"]
    assert (
        limiter["envoy.filters.http.local_ratelimit"]["descriptors"][0]["tokenBucket"]["tokensPerFill"] == 1
    )
    result = envoy_validate(bootstrap(translated), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
