"""The output rosbag2: written beside its final place, moved there only when complete.

Pure `rosbags`: the node's outputs (CDR bytes, as rclpy serialized them) and copied input topics go into
a new MCAP or sqlite3 bag, each output connection with its type's definition from the installed .msg
files; every problem is a one-line `BagError`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Set, Tuple

from rosbags.interfaces import Connection
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from .input_bag import BagError, describe


def msgtype_of(msg_class: type) -> str:
    """'sensor_msgs/msg/Image' for sensor_msgs.msg.Image (the name rosbag2 records)."""
    return f"{msg_class.__module__.split('.')[0]}/msg/{msg_class.__name__}"


def output_typestore() -> Typestore:
    """An empty typestore that learns each output type, when first written, from the .msg files installed
    with the message packages rclpy serializes with (`register_type`): the definitions recorded are those
    of the bytes, whatever the distro (rosbags' stores also lack vision_msgs)."""
    return get_typestore(Stores.EMPTY)


def register_type(typestore: Typestore, msgtype: str) -> Optional[str]:
    """Make `msgtype` and every type it uses known to `typestore`, from the installed .msg files (a wheel
    installs them under <prefix>/share/<package>/msg); None on success, else why not. Only what is
    used is parsed: rosbags' parser takes a while per file."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    types: Dict[str, Any] = {}
    todo = [msgtype]
    try:
        while todo:
            name = todo.pop()
            package, _, short = name.split("/")
            path = next(
                (f for p in prefixes if (f := Path(p) / "share" / package / "msg" / f"{short}.msg").is_file()), None
            )
            if path is None:
                return f"no definition of {name} (share/{package}/msg/{short}.msg)"
            text = path.read_text()
            types.update(get_types_from_msg(text, name))
            todo += [t for t in _used_types(text, package) if t not in typestore.fielddefs and t not in types]
        typestore.register(types)
    except Exception as exc:  # an unparsable definition: go on without this type
        return f"{msgtype} could not be registered ({describe(exc)})"
    return None


def _used_types(text: str, package: str) -> Set[str]:
    """The message types a .msg definition uses ("Name" is of its own package, "pkg/Name" of pkg)."""
    names = set()
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        owner, _, name = words[0].split("[")[0].split("<")[0].rpartition("/") if words else ("", "", "")
        if name[:1].isupper():  # builtin types are lower case
            names.add(f"{owner or package}/msg/{name}")
    return names


class OutputBag:
    """A new rosbag2 written next to its final place and moved there only when it is complete.

    The bag is written to a hidden sibling directory; `finish()` swaps it in (an existing output is
    replaced only then, and only with overwrite), `discard()` removes every trace of it.
    """

    def __init__(self, out: Path, storage: str, typestore: Typestore, overwrite: bool) -> None:
        """`typestore`: the input's, for copied topics whose definitions the input bag lacks."""
        if out.exists() and not overwrite:
            raise BagError(f"{out}: already exists; choose another --out or pass --overwrite")
        if out.exists() and not (out / "metadata.yaml").is_file():
            raise BagError(f"{out}: exists and is not a rosbag2 directory; not replacing it")
        self.out, self.typestore, self.overwrite = out, typestore, overwrite
        self.output_types = output_typestore()
        out.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        plugin = StoragePlugin.SQLITE3 if storage == "sqlite3" else StoragePlugin.MCAP
        self.writer = Writer(self._tmp / out.name, version=Writer.VERSION_LATEST, storage_plugin=plugin)
        self.writer.open()
        self._connections: Dict[Tuple[str, str], Connection] = {}
        self._copied: Dict[Tuple[str, str, str], Optional[Connection]] = {}  # None: cannot be copied
        self.not_copied: Dict[str, str] = {}  # topic -> why

    @property
    def tmp_dir(self) -> Path:
        return self._tmp

    def type_problem(self, msgtype: str) -> Optional[str]:
        """Why messages of `msgtype` cannot be written (no definition to record with them), or None."""
        if msgtype not in self.output_types.fielddefs:
            problem = register_type(self.output_types, msgtype)
            if problem:
                return problem
        try:
            self.output_types.generate_msgdef(msgtype)  # what add_connection records: every part defined
        except Exception as exc:
            return f"no complete definition of {msgtype} ({describe(exc)})"
        return None

    def write(self, topic: str, msgtype: str, raw: bytes, log_time: int) -> None:
        """One output message, already CDR (as rclpy serializes it), with its type's definition.

        rclpy leaves CDR's alignment padding uninitialised (heap bytes, different from call to call);
        passing the message once through rosbags' (de)serializer zeroes it, so the same frame always
        makes the same bytes, and nothing of the process's memory reaches the file.
        """
        key = (topic, msgtype)
        if key not in self._connections:
            problem = self.type_problem(msgtype)
            if problem:
                raise BagError(f"cannot write {topic}: {problem}")
            self._connections[key] = self.writer.add_connection(topic, msgtype, typestore=self.output_types)
        types = self.output_types
        self.writer.write(
            self._connections[key], log_time, types.serialize_cdr(types.deserialize_cdr(raw, msgtype), msgtype)
        )

    def copy(self, connection: Connection, log_time: int, raw: bytes) -> None:
        """An input message as it was recorded (its own definition and QoS, no re-serialization).

        A topic whose type can be neither taken from the bag nor found in the typestore is left out
        and named in `not_copied`; the segmentation outputs do not depend on it.
        """
        # One output connection per topic and type: a bag may hold several (one per publisher).
        key = (connection.topic, connection.msgtype, connection.ext.serialization_format)
        if key not in self._copied:
            defined = bool(connection.msgdef.data and connection.digest)
            try:
                self._copied[key] = self.writer.add_connection(
                    connection.topic,
                    connection.msgtype,
                    msgdef=connection.msgdef.data if defined else None,
                    rihs01=connection.digest if defined else None,
                    typestore=None if defined else self.typestore,
                    serialization_format=connection.ext.serialization_format,
                    offered_qos_profiles=connection.ext.offered_qos_profiles,
                )
            except Exception as exc:  # e.g. an old bag without definitions, of a type rosbags lacks
                self._copied[key] = None
                self.not_copied[connection.topic] = describe(exc)
        out = self._copied[key]
        if out is not None:
            self.writer.write(out, log_time, raw)

    def close(self) -> None:
        """Write the index and metadata.yaml: the bag in the temporary directory is now readable."""
        if self.writer.storage is not None:
            self.writer.close()

    def finish(self, target: Optional[Path] = None) -> Path:
        """Close, then move the bag to `target` (default: --out), replacing an old one only now."""
        self.close()
        target = target or self.out
        written = self._tmp / self.out.name
        if target.exists():
            old = self._tmp / f"{target.name}.old"
            target.rename(old)  # same filesystem: the swap leaves no moment without a complete bag
            written.rename(target)
        else:
            written.rename(target)
        shutil.rmtree(self._tmp, ignore_errors=True)
        return target

    def discard(self) -> None:
        try:
            self.writer.abort()
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)


def size_of(path: Path) -> int:
    """Bytes of a file, or of every file under a directory."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
