"""The output rosbag2: written beside its final place, moved there only when complete; LabelInfo types.

Pure `rosbags`, as ov_seg_ros.bag: the node's outputs and copied input topics go into a new MCAP or
sqlite3 bag; every problem is a one-line `BagError`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from rosbags.interfaces import Connection
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_types_from_msg
from rosbags.typesys.store import Typestore

from .input_bag import BagError, describe

LABEL_INFO_TYPE = "vision_msgs/msg/LabelInfo"


def register_label_info(typestore: Typestore) -> Optional[str]:
    """Make vision_msgs/msg/LabelInfo known to `typestore`; None on success, else why not.

    rosbags' stores do not ship vision_msgs; the vision_msgs wheel installs its .msg files under
    <prefix>/share/vision_msgs/msg, so the types are registered from those definitions.
    """
    if LABEL_INFO_TYPE in typestore.fielddefs:
        return None
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    for prefix in prefixes:
        folder = Path(prefix) / "share" / "vision_msgs" / "msg"
        if (folder / "LabelInfo.msg").is_file():
            break
    else:
        return "vision_msgs message definitions not found (share/vision_msgs/msg)"
    try:
        types = {}
        for name in ("VisionClass", "LabelInfo"):
            types.update(get_types_from_msg((folder / f"{name}.msg").read_text(), f"vision_msgs/msg/{name}"))
        typestore.register(types)
    except Exception as exc:  # a definition rosbags cannot parse: go on without it
        return f"vision_msgs/LabelInfo could not be registered ({describe(exc)})"
    return None


class OutputBag:
    """A new rosbag2 written next to its final place and moved there only when it is complete.

    The bag is written to a hidden sibling directory; `finish()` swaps it in (an existing output is
    replaced only then, and only with overwrite), `discard()` removes every trace of it.
    """

    def __init__(self, out: Path, storage: str, typestore: Typestore, overwrite: bool) -> None:
        if out.exists() and not overwrite:
            raise BagError(f"{out}: already exists; choose another --out or pass --overwrite")
        if out.exists() and not (out / "metadata.yaml").is_file():
            raise BagError(f"{out}: exists and is not a rosbag2 directory; not replacing it")
        self.out, self.typestore, self.overwrite = out, typestore, overwrite
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

    def topic(self, topic: str, msgtype: str) -> Connection:
        key = (topic, msgtype)
        if key not in self._connections:
            self._connections[key] = self.writer.add_connection(topic, msgtype, typestore=self.typestore)
        return self._connections[key]

    def write(self, topic: str, msg: Any, log_time: int) -> None:
        msgtype = msg.__msgtype__
        self.writer.write(self.topic(topic, msgtype), log_time, self.typestore.serialize_cdr(msg, msgtype))

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
