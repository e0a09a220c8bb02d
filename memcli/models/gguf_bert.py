"""Convert a Hugging Face BERT sentence-embedding model to GGUF for llama.cpp.

The file is written by llama.cpp's own `gguf` package (imported only while
converting, at `mem models install`); the output is what llama.cpp's
convert_hf_to_gguf.py writes for `BertModel` with `--outtype f16`, so llama.cpp
loads it as arch `bert`. Reading a GGUF file's metadata stays here: it is on
every cold `mem recall`, where gguf's GGUFReader (which parses the whole vocab)
takes a second and `import gguf` 50 ms.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import struct
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..paths import ensure_private_dir

if TYPE_CHECKING:
    import gguf
    import numpy as np

GGUF_MAGIC = b"GGUF"
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


def _tensor_array(buf: mmap.mmap, base: int, t: _StTensor, dtype: str) -> np.ndarray:
    """The tensor, as a new array of `dtype` (nothing left pointing into `buf`)."""
    import numpy as np

    raw = np.frombuffer(buf, dtype=np.uint8, count=t.end - t.start, offset=base + t.start)
    if t.dtype == "BF16":
        # bf16 is the top half of an f32: widen by shifting into the high bits
        arr = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
    elif t.dtype in ("F32", "F16", "F64"):
        arr = raw.view({"F32": "<f4", "F16": "<f2", "F64": "<f8"}[t.dtype])
    else:
        raise ConversionError(f"unsupported safetensors dtype {t.dtype}")
    return arr.reshape(t.shape).astype(dtype)


# ---------------------------------------------------------------- tensors


# the MLM/NSP heads and the pooler are not used for embeddings (as upstream)
_SKIP = re.compile(r"^(embeddings\.position_ids|pooler\.|cls\.)")


def _gguf_name(names: gguf.TensorNameMap, hf_name: str) -> str | None:
    name = hf_name.removeprefix("bert.")
    if name.endswith(".gamma"):
        name = name[:-6] + ".weight"
    elif name.endswith(".beta"):
        name = name[:-5] + ".bias"
    if _SKIP.match(name):
        return None
    mapped = names.get_name(name, try_suffixes=(".weight", ".bias"))
    if mapped is None:
        raise ConversionError(f"unexpected tensor {hf_name!r}: not a plain BERT model")
    return mapped


def _sort_key(gguf_name: str) -> tuple[int, str]:
    # top-level tensors first, then blocks in numeric (not lexical) order
    if gguf_name.startswith("blk."):
        bid, rest = gguf_name[4:].split(".", 1)
        return (int(bid) + 1, rest)
    return (0, gguf_name)


def _out_dtype(gguf_name: str, n_dims: int) -> str:
    # Same rule as the upstream converter for f16 output: llama.cpp's kernels
    # want 1-D tensors, norms, biases, position and token-type tables in f32.
    if (
        n_dims <= 1
        or gguf_name.endswith("_norm.weight")
        or not gguf_name.endswith(".weight")
        or gguf_name.split(".")[0] in ("position_embd", "token_types")
    ):
        return "float32"
    return "float16"


def _plan(tensors: dict[str, _StTensor], n_blocks: int) -> list[tuple[str, _StTensor]]:
    """(GGUF name, source tensor) of each tensor to write, in the file's order."""
    import gguf

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, n_blocks)
    out = []
    for hf_name, t in tensors.items():
        name = _gguf_name(names, hf_name)
        if name is not None:
            out.append((name, t))
    if not any(name == "token_embd.weight" for name, _ in out):
        raise ConversionError("no word embeddings found in model.safetensors")
    return sorted(out, key=lambda o: _sort_key(o[0]))


# ---------------------------------------------------------------- vocab


def _load_vocab(model_dir: Path, n_vocab: int) -> tuple[list[str], list[int], dict[str, int]]:
    from gguf import TokenType

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
            types.append(TokenType.UNUSED)
        elif i in control:
            tokens.append(words[i])
            types.append(TokenType.CONTROL)
        else:
            # llama.cpp's WPM tokenizer marks word starts with U+2581 instead of
            # marking continuations with "##", so the vocab is rewritten that way
            w = words[i]
            tokens.append(w[2:] if w.startswith("##") else PHANTOM_SPACE + w)
            types.append(TokenType.NORMAL)
    return tokens, types, special


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _pooling_type(model_dir: Path) -> gguf.PoolingType:
    from gguf import PoolingType

    modules = _read_json_list(model_dir / "modules.json")
    for mod in modules:
        if mod.get("type") == "sentence_transformers.models.Pooling":
            pcfg = _read_json(model_dir / mod.get("path", "") / "config.json")
            if pcfg.get("pooling_mode_cls_token"):
                return PoolingType.CLS
            if pcfg.get("pooling_mode_mean_tokens"):
                return PoolingType.MEAN
            raise ConversionError("only mean or CLS pooling is supported")
    # a bare BERT dir without sentence-transformers metadata: mean is the usual choice
    return PoolingType.MEAN


def _read_json_list(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []


# ---------------------------------------------------------------- convert


def _bert_config(model_dir: Path) -> dict[str, Any]:
    cfg = _read_json(model_dir / "config.json")
    if cfg.get("model_type") != "bert":
        raise ConversionError(f"{model_dir}/config.json: model_type is not 'bert'")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ConversionError("only absolute position embeddings are supported")
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise ConversionError("only the gelu activation is supported")
    return cfg


def _add_metadata(writer: gguf.GGUFWriter, model_dir: Path, cfg: dict[str, Any], name: str | None) -> None:
    import gguf

    tokens, types, special = _load_vocab(model_dir, int(cfg["vocab_size"]))
    # The order of the keys is the order in the file, and the file's sha256 is
    # pinned (embed.DEFAULT_EMBED_SHA256): general.architecture came first.
    writer.add_type(gguf.GGUFType.MODEL)
    if name:
        writer.add_name(name)
    writer.add_context_length(int(cfg["max_position_embeddings"]))
    writer.add_embedding_length(int(cfg["hidden_size"]))
    writer.add_feed_forward_length(int(cfg["intermediate_size"]))
    writer.add_block_count(int(cfg["num_hidden_layers"]))
    writer.add_head_count(int(cfg["num_attention_heads"]))
    writer.add_layer_norm_eps(float(cfg.get("layer_norm_eps", 1e-12)))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_causal_attention(False)
    writer.add_pooling_type(_pooling_type(model_dir))
    writer.add_token_type_count(int(cfg.get("type_vocab_size", 1)))
    writer.add_tokenizer_model("bert")
    # informational for WPM vocabs (llama.cpp ignores it); upstream's hash
    # check maps the uncased BERT vocab to this name
    writer.add_tokenizer_pre("bert-bge")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    # upstream derives bos/eos from cls/sep for BERT; keep the same ids
    ids = (
        (writer.add_bos_token_id, special.get("cls")),
        (writer.add_eos_token_id, special.get("sep")),
        (writer.add_unk_token_id, special.get("unk")),
        (writer.add_sep_token_id, special.get("sep")),
        (writer.add_pad_token_id, special.get("pad")),
        (writer.add_mask_token_id, special.get("mask")),
    )
    for add, tid in ids:
        if tid is not None:
            add(tid)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(True)
    # upstream writes False here; llama.cpp's WPM path appends [SEP] anyway
    writer.add_add_sep_token(False)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def convert(model_dir: Path, dest: Path, *, name: str | None = None) -> None:
    """Write `dest` as an F16 GGUF of the BERT model in `model_dir`.

    Deterministic: the same input always gives the same bytes. The file only
    appears at `dest` once complete (temp file, fsync, rename).
    """
    import gguf

    model_dir = Path(model_dir)
    dest = Path(dest)
    st_path = model_dir / "model.safetensors"
    if not st_path.is_file():
        raise ConversionError(f"{st_path} is missing")
    cfg = _bert_config(model_dir)
    writer = gguf.GGUFWriter(None, "bert")
    _add_metadata(writer, model_dir, cfg, name)
    with open(st_path, "rb") as src:
        base, tensors = _read_safetensors_header(src)
        plan = _plan(tensors, int(cfg["num_hidden_layers"]))
        with mmap.mmap(src.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            for gguf_name, t in plan:
                writer.add_tensor(gguf_name, _tensor_array(buf, base, t, _out_dtype(gguf_name, len(t.shape))))
    with _atomic_path(dest) as tmp:
        try:
            writer.write_header_to_file(tmp)
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
        finally:
            writer.close()


@contextmanager
def _atomic_path(dest: Path) -> Iterator[Path]:
    """A temp file beside `dest` to fill; when the block ends it is fsynced and
    renamed to `dest`, or removed on an error: never a half file at `dest`."""
    ensure_private_dir(dest.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)


def write_atomic(dest: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write through a temp file in the same dir, fsync, rename: never a half file."""
    with _atomic_path(dest) as tmp, open(tmp, "wb") as out:
        write(out)


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

# GGUF value types; the reader needs no more of the format than this
_STRING, _ARRAY = 8, 9

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
