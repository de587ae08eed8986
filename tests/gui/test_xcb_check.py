"""charrnn-gui on a desktop without the X11 libraries Qt's xcb plugin needs: one line and an install command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from charrnn_gui import xcb_check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ISSUE_LIBRARIES = ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1")
INSTALL = "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb plugin is Linux's")


def _x11_environment(**extra) -> dict:
    """A plain X11 desktop: DISPLAY set (to a server that does not exist), no platform chosen, no Wayland."""
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    env.update(DISPLAY=":7391", PYTHONPATH=ROOT, **extra)
    return env


def test_package_names_are_debians():
    assert [xcb_check.package_for(n) for n in ISSUE_LIBRARIES] == ["libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"]
    assert xcb_check.package_for("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert xcb_check.package_for("libX11-xcb.so.1") == "libx11-xcb1"
    assert xcb_check.package_for("libxcb-render-util.so.0") == "libxcb-render-util0"
    assert xcb_check.package_for("libglib-2.0.so.0") == "libglib2.0-0"


@linux_only
def test_the_plugins_own_dependencies_are_read_and_qts_libraries_skipped():
    names = xcb_check.xcb_system_libraries()
    assert set(ISSUE_LIBRARIES) <= set(names)
    assert not [n for n in names if n.startswith("libQt6")]  # Qt's own come with PySide6
    assert xcb_check.missing_libraries(names) == []  # this machine runs the app on X11


@pytest.mark.parametrize("environ, argv, expected", [
    ({"DISPLAY": ":0"}, [], True),
    ({}, [], True),  # no display at all: xcb is still what Qt tries
    ({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, [], False),
    ({"QT_QPA_PLATFORM": "xcb"}, [], True),
    ({"DISPLAY": ":0"}, ["-platform", "offscreen"], False),
    ({"QT_QPA_PLATFORM": "offscreen"}, ["--platform=xcb"], True),
    ({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":0"}, [], True),  # no Wayland display: xcb
    ({"QT_QPA_PLATFORM": "wayland;xcb", "WAYLAND_DISPLAY": "wayland-0"}, [], False),
    ({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"}, [], False),
    ({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "x11", "DISPLAY": ":0"}, [], True),
])
@linux_only
def test_the_check_runs_only_when_xcb_will_be_used(environ, argv, expected):
    assert xcb_check.xcb_will_be_used(environ, argv) is expected


def _pretend_missing(missing):
    def load(name):
        if name in missing:
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")
    return load


@linux_only
def test_the_message_names_the_packages_and_the_command():
    message = xcb_check.missing_packages_message({"DISPLAY": ":0"}, load=_pretend_missing(ISSUE_LIBRARIES))
    assert "\n" not in message
    assert message.endswith(INSTALL)
    assert all(name in message for name in ISSUE_LIBRARIES)
    assert xcb_check.missing_packages_message({"DISPLAY": ":0"}, load=_pretend_missing(())) is None
    assert xcb_check.missing_packages_message({"QT_QPA_PLATFORM": "offscreen"},
                                              load=_pretend_missing(ISSUE_LIBRARIES)) is None


@linux_only
def test_charrnn_gui_says_what_to_install_instead_of_aborting():
    # The libraries fail to load as they would on a fresh desktop; the display does not exist, so a
    # QApplication created anyway would abort (exit 134) rather than print the line.
    script = textwrap.dedent(f"""
        import ctypes, sys
        real = ctypes.CDLL
        def cdll(name, *args, **kwargs):
            if name in {ISSUE_LIBRARIES!r}:
                raise OSError(name + ": cannot open shared object file: No such file or directory")
            return real(name, *args, **kwargs)
        ctypes.CDLL = cdll
        from charrnn_gui.app import main
        sys.exit(main([]))
    """)
    done = subprocess.run([sys.executable, "-c", script], env=_x11_environment(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].endswith(INSTALL)
    assert done.stdout == ""


def _can_hide_files() -> bool:
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


def _loaded_path(soname: str) -> str:
    import ctypes

    ctypes.CDLL(soname)
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if os.path.basename(path).startswith(soname):
                return os.path.realpath(path)
    raise AssertionError(f"{soname} is not mapped")


@pytest.mark.skipif(not _can_hide_files(), reason="needs root and a private mount namespace (unshare -m)")
def test_charrnn_gui_with_the_libraries_really_gone():
    # In a private mount namespace (nobody else sees it) /dev/null is bound over the real libraries.
    hide = " && ".join(f"mount --bind /dev/null {_loaded_path(n)}" for n in ISSUE_LIBRARIES)
    done = subprocess.run(["unshare", "-m", "sh", "-c", f'{hide} && exec "$0" -m charrnn_gui', sys.executable],
                          env=_x11_environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().endswith(INSTALL), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
