"""The one place that constructs `llama_cpp.Llama`.

llama_cpp is imported inside functions only: importing it costs ~0.1 s and
commands that never touch a model (`mem --help`) must not pay for it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import llama_cpp

log = logging.getLogger("memcli.llama")
# llama.cpp talks a lot; without this, Python's last-resort handler would put
# its warnings on stderr of a `mem` command. Apps that configure logging still
# see everything.
log.addHandler(logging.NullHandler())

_patch_lock = threading.Lock()
_log_installed = False
_log_callback: Any = None  # must outlive every native call that may log

# ggml_log_level -> logging level (CONT=5 continues the previous line)
_LEVELS = {0: logging.DEBUG, 1: logging.DEBUG, 2: logging.WARNING, 3: logging.ERROR, 4: logging.DEBUG}


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """One thread per core this process may use.

    Not the load average: a process's own threads count in it, so each command
    after a busy one would halve its speed. Contention is handled where it shows,
    in LlamaEmbedder (slow decodes drop it to one thread).
    """
    return cpu_count()


def set_threads(llm: llama_cpp.Llama, n_threads: int) -> None:
    """Change a loaded model's thread count; takes effect at the next decode."""
    llm._ctx.set_n_threads(n_threads, n_threads)
    llm.n_threads = llm.n_threads_batch = n_threads


def _install_log_callback() -> None:
    """Route llama.cpp/ggml logging into the `memcli.llama` logger instead of stderr."""
    global _log_installed, _log_callback
    if _log_installed:
        return
    import llama_cpp

    last = [logging.DEBUG]

    def _cb(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        lvl = last[0] if level == 5 else _LEVELS.get(level, logging.DEBUG)
        last[0] = lvl
        if log.isEnabledFor(lvl):
            log.log(lvl, "%s", text.decode("utf-8", "replace").rstrip("\n"))

    _log_callback = llama_cpp.llama_log_callback(_cb)
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))
    _keep_stdout_stderr()
    _log_installed = True


class _Untouched:
    """Stands in for llama_cpp's suppress_stdout_stderr (same signature, does nothing)."""

    def __init__(self, disable: bool = True) -> None:
        pass

    def __enter__(self) -> _Untouched:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _keep_stdout_stderr() -> None:
    """Stop llama_cpp from pointing file descriptors 1 and 2 at /dev/null while it loads.

    It does that for the whole process with dup2, so whatever another thread
    wrote meanwhile was lost: an error line of the command, or a reply of
    `mem mcp`, while a model loaded in the background. llama.cpp's own logging
    goes to the callback above instead, so nothing reaches the terminal anyway
    (tests check that a load prints nothing).
    """
    import llama_cpp.llama
    import llama_cpp.llama_chat_format
    from llama_cpp import _internals

    for module in (llama_cpp.llama, _internals, llama_cpp.llama_chat_format):
        if hasattr(module, "suppress_stdout_stderr"):
            module.suppress_stdout_stderr = _Untouched  # type: ignore[attr-defined]


def load_llama(
    path: Path | str,
    *,
    embedding: bool = False,
    n_ctx: int = 4096,
    n_batch: int = 512,
    n_threads: int | None = None,
    **kw: Any,
) -> llama_cpp.Llama:
    """Load a GGUF model with the settings this machine needs.

    `use_extra_bufts` is forced off: with it on, llama.cpp repacks weights
    into extra buffer types (CPU_REPACK, AMX), and a native build segfaults on
    the first decode of any quantized model on AMX CPUs (llama.cpp #20824).
    Off was also the fastest setting measured and uses less memory.
    `n_threads` defaults to default_threads().
    """
    import llama_cpp
    import llama_cpp.llama_cpp as llama_c

    threads = n_threads or default_threads()
    kw.setdefault("n_threads_batch", threads)
    kw.setdefault("n_ubatch", n_batch)

    # Llama() has no argument for use_extra_bufts and fills its model params
    # from llama_model_default_params() inside __init__, so that function is
    # wrapped for the duration of the constructor. The lock keeps a
    # concurrent load from seeing (or restoring) the wrong function.
    with _patch_lock:
        # Under the lock: two threads loading models at once (`mem ask` loads the
        # embedder and the generator side by side) must not both install a log
        # callback, or llama.cpp keeps a pointer to one that Python freed.
        _install_log_callback()
        original = llama_c.llama_model_default_params

        def _params() -> Any:
            params = original()
            params.use_extra_bufts = False
            return params

        llama_c.llama_model_default_params = _params
        try:
            llm = llama_cpp.Llama(
                model_path=str(path),
                embedding=embedding,
                n_ctx=n_ctx,
                n_batch=n_batch,
                n_threads=threads,
                verbose=False,
                **kw,
            )
        finally:
            llama_c.llama_model_default_params = original
    if llm.model_params.use_extra_bufts:
        llm.close()
        raise RuntimeError("llama_cpp ignored use_extra_bufts=False; refusing to run (AMX crash)")
    return llm
