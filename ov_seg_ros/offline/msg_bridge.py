"""rosbags message dataclasses <-> rclpy message objects, field by field.

The offline tool reads and writes bags with `rosbags` (pure Python, its own message classes), but builds
its outputs with the node's helpers in `convert` / `pointcloud`, which make rclpy messages. Converting at
the edge keeps one definition of every output; the field layout comes from the rosbags typestore.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict

import numpy as np
from rosbags.typesys.store import Typestore

# rosbags base type name -> numpy dtype of its arrays/sequences (strings stay lists of str)
_DTYPES: Dict[str, str] = {
    "bool": "bool",
    "byte": "uint8",
    "char": "uint8",
    "uint8": "uint8",
    "int8": "int8",
    "uint16": "uint16",
    "int16": "int16",
    "uint32": "uint32",
    "int32": "int32",
    "uint64": "uint64",
    "int64": "int64",
    "float32": "float32",
    "float64": "float64",
}
_BASE, _NAME = 1, 2  # rosbags Nodetype values (ARRAY = 3 and SEQUENCE = 4 are the containers)


def rclpy_class(msgtype: str) -> type:
    """'sensor_msgs/msg/Image' -> sensor_msgs.msg.Image."""
    module, _, name = msgtype.rpartition("/")
    return getattr(importlib.import_module(module.replace("/", ".")), name)


def to_rclpy(msg: Any, typestore: Typestore) -> Any:
    """A rosbags message as the rclpy message of the same type."""
    msgtype = msg.__msgtype__
    out = rclpy_class(msgtype)()
    for field, (kind, detail) in typestore.fielddefs[msgtype][1]:
        value = getattr(msg, field)
        if kind == _BASE:
            setattr(out, field, value)
        elif kind == _NAME:
            setattr(out, field, to_rclpy(value, typestore))
        else:
            (elem_kind, elem), _ = detail
            if elem_kind == _NAME:
                setattr(out, field, [to_rclpy(v, typestore) for v in value])
            elif elem[0] in ("uint8", "byte", "char"):
                setattr(out, field, np.asarray(value, np.uint8).tobytes())  # bytes: one memcpy, not per item
            elif elem[0] in _DTYPES:
                setattr(out, field, np.asarray(value).tolist())
            else:
                setattr(out, field, list(value))
    return out


def from_rclpy(msg: Any, typestore: Typestore, msgtype: str) -> Any:
    """An rclpy message as the rosbags message of type `msgtype`, ready for typestore.serialize_cdr."""
    values = {}
    for field, (kind, detail) in typestore.fielddefs[msgtype][1]:
        value = getattr(msg, field)
        if kind == _BASE:
            values[field] = value
        elif kind == _NAME:
            values[field] = from_rclpy(value, typestore, detail)
        else:
            (elem_kind, elem), _ = detail
            if elem_kind == _NAME:
                values[field] = [from_rclpy(v, typestore, elem) for v in value]
            elif elem[0] in _DTYPES:
                dtype = np.dtype(_DTYPES[elem[0]])
                # array.array and bytes share their buffer with numpy; lists and numpy arrays convert
                buffer_like = isinstance(value, (bytes, bytearray, memoryview)) or hasattr(value, "typecode")
                values[field] = np.frombuffer(value, dtype) if buffer_like else np.asarray(value, dtype)
            else:
                values[field] = list(value)
    return typestore.types[msgtype](**values)
