"""Before the window opens: are the system libraries Qt's xcb platform plugin needs installed?

Qt 6.5+ needs libxcb-cursor0 and friends for X11; when one is missing Qt prints a warning and aborts
the process (exit 134) inside the QApplication constructor. This module looks first: it reads the
plugin's (and its Qt libraries') ELF dependencies, tries to load each system library with ctypes, and
names the Debian/Ubuntu packages that provide the missing ones.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys

# What Qt 6.5+'s xcb plugin needs from the system; used when the plugin's own list cannot be read.
KNOWN_XCB_LIBRARIES = (
    "libxcb.so.1", "libX11-xcb.so.1", "libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-image.so.0",
    "libxcb-keysyms.so.1", "libxcb-randr.so.0", "libxcb-render-util.so.0", "libxcb-render.so.0",
    "libxcb-shape.so.0", "libxcb-shm.so.0", "libxcb-sync.so.1", "libxcb-util.so.1", "libxcb-xfixes.so.0",
    "libxcb-xkb.so.1", "libxkbcommon.so.0", "libxkbcommon-x11.so.0",
)
# Debian/Ubuntu packages whose names do not follow the rule libfoo.so.N -> libfooN (libfoo2.so.N -> libfoo2-N).
PACKAGE_EXCEPTIONS = {
    "libc.so.6": "libc6", "libm.so.6": "libc6", "libgcc_s.so.1": "libgcc-s1",
    "libpthread.so.0": "libc6", "libdl.so.2": "libc6", "librt.so.1": "libc6", "libz.so.1": "zlib1g",
    "libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0", "libgobject-2.0.so.0": "libglib2.0-0",
}
_DT_NEEDED, _SHT_DYNAMIC = 1, 6
PLATFORM_PLUGIN = "libqxcb.so"


def package_for(soname: str) -> str:
    """The Debian/Ubuntu package that installs a shared library: libxcb-cursor.so.0 -> libxcb-cursor0."""
    if soname in PACKAGE_EXCEPTIONS:
        return PACKAGE_EXCEPTIONS[soname]
    if soname.startswith("ld-linux"):  # the dynamic linker itself
        return "libc6"
    stem, _, version = soname.partition(".so")
    major = version.lstrip(".").split(".")[0]
    stem = stem.lower()
    if not major:
        return stem
    return f"{stem}-{major}" if stem[-1].isdigit() else f"{stem}{major}"


def needed_libraries(path: str) -> list[str]:
    """The DT_NEEDED entries of an ELF shared object: the libraries the dynamic linker loads with it."""
    with open(path, "rb") as f:
        ident = f.read(16)
        if ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise ValueError(f"{path} is not an ELF file")
        wide, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
        header = f.read(48)
        if wide:
            shoff, = struct.unpack_from(order + "Q", header, 0x28 - 16)
            shentsize, shnum = struct.unpack_from(order + "HH", header, 0x3A - 16)
            section_fmt, dyn_fmt = order + "IIQQQQIIQQ", order + "qQ"
        else:
            shoff, = struct.unpack_from(order + "I", header, 0x20 - 16)
            shentsize, shnum = struct.unpack_from(order + "HH", header, 0x2E - 16)
            section_fmt, dyn_fmt = order + "IIIIIIIIII", order + "iI"
        f.seek(shoff)
        table = f.read(shentsize * shnum)
        sections = [struct.unpack_from(section_fmt, table, i * shentsize) for i in range(shnum)]
        names = []
        for _name, kind, _flags, _addr, offset, size, link, *_ in sections:
            if kind != _SHT_DYNAMIC:
                continue
            f.seek(sections[link][4])
            strings = f.read(sections[link][5])
            f.seek(offset)
            dynamic = f.read(size)
            for tag, value in struct.iter_unpack(dyn_fmt, dynamic[:size - size % struct.calcsize(dyn_fmt)]):
                if tag == 0:
                    break
                if tag == _DT_NEEDED:
                    names.append(strings[value:strings.index(b"\0", value)].decode("utf-8", "replace"))
        return names


def _qt_dirs() -> tuple[list[str], str]:
    """(folders that may hold the platforms/ plugins, Qt's own library folder)."""
    from PySide6.QtCore import QLibraryInfo

    plugins = [QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)]
    override = os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH")
    dirs = ([override] if override else []) + [os.path.join(p, "platforms") for p in plugins]
    return dirs, QLibraryInfo.path(QLibraryInfo.LibraryPath.LibrariesPath)


def xcb_system_libraries() -> list[str]:
    """The system libraries the xcb plugin loads, directly or through Qt's own libraries (which are skipped)."""
    try:
        plugin_dirs, qt_lib = _qt_dirs()
        plugin = next((os.path.join(d, PLATFORM_PLUGIN) for d in plugin_dirs
                       if os.path.isfile(os.path.join(d, PLATFORM_PLUGIN))), None)
        if plugin is None:
            return list(KNOWN_XCB_LIBRARIES)
        system, seen, todo = [], set(), [plugin]
        while todo:
            for name in needed_libraries(todo.pop()):
                if name in seen:
                    continue
                seen.add(name)
                bundled = os.path.join(qt_lib, name)
                if os.path.isfile(bundled):  # Qt's own, found through the plugin's RUNPATH: follow it
                    todo.append(bundled)
                else:
                    system.append(name)
        return system
    except (OSError, ValueError, struct.error, ImportError):
        return list(KNOWN_XCB_LIBRARIES)


def missing_libraries(names, load=None) -> list[str]:
    """The names among names that the dynamic linker cannot load (load: ctypes.CDLL)."""
    load = ctypes.CDLL if load is None else load
    missing = []
    for name in names:
        try:
            load(name)
        except OSError:
            missing.append(name)
    return missing


def _requested_platform(environ, argv) -> str:
    args = list(argv)
    for i, arg in enumerate(args):
        if arg in ("-platform", "--platform") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(("-platform=", "--platform=")):
            return arg.split("=", 1)[1]
    return environ.get("QT_QPA_PLATFORM", "")


def xcb_will_be_used(environ=None, argv=()) -> bool:
    """Whether the QApplication about to be created will load the xcb plugin (X11).

    An explicit platform (-platform or QT_QPA_PLATFORM, e.g. "wayland;xcb") is followed in order: a
    Wayland entry is taken when a Wayland display is there. Without one, Qt uses xcb on Linux unless
    this is a Wayland session with a Wayland display.
    """
    environ = os.environ if environ is None else environ
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return False
    wayland = bool(environ.get("WAYLAND_DISPLAY"))
    requested = _requested_platform(environ, argv)
    if requested:
        for entry in requested.split(";"):
            name = entry.split(":", 1)[0].strip()
            if name == "xcb":
                return True
            if name.startswith("wayland") and not wayland:
                continue  # Qt tries the next entry
            if name:
                return False
        return False
    return not (wayland and environ.get("XDG_SESSION_TYPE", "").lower() == "wayland")


def missing_packages_message(environ=None, argv=(), libraries=None, load=None) -> str | None:
    """One line naming the packages to install when xcb will be used and cannot load; else None."""
    if not xcb_will_be_used(environ, argv):
        return None
    missing = missing_libraries(xcb_system_libraries() if libraries is None else libraries, load)
    if not missing:
        return None
    packages = list(dict.fromkeys(package_for(name) for name in missing))
    return (f"charrnn-gui cannot open a window: Qt's X11 (xcb) platform plugin needs {', '.join(missing)}, "
            f"which {'is' if len(missing) == 1 else 'are'} not installed; on Debian or Ubuntu install "
            f"{'it' if len(packages) == 1 else 'them'} with: sudo apt-get install {' '.join(packages)}")
