"""Load Envoy's ext_proc message classes (upb) from the descriptor set `ext_proc.proto.build` writes.

The classes are generated at run time from a private `DescriptorPool`, so they never collide with any
other protobuf package in the process. They are untyped; only `ext_proc.proto` handles them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeAlias

from google.protobuf import (  # type: ignore[import-untyped]
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)

__all__ = ["DescriptorSetMissingError", "ExtProcMessages", "MessageClass", "load_messages"]

MessageClass: TypeAlias = Any
"""A generated upb message class (untyped: protobuf ships no type information for dynamic classes)."""

_DESCRIPTOR_SET_NAME = "ext_proc.binpb"
_EXT_PROC = "envoy.service.ext_proc.v3."
_CORE = "envoy.config.core.v3."


class DescriptorSetMissingError(FileNotFoundError):
    """The generated descriptor set is not there: the build step has not run."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(
            f"{path} is missing: run `make venv` or `python -m ext_proc.proto.build` to generate it"
        )


@dataclass(frozen=True, slots=True)
class ExtProcMessages:
    """The message classes ext_proc uses, from one private descriptor pool."""

    ProcessingRequest: MessageClass
    ProcessingResponse: MessageClass
    HeadersResponse: MessageClass
    BodyResponse: MessageClass
    TrailersResponse: MessageClass
    CommonResponse: MessageClass
    ImmediateResponse: MessageClass
    HeaderMutation: MessageClass
    BodyMutation: MessageClass
    HttpStatus: MessageClass
    HeaderValue: MessageClass
    HeaderValueOption: MessageClass
    HeaderMap: MessageClass
    HttpHeaders: MessageClass
    HttpBody: MessageClass
    HttpTrailers: MessageClass
    ProcessingMode: MessageClass
    file_count: int


def load_messages(path: Path | None = None) -> ExtProcMessages:
    """Build the message classes from the descriptor set at `path` (default: the packaged one)."""
    if path is None:
        resource = resources.files(__package__).joinpath(_DESCRIPTOR_SET_NAME)
        if not resource.is_file():
            raise DescriptorSetMissingError(str(resource))
        data = resource.read_bytes()
    else:
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise DescriptorSetMissingError(path) from exc
    file_set = descriptor_pb2.FileDescriptorSet.FromString(data)
    pool = descriptor_pool.DescriptorPool()
    for file_proto in file_set.file:  # dependencies come first in the set
        pool.Add(file_proto)
    classes: dict[str, MessageClass] = message_factory.GetMessageClassesForFiles(
        [file_proto.name for file_proto in file_set.file], pool
    )
    return ExtProcMessages(
        ProcessingRequest=classes[_EXT_PROC + "ProcessingRequest"],
        ProcessingResponse=classes[_EXT_PROC + "ProcessingResponse"],
        HeadersResponse=classes[_EXT_PROC + "HeadersResponse"],
        BodyResponse=classes[_EXT_PROC + "BodyResponse"],
        TrailersResponse=classes[_EXT_PROC + "TrailersResponse"],
        CommonResponse=classes[_EXT_PROC + "CommonResponse"],
        ImmediateResponse=classes[_EXT_PROC + "ImmediateResponse"],
        HeaderMutation=classes[_EXT_PROC + "HeaderMutation"],
        BodyMutation=classes[_EXT_PROC + "BodyMutation"],
        HttpStatus=classes["envoy.type.v3.HttpStatus"],
        HeaderValue=classes[_CORE + "HeaderValue"],
        HeaderValueOption=classes[_CORE + "HeaderValueOption"],
        HeaderMap=classes[_CORE + "HeaderMap"],
        HttpHeaders=classes[_EXT_PROC + "HttpHeaders"],
        HttpBody=classes[_EXT_PROC + "HttpBody"],
        HttpTrailers=classes[_EXT_PROC + "HttpTrailers"],
        ProcessingMode=classes["envoy.extensions.filters.http.ext_proc.v3.ProcessingMode"],
        file_count=len(file_set.file),
    )
