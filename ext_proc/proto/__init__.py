"""Envoy's ext_proc protobuf API, loaded from a generated descriptor set (see `ext_proc.proto.build`)."""

from ext_proc.proto.codec import ProcessingCodec, ProtocolError
from ext_proc.proto.messages import DescriptorSetMissingError, ExtProcMessages, load_messages

__all__ = [
    "DescriptorSetMissingError",
    "ExtProcMessages",
    "ProcessingCodec",
    "ProtocolError",
    "load_messages",
]
