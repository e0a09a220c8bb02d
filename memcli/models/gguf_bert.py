"""Convert a Hugging Face BERT sentence-embedding model to GGUF for llama.cpp.

Only numpy and the standard library: the `gguf`, `safetensors`, `torch` and
`transformers` packages are deliberately not needed at run time. The output
mirrors what llama.cpp's convert_hf_to_gguf.py writes for `BertModel` with
`--outtype f16`, so llama.cpp loads it as arch `bert`.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import struct
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..paths import ensure_private_dir

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
ALIGNMENT = 32

# gguf value types
_UINT32, _INT32, _FLOAT32, _BOOL, _STRING, _ARRAY = 4, 5, 6, 7, 8, 9
# ggml tensor types
GGML_F32, GGML_F16 = 0, 1
# llama.cpp token types
TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_UNUSED = 1, 3, 5
POOLING_NONE, POOLING_MEAN, POOLING_CLS = 0, 1, 2
LLAMA_FTYPE_MOSTLY_F16 = 1
PHANTOM_SPACE = "\u2581"


class ConversionError(Exception):
    """The model directory is not a BERT model this converter understands."""


# ---------------------------------------------------------------- safetensors


@dataclass(frozen=True)
class _StTensor:
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


_ST_DTYPES: dict[str, Any] = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8")}


def _read_safetensors_header(f: BinaryIO) -> tuple[int, dict[str, _StTensor]]:
    raw_len = f.read(8)
    if len(raw_len) != 8:
        raise ConversionError("model.safetensors is truncated")
    (n,) = struct.unpack("<Q", raw_len)
    if n > 100 * 1024 * 1024:
        raise ConversionError("model.safetensors header is implausibly large")
    header = json.loads(f.read(n))
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        tensors[name] = _StTensor(info["dtype"], tuple(info["shape"]), start, end)
    return 8 + n, tensors


def _tensor_array(buf: mmap.mmap, base: int, t: _StTensor) -> np.ndarray:
    raw = np.frombuffer(buf, dtype=np.uint8, count=t.end - t.start, offset=base + t.start)
    if t.dtype == "BF16":
        # bf16 is the top half of an f32: widen by shifting into the high bits
        arr = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
    elif t.dtype in _ST_DTYPES:
        arr = raw.view(_ST_DTYPES[t.dtype])
    else:
        raise ConversionError(f"unsupported safetensors dtype {t.dtype}")
    return arr.reshape(t.shape)


# ---------------------------------------------------------------- names


_LAYER_MAP = {
    "attention.self.query": "attn_q",
    "attention.self.key": "attn_k",
    "attention.self.value": "attn_v",
    "attention.output.dense": "attn_output",
    "attention.output.LayerNorm": "attn_output_norm",
    "intermediate.dense": "ffn_up",
    "output.dense": "ffn_down",
    "output.LayerNorm": "layer_output_norm",
}
_TOP_MAP = {
    "embeddings.word_embeddings": "token_embd",
    "embeddings.position_embeddings": "position_embd",
    "embeddings.token_type_embeddings": "token_types",
    "embeddings.LayerNorm": "token_embd_norm",
}
# the MLM/NSP heads and the pooler are not used for embeddings (as upstream)
_SKIP = re.compile(r"^(embeddings\.position_ids|pooler\.|cls\.)")
_LAYER_RE = re.compile(r"^encoder\.layer\.(\d+)\.(.+)\.(weight|bias)$")


def _gguf_name(hf_name: str) -> str | None:
    name = hf_name.removeprefix("bert.")
    if name.endswith(".gamma"):
        name = name[:-6] + ".weight"
    elif name.endswith(".beta"):
        name = name[:-5] + ".bias"
    if _SKIP.match(name):
        return None
    if m := _LAYER_RE.match(name):
        bid, module, kind = m.groups()
        if module in _LAYER_MAP:
            return f"blk.{bid}.{_LAYER_MAP[module]}.{kind}"
    else:
        module, _, kind = name.rpartition(".")
        if module in _TOP_MAP and kind in ("weight", "bias"):
            return f"{_TOP_MAP[module]}.{kind}"
    raise ConversionError(f"unexpected tensor {hf_name!r}: not a plain BERT model")


def _sort_key(gguf_name: str) -> tuple[int, str]:
    # top-level tensors first, then blocks in numeric (not lexical) order
    if gguf_name.startswith("blk."):
        bid, rest = gguf_name[4:].split(".", 1)
        return (int(bid) + 1, rest)
    return (0, gguf_name)


def _ggml_type(gguf_name: str, n_dims: int) -> int:
    # Same rule as the upstream converter for f16 output: llama.cpp's kernels
    # want 1-D tensors, norms, biases, position and token-type tables in f32.
    if (
        n_dims <= 1
        or gguf_name.endswith("_norm.weight")
        or not gguf_name.endswith(".weight")
        or gguf_name.split(".")[0] in ("position_embd", "token_types")
    ):
        return GGML_F32
    return GGML_F16


# ---------------------------------------------------------------- gguf writer


def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _kv(key: str, vtype: int, value: Any) -> bytes:
    out = [_str(key), struct.pack("<I", vtype)]
    out.append(_value(vtype, value))
    return b"".join(out)


def _value(vtype: int, value: Any) -> bytes:
    if vtype == _UINT32:
        return struct.pack("<I", value)
    if vtype == _INT32:
        return struct.pack("<i", value)
    if vtype == _FLOAT32:
        return struct.pack("<f", value)
    if vtype == _BOOL:
        return struct.pack("<?", bool(value))
    if vtype == _STRING:
        return _str(value)
    raise ValueError(f"unsupported gguf value type {vtype}")


def _kv_array(key: str, item_type: int, values: list[Any]) -> bytes:
    head = _str(key) + struct.pack("<IIQ", _ARRAY, item_type, len(values))
    if item_type == _INT32:
        return head + np.asarray(values, dtype="<i4").tobytes()
    return head + b"".join(_value(item_type, v) for v in values)


def _pad(n: int) -> int:
    return (ALIGNMENT - n % ALIGNMENT) % ALIGNMENT


# ---------------------------------------------------------------- vocab


def _load_vocab(model_dir: Path, n_vocab: int) -> tuple[list[str], list[int], dict[str, int]]:
    vocab_file = model_dir / "vocab.txt"
    if not vocab_file.is_file():
        raise ConversionError(f"{vocab_file} is missing (WordPiece vocab required)")
    # like transformers' load_vocab: one token per line (universal newlines),
    # nothing else stripped; str.splitlines() would also split on \x0b, \x85...
    words = vocab_file.read_text(encoding="utf-8").split("\n")
    if words and words[-1] == "":
        words.pop()
    if len(words) > n_vocab:
        raise ConversionError(f"vocab.txt has {len(words)} tokens, config says {n_vocab}")
    ids = {w: i for i, w in enumerate(words)}

    cfg = _read_json(model_dir / "tokenizer_config.json")
    roles = ("unk", "sep", "pad", "cls", "mask")
    special: dict[str, int] = {}
    for role in roles:
        tok = cfg.get(f"{role}_token")
        if isinstance(tok, dict):  # AddedToken serialisation
            tok = tok.get("content")
        if isinstance(tok, str) and tok in ids:
            special[role] = ids[tok]
    control = set(special.values())
    tok_json = _read_json(model_dir / "tokenizer.json")
    for added in tok_json.get("added_tokens", []):
        if added.get("special") and isinstance(added.get("id"), int):
            control.add(added["id"])

    tokens: list[str] = []
    types: list[int] = []
    for i in range(n_vocab):
        if i >= len(words):
            tokens.append(f"[PAD{i}]")
            types.append(TOKEN_UNUSED)
        elif i in control:
            tokens.append(words[i])
            types.append(TOKEN_CONTROL)
        else:
            # llama.cpp's WPM tokenizer marks word starts with U+2581 instead of
            # marking continuations with "##", so the vocab is rewritten that way
            w = words[i]
            tokens.append(w[2:] if w.startswith("##") else PHANTOM_SPACE + w)
            types.append(TOKEN_NORMAL)
    return tokens, types, special


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _pooling_type(model_dir: Path) -> int:
    modules = _read_json_list(model_dir / "modules.json")
    for mod in modules:
        if mod.get("type") == "sentence_transformers.models.Pooling":
            pcfg = _read_json(model_dir / mod.get("path", "") / "config.json")
            if pcfg.get("pooling_mode_cls_token"):
                return POOLING_CLS
            if pcfg.get("pooling_mode_mean_tokens"):
                return POOLING_MEAN
            raise ConversionError("only mean or CLS pooling is supported")
    # a bare BERT dir without sentence-transformers metadata: mean is the usual choice
    return POOLING_MEAN


def _read_json_list(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []


# ---------------------------------------------------------------- convert


def _metadata(model_dir: Path, name: str | None) -> list[bytes]:
    cfg = _read_json(model_dir / "config.json")
    if cfg.get("model_type") != "bert":
        raise ConversionError(f"{model_dir}/config.json: model_type is not 'bert'")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ConversionError("only absolute position embeddings are supported")
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise ConversionError("only the gelu activation is supported")
    n_vocab = int(cfg["vocab_size"])
    tokens, types, special = _load_vocab(model_dir, n_vocab)

    arch = "bert"
    kvs = [
        _kv("general.architecture", _STRING, arch),
        _kv("general.type", _STRING, "model"),
    ]
    if name:
        kvs.append(_kv("general.name", _STRING, name))
    kvs += [
        _kv(f"{arch}.context_length", _UINT32, int(cfg["max_position_embeddings"])),
        _kv(f"{arch}.embedding_length", _UINT32, int(cfg["hidden_size"])),
        _kv(f"{arch}.feed_forward_length", _UINT32, int(cfg["intermediate_size"])),
        _kv(f"{arch}.block_count", _UINT32, int(cfg["num_hidden_layers"])),
        _kv(f"{arch}.attention.head_count", _UINT32, int(cfg["num_attention_heads"])),
        _kv(f"{arch}.attention.layer_norm_epsilon", _FLOAT32, float(cfg.get("layer_norm_eps", 1e-12))),
        _kv("general.file_type", _UINT32, LLAMA_FTYPE_MOSTLY_F16),
        _kv(f"{arch}.attention.causal", _BOOL, False),
        _kv(f"{arch}.pooling_type", _UINT32, _pooling_type(model_dir)),
        _kv("tokenizer.ggml.token_type_count", _UINT32, int(cfg.get("type_vocab_size", 1))),
        _kv("tokenizer.ggml.model", _STRING, "bert"),
        # informational for WPM vocabs (llama.cpp ignores it); upstream's hash
        # check maps the uncased BERT vocab to this name
        _kv("tokenizer.ggml.pre", _STRING, "bert-bge"),
        _kv_array("tokenizer.ggml.tokens", _STRING, tokens),
        _kv_array("tokenizer.ggml.token_type", _INT32, types),
    ]
    # upstream derives bos/eos from cls/sep for BERT; keep the same ids
    ids = {
        "bos": special.get("cls"),
        "eos": special.get("sep"),
        "unknown": special.get("unk"),
        "seperator": special.get("sep"),  # sic: llama.cpp's key is misspelt
        "padding": special.get("pad"),
        "mask": special.get("mask"),
    }
    for key, tid in ids.items():
        if tid is not None:
            kvs.append(_kv(f"tokenizer.ggml.{key}_token_id", _UINT32, tid))
    kvs += [
        _kv("tokenizer.ggml.add_bos_token", _BOOL, True),
        _kv("tokenizer.ggml.add_eos_token", _BOOL, True),
        # upstream writes False here; llama.cpp's WPM path appends [SEP] anyway
        _kv("tokenizer.ggml.add_sep_token", _BOOL, False),
        _kv("general.quantization_version", _UINT32, 2),
    ]
    return kvs


@dataclass(frozen=True)
class _OutTensor:
    name: str
    src: _StTensor
    shape: tuple[int, ...]
    ggml_type: int

    @property
    def nbytes(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n * (4 if self.ggml_type == GGML_F32 else 2)


def _plan(tensors: dict[str, _StTensor]) -> list[_OutTensor]:
    out = []
    for hf_name, t in tensors.items():
        name = _gguf_name(hf_name)
        if name is None:
            continue
        out.append(_OutTensor(name, t, t.shape, _ggml_type(name, len(t.shape))))
    if not any(o.name == "token_embd.weight" for o in out):
        raise ConversionError("no word embeddings found in model.safetensors")
    return sorted(out, key=lambda o: _sort_key(o.name))


def _tensor_chunks(buf: mmap.mmap, base: int, plan: list[_OutTensor]) -> Iterator[bytes]:
    for o in plan:
        arr = _tensor_array(buf, base, o.src)
        dtype = "<f4" if o.ggml_type == GGML_F32 else "<f2"
        data = np.ascontiguousarray(arr.astype(dtype, copy=False)).tobytes()
        assert len(data) == o.nbytes
        yield data + b"\0" * _pad(len(data))


def convert(model_dir: Path, dest: Path, *, name: str | None = None) -> None:
    """Write `dest` as an F16 GGUF of the BERT model in `model_dir`.

    Deterministic: the same input always gives the same bytes. The file only
    appears at `dest` once complete (temp file, fsync, rename).
    """
    model_dir = Path(model_dir)
    dest = Path(dest)
    st_path = model_dir / "model.safetensors"
    if not st_path.is_file():
        raise ConversionError(f"{st_path} is missing")
    kvs = _metadata(model_dir, name)

    with open(st_path, "rb") as src:
        base, tensors = _read_safetensors_header(src)
        plan = _plan(tensors)
        with mmap.mmap(src.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            write_atomic(dest, lambda out: _write(out, kvs, plan, buf, base))


def write_atomic(dest: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write through a temp file in the same dir, fsync, rename: never a half file."""
    ensure_private_dir(dest.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)


def _write(out: BinaryIO, kvs: list[bytes], plan: list[_OutTensor], buf: mmap.mmap, base: int) -> None:
    out.write(GGUF_MAGIC + struct.pack("<IQQ", GGUF_VERSION, len(plan), len(kvs)))
    for kv in kvs:
        out.write(kv)
    offset = 0
    for o in plan:
        # ggml lists dimensions innermost first, the reverse of numpy
        dims = tuple(reversed(o.shape))
        out.write(_str(o.name) + struct.pack("<I", len(dims)))
        out.write(struct.pack(f"<{len(dims)}Q", *dims))
        out.write(struct.pack("<IQ", o.ggml_type, offset))
        offset += o.nbytes + _pad(o.nbytes)
    out.write(b"\0" * _pad(out.tell()))
    for chunk in _tensor_chunks(buf, base, plan):
        out.write(chunk)


def _fsync_dir(path: Path) -> None:
    # makes the rename itself durable; not possible on every platform
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------- reader

_SCALAR_FMT = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}


def is_gguf(path: Path) -> bool:
    """Whether the file starts like a GGUF model (its first four bytes)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == GGUF_MAGIC
    except OSError:
        return False


def read_metadata(path: Path, keys: set[str] | None = None) -> dict[str, Any]:
    """Scalar and string KV metadata of a GGUF file, without loading tensors.

    Arrays (the vocab) are skipped. With `keys`, stops as soon as all are found,
    which for the header fields of interest is a few KB of I/O.
    """
    found: dict[str, Any] = {}
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) != 24 or head[:4] != GGUF_MAGIC:
            raise ValueError(f"{path} is not a GGUF file")
        version, _n_tensors, n_kv = struct.unpack("<IQQ", head[4:])
        if version < 2:
            raise ValueError(f"{path}: GGUF version {version} is not supported")
        for _ in range(n_kv):
            key = _read_str(f)
            (vtype,) = struct.unpack("<I", _read_exact(f, 4))
            if vtype == _ARRAY:
                _skip_array(f)
            else:
                found[key] = _read_value(f, vtype)
            if keys is not None and keys <= found.keys():
                break
    return found


def _read_exact(f: BinaryIO, n: int) -> bytes:
    b = f.read(n)
    if len(b) != n:
        raise ValueError("truncated GGUF file")
    return b


def _read_str(f: BinaryIO) -> str:
    (n,) = struct.unpack("<Q", _read_exact(f, 8))
    if n > 1 << 24:
        raise ValueError("implausible GGUF string length")
    return _read_exact(f, n).decode("utf-8", "replace")


def _read_value(f: BinaryIO, vtype: int) -> Any:
    if vtype == _STRING:
        return _read_str(f)
    fmt = _SCALAR_FMT.get(vtype)
    if fmt is None:
        raise ValueError(f"unknown GGUF value type {vtype}")
    return struct.unpack(fmt, _read_exact(f, struct.calcsize(fmt)))[0]


def _skip_array(f: BinaryIO) -> None:
    item_type, n = struct.unpack("<IQ", _read_exact(f, 12))
    if item_type == _STRING:
        for _ in range(n):
            (k,) = struct.unpack("<Q", _read_exact(f, 8))
            f.seek(k, os.SEEK_CUR)
    elif item_type in _SCALAR_FMT:
        f.seek(n * struct.calcsize(_SCALAR_FMT[item_type]), os.SEEK_CUR)
    else:
        raise ValueError(f"unsupported GGUF array item type {item_type}")
