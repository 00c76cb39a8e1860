"""What a local model folder holds, read from its safetensors headers without loading a tensor: the parameter
count and the dtype most of the weights are stored in. The preflight's memory estimate uses these for
`model.local_path` instead of the YAML's `n_params`, which describes the published model (a tiny, pruned or
merged folder at that path would otherwise be refused, or waved through, on someone else's size)."""

from __future__ import annotations

import functools
import json
import math
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# safetensors dtype codes -> (torch name, bytes per element)
DTYPES = {
    "F64": ("float64", 8),
    "F32": ("float32", 4),
    "F16": ("float16", 2),
    "BF16": ("bfloat16", 2),
    "F8_E4M3": ("float8_e4m3fn", 1),
    "F8_E5M2": ("float8_e5m2", 1),
    "I64": ("int64", 8),
    "I32": ("int32", 4),
    "I16": ("int16", 2),
    "I8": ("int8", 1),
    "U8": ("uint8", 1),
    "BOOL": ("bool", 1),
}
MAX_HEADER = 100 << 20  # a header lists tensor names and shapes: megabytes at most


@dataclass(frozen=True)
class FolderFacts:
    n_params: int
    stored_dtype: str  # the dtype of most of the weights' bytes, as stored in the files
    n_files: int


def _header(path: Path) -> dict:
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        if size > MAX_HEADER:
            raise ValueError(f"{path}: a safetensors header of {size} bytes")
        return json.loads(f.read(size))


@functools.lru_cache(maxsize=32)
def folder_facts(folder: Path) -> FolderFacts | None:
    """None when the folder has no readable safetensors files (e.g. only pytorch_model.bin). Only regular files are
    opened: a FIFO or a device named *.safetensors would block the preflight forever (the loader refuses it later,
    with its own message)."""
    files = sorted(p for p in Path(folder).expanduser().glob("*.safetensors") if p.is_file())
    params, by_dtype = 0, Counter()
    try:
        for path in files:
            for name, tensor in _header(path).items():
                if name == "__metadata__":
                    continue
                n = math.prod(tensor["shape"])
                params += n
                by_dtype[tensor["dtype"]] += n * DTYPES.get(tensor["dtype"], ("?", 1))[1]
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None
    if not files or not params:
        return None
    code = by_dtype.most_common(1)[0][0]
    return FolderFacts(params, DTYPES.get(code, (code, 0))[0], len(files))
