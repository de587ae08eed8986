"""Reading a checkpoint's app metadata needs no widgets: charrnn_gui.checkpoint_meta loads no Qt at all."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import sys
import charrnn_gui.checkpoint_meta
gui = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6"))
assert not gui, f"importing charrnn_gui.checkpoint_meta pulled in {gui}"
"""


def test_importing_checkpoint_meta_loads_no_qt():
    result = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
