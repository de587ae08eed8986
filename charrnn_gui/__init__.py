"""charrnn's desktop app: watch a character-level RNN learn to write.

`from charrnn_gui import MainWindow` imports the window lazily, so `import charrnn_gui` stays cheap.
"""

__all__ = ["MainWindow", "main"]


def __getattr__(name):
    if name == "MainWindow":
        from .main_window import MainWindow

        return MainWindow
    if name == "main":
        from .app import main

        return main
    raise AttributeError(f"module 'charrnn_gui' has no attribute {name!r}")
