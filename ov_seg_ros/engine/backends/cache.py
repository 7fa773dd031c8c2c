"""The on-disk cache of exported visual passes: one folder per entry, complete or absent.

Layout: $XDG_CACHE_HOME/ov_seg_ros/engines/<model hash>/<entry>/ with the artifact and a meta.json
holding the entry's key (written last: a folder without it, or with another key, is stale). An entry is
built in a temporary folder beside it and renamed into place, so a crash or a concurrent build never
leaves half a file where a loader would read it. A stale or unreadable entry is rebuilt with one log line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Tuple, TypeVar

FORMAT = 1  # bump when the exported graph's inputs/outputs change: every older entry becomes stale
META = "meta.json"
LOG = logging.getLogger("ov_seg_ros.backends")
T = TypeVar("T")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ov_seg_ros" / "engines"


def hash_tensors(named: Iterable[Tuple[str, Any]]) -> str:
    """A digest of names, shapes, dtypes and bytes of tensors (weights and heads): any change invalidates."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in named:
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        digest.update(t.view(-1).view(dtype=_bytes_dtype()).numpy().tobytes())
    return digest.hexdigest()


def _bytes_dtype():
    import torch

    return torch.uint8


def hash_arrays(arrays: Iterable[Any]) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for a in arrays:
        digest.update(f"{a.shape}{a.dtype}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def entry_name(key: Dict[str, Any]) -> str:
    """Readable folder name from the key (the key itself is checked in meta.json)."""
    parts = [str(key[k]) for k in ("artifact", "version", "precision") if k in key]
    shape = "x".join(str(s) for s in key["shape"])
    extra = hashlib.blake2b(json.dumps(key, sort_keys=True).encode(), digest_size=4).hexdigest()
    return "-".join([*parts, shape, extra]).replace("/", "_").replace(" ", "_")


def read_meta(path: Path) -> Any:
    try:
        return json.loads((path / META).read_text())
    except (OSError, ValueError):
        return None


def load_or_build(
    root: Path, key: Dict[str, Any], build: Callable[[Path], None], load: Callable[[Path], T]
) -> Tuple[T, str, float]:
    """(loaded artifact, 'cached' or 'built', seconds). build(folder) writes the artifact into folder."""
    key = {"format": FORMAT, **key}
    path = root / entry_name(key)
    start = time.perf_counter()
    if path.exists():
        meta = read_meta(path) or {}
        if {k: v for k, v in meta.items() if k != "files"} == key:
            try:
                _check_sizes(path, meta.get("files", {}))
                return load(path), "cached", time.perf_counter() - start
            except Exception as exc:  # corrupt artifact: rebuild below
                LOG.warning("ov_seg_ros: cache entry %s unreadable (%s); rebuilding", path, _short(exc))
        else:
            LOG.warning("ov_seg_ros: cache entry %s is incomplete or stale; rebuilding", path)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        build(tmp)
        files = {p.name: p.stat().st_size for p in tmp.iterdir() if p.is_file()}
        (tmp / META).write_text(json.dumps({**key, "files": files}, sort_keys=True))
        shutil.rmtree(path, ignore_errors=True)
        try:
            os.rename(tmp, path)
        except OSError:  # another process finished the same entry first: use theirs
            if not path.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return load(path), "built", time.perf_counter() - start


def _check_sizes(path: Path, files: Dict[str, int]) -> None:
    """Every artifact file as long as when it was built: a truncated copy fails here, not in a runtime
    (cheaper than parsing 350 MB of ONNX on every load)."""
    for name, size in files.items():
        actual = (path / name).stat().st_size if (path / name).exists() else None
        if actual != size:
            raise ValueError(f"{name} is {actual} bytes, was built with {size}")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__
