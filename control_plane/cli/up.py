"""`tollway up`: run the whole stack in the foreground until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from dataclasses import asdict

import orjson
import typer

from control_plane.cli.output import print_json
from control_plane.launcher import Stack, StackInfo, StackSettings, StackStartError
from control_plane.launcher.demo_seed import DEMO_KEY_FILE

__all__ = ["openai_example", "run_up"]


_NO_KEY = "<an API key: tollway keys create --tenant …>"


def openai_example(info: StackInfo) -> str:
    """Ready-to-paste client code; with the demo on, it carries the demo tenant's key."""
    model = info.demo_model or "<model>"
    api_key = info.demo_api_key or _NO_KEY
    return f'''from openai import OpenAI

client = OpenAI(base_url="{info.listener_url}", api_key="{api_key}")
reply = client.chat.completions.create(model="{model}", messages=[{{"role": "user", "content": "Hello!"}}])
print(reply.choices[0].message.content)
for chunk in client.chat.completions.create(
    model="{model}", messages=[{{"role": "user", "content": "Stream, please"}}], stream=True
):
    print(chunk.choices[0].delta.content or "", end="", flush=True)
print()'''


def _summary(info: StackInfo) -> str:
    demo_key = (
        f"  demo API key    : {info.demo_api_key}  (also in {info.state_dir / DEMO_KEY_FILE})\n"
        if info.demo_api_key
        else ""
    )
    return (
        f"\nTollway is up.\n"
        f"  OpenAI base URL : {info.listener_url}\n"
        f"  admin API       : {info.admin_url}  (docs: {info.admin_url}/docs)\n"
        f"  admin token     : {info.admin_token}  (also in {info.state_dir / 'admin-token'})\n"
        f"  admin UI        : {info.admin_url}/ui/  (tollway admin create-user NAME --role admin)\n"
        f"{demo_key}"
        f"  Envoy admin     : {info.envoy_admin_url}\n"
        f"  Redis/Valkey    : {info.redis_url}\n"
        f"  logs            : {info.state_dir / 'logs'}\n"
        f"\nTry it (pip install openai):\n\n{openai_example(info)}\n\nCtrl-C stops everything.\n"
    )


def run_up(settings: StackSettings, *, as_json: bool) -> None:
    stack = Stack(settings, progress=lambda msg: None if as_json else typer.echo(f"… {msg}", err=True))
    try:
        info = stack.start()  # Ctrl-C here raises KeyboardInterrupt; start() stops what it started
    except StackStartError as exc:
        typer.echo(f"tollway up failed: {exc}", err=True)
        raise typer.Exit(1) from None
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        # Where the CLI finds the running stack; the token stays in its own 0600 file, not here.
        state = {**asdict(info), "state_dir": str(info.state_dir)}
        state.pop("admin_token")
        state.pop("demo_api_key", None)  # a secret too: it lives in its own 0600 file
        stack_file = settings.state_dir / "stack.json"
        stack_file.write_bytes(orjson.dumps(state))
        stack_file.chmod(0o600)
        if as_json:
            state["admin_token"] = info.admin_token
            state["demo_api_key"] = info.demo_api_key
            print_json(state)
        else:
            typer.echo(_summary(info))
        while not stopping.wait(0.5):
            dead = [p.name for p in stack.processes.values() if not p.is_running()]
            if dead:
                typer.echo(
                    f"stopping: {', '.join(dead)} exited (see {settings.state_dir / 'logs'})", err=True
                )
                raise typer.Exit(1)
    finally:
        if not as_json:
            typer.echo("stopping Tollway …", err=True)
        stack.stop()
        (settings.state_dir / "stack.json").unlink(missing_ok=True)
