"""The Qt-free layers stay Qt-free: import them with Qt made unimportable."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

BLOCK_QT = r"""
import sys, importlib.abc
class BlockQt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6', 'pyqtgraph'):
            raise ImportError('Qt is forbidden in the core: ' + name)
sys.meta_path.insert(0, BlockQt())
import pkgutil, importlib
for pkg_name in ('trackers', 'app.core'):
    pkg = importlib.import_module(pkg_name)
    for mod in pkgutil.walk_packages(pkg.__path__, pkg_name + '.'):
        if mod.name.endswith('__main__'):
            continue
        importlib.import_module(mod.name)
print('ok')
"""


def test_core_and_trackers_import_without_qt():
    out = subprocess.run([sys.executable, "-c", BLOCK_QT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def test_no_qt_import_statements_in_core():
    offenders = []
    for base in ("trackers", "app/core"):
        for path in (ROOT / base).rglob("*.py"):
            for line in path.read_text().splitlines():
                s = line.strip()
                if s.startswith(("import ", "from ")) and any(q in s for q in ("PySide6", "PyQt", "pyqtgraph", "shiboken")):
                    offenders.append(f"{path.relative_to(ROOT)}: {s}")
    assert offenders == []
