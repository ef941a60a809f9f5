"""Compiled simulations cached by content: the same sources and flags are compiled once.

hls4ml's C simulation (g++) and da4ml's Verilated RTL (Verilator, then g++) alike.

A compile costs seconds to minutes (distributed-arithmetic designs are long C++ files); runs, scan
points, reruns and tests build the same projects again. ``compile_model`` does what hls4ml's
``ModelGraph.compile`` does (write the project, build the shared library, load it), except that the build
is looked up first in a folder of libraries named by the hash of everything the build reads: the
project's ``firmware/`` tree and bridge, its build script with the per-write stamp taken out, the
compiler's version and, for a library that loads weight files at run time, the project's own path
(``firmware.rtl.build_emulator`` keys its Verilator builds its own way and uses ``fetch`` / ``store``).
``L1AD_CSIM_CACHE`` names the folder (default ``~/.cache/l1ad/csim``; empty: no cache). The newest
``MAX_ENTRIES`` libraries are kept.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
from functools import cache
from pathlib import Path
from typing import Any

from firmware import tools
from l1ad.io import atomic_path

MAX_ENTRIES = 300
RUNTIME_WEIGHTS = b"_weights_from_txt<"  # hls4ml's csim-only weight loading, from WEIGHTS_DIR


def cache_dir() -> Path | None:
    """The cache folder, or None when ``L1AD_CSIM_CACHE`` is set empty."""
    value = os.environ.get("L1AD_CSIM_CACHE")
    if value == "":
        return None
    return Path(value) if value else Path.home() / ".cache" / "l1ad" / "csim"


@cache
def compiler_version(cxx: str = "g++") -> str:
    """What ``cxx --version`` prints, asked once per process: part of every build's key."""
    return tools.version([cxx, "--version"])


def build_key(hls_model: Any) -> str:
    """Hash of what the g++ build of the written project reads (the per-write stamp aside)."""
    project = Path(hls_model.config.get_output_dir())
    name, stamp = hls_model.config.get_project_name(), str(hls_model.config.get_config_value("Stamp"))
    digest = hashlib.sha256(compiler_version().encode())
    sources = sorted(p for p in (project / "firmware").rglob("*") if p.is_file() and p.suffix != ".so")
    for path in [*sources, project / f"{name}_bridge.cpp", project / "build_lib.sh"]:
        digest.update(str(path.relative_to(project)).encode())
        digest.update(path.read_bytes().replace(stamp.encode(), b"STAMP"))
    if reads_weight_files(project):  # valid at this path only
        digest.update(str(project.resolve()).encode())
    return digest.hexdigest()[:32]


def reads_weight_files(project: Path) -> bool:
    """Whether the project's C simulation reads hls4ml's weight text files at run time (from the absolute
    path its library was built at: a library built elsewhere, then moved, no longer finds them)."""
    return any(RUNTIME_WEIGHTS in path.read_bytes() for path in (Path(project) / "firmware").glob("*.cpp"))


def compile_model(hls_model: Any) -> None:
    """``hls_model.compile()`` with the build taken from the cache when the same one was made before."""
    hls_model.write()
    config = hls_model.config
    lib = (
        Path(config.get_output_dir())
        / "firmware"
        / f"{config.get_project_name()}-{config.get_config_value('Stamp')}.so"
    )
    key = build_key(hls_model)
    if not fetch(key, lib):
        lib = Path(config.backend.compile(hls_model))
        store(key, lib)
    _load(hls_model, lib)


def fetch(key: str, lib: Path) -> bool:
    """Put the library cached under ``key`` at ``lib``; False when there is none (or no cache)."""
    folder = cache_dir()
    return folder is not None and _restore(folder / f"{key}.so", lib)


def store(key: str, lib: Path) -> None:
    """Keep a copy of the built library ``lib`` under ``key`` (nothing without a cache)."""
    folder = cache_dir()
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / f"{key}.so") as tmp:  # two processes building the same library: one wins
        shutil.copyfile(lib, tmp)
    _prune(folder)


def _restore(cached: Path, lib: Path) -> bool:
    """Put the cached library at ``lib``; False when it is not there (never built, or pruned meanwhile).

    A new file replaces ``lib``, never a rewrite in place: this process may have the library at that path
    loaded already (the same project compiled again, with and without tracing), and rewriting a mapped
    library crashes it. The linker does the same."""
    try:
        with atomic_path(lib) as tmp:
            shutil.copyfile(cached, tmp)
        os.utime(cached)  # recently used: kept by the pruning
    except FileNotFoundError:
        return False
    return True


def _load(hls_model: Any, lib: Path) -> None:
    """Link the library into this process as hls4ml's ``_compile`` does (closing the one loaded before)."""
    if hls_model._top_function_lib is not None:
        dlclose = ctypes.CDLL("libdl.so.2").dlclose
        dlclose.argtypes = [ctypes.c_void_p]
        dlclose(hls_model._top_function_lib._handle)
    hls_model._top_function_lib = ctypes.cdll.LoadLibrary(str(lib))


def _prune(folder: Path) -> None:
    """Keep the newest ``MAX_ENTRIES`` libraries of the cache."""

    def used(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except FileNotFoundError:  # pruned by another process meanwhile
            return 0.0

    for old in sorted(folder.glob("*.so"), key=used, reverse=True)[MAX_ENTRIES:]:
        old.unlink(missing_ok=True)
