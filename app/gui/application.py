"""``run_app(path)``: create the QApplication, the main window, and keep it alive.

An exception in a slot or a worker thread is logged (to the log file and
stderr) and shown as a message box; it never closes the window.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import traceback

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app.core.errors import TrackAssistError

log = logging.getLogger("trackassist.gui")


def log_path() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "trackassist", "gui.log")


def _setup_logging() -> str:
    path = log_path()
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handlers.append(logging.FileHandler(path, encoding="utf-8"))
    except OSError:   # read-only home: stderr only
        path = "(stderr)"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers, force=True)
    return path


def error_text(exc_type, exc, tb, log_file: str = "") -> str:
    """What a person sees: one line for our own errors, the exception plus a hint otherwise."""
    if isinstance(exc, TrackAssistError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory: close other programs, use a smaller video or a lighter tracker"
    where = f"\n\nThe details are in {log_file}." if log_file else ""
    return f"unexpected error: {exc_type.__name__}: {exc}{where}\nThe window keeps running; your edits are saved."


def install_excepthook(window_getter, log_file: str = "") -> None:
    """Route uncaught exceptions (slots, threads) to the log and a message box; never exit."""

    def show(text: str) -> None:
        window = window_getter()
        if window is not None and hasattr(window, "report_error"):
            window.report_error(text)
        else:
            QMessageBox.critical(None, "TrackAssist", text)

    def hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            QCoreApplication.quit()
            return
        log.error("uncaught exception:\n%s", "".join(traceback.format_exception(exc_type, exc, tb)))
        text = error_text(exc_type, exc, tb, log_file)
        if threading.current_thread() is threading.main_thread():
            show(text)
        else:   # widgets belong to the GUI thread: hand the message over
            QTimer.singleShot(0, QCoreApplication.instance(), lambda: show(text))

    def thread_hook(args) -> None:
        hook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = hook
    threading.excepthook = thread_hook


def run_app(path: str | None = None) -> int:
    log_file = _setup_logging()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("TrackAssist")
    app.setApplicationName("TrackAssist")
    from .main_window import MainWindow   # after QApplication: widgets need it

    window = MainWindow()
    install_excepthook(lambda: window, log_file)
    window.show()
    if path:
        QTimer.singleShot(0, lambda: window.open_path(path))
    return int(app.exec())
