"""Files from others are data, never code: no pickle, eval or exec anywhere; weights load with weights_only=True.

A project file is SQLite plus JSON, annotation files are JSON/text, weights
are tensors: opening any of them must not be able to run code.  This walks
the syntax tree of every Python file of the project (not a text grep, so
``model.eval()`` and ``dialog.exec()`` methods are not confused with the
builtins) and fails on any way of unpickling or evaluating text.
"""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCANNED = ("app", "trackers", "benchmarks", "scripts", "tests")
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal", "joblib"}
UNSAFE_BUILTINS = {"eval", "exec", "compile"}


def python_files():
    for top in SCANNED:
        folder = ROOT / top
        if folder.is_dir():
            yield from sorted(p for p in folder.rglob("*.py") if ".git" not in p.parts)


def dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def keyword_is(call: ast.Call, name: str, value) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is value for k in call.keywords)


def problems_in(source: str, name: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, name)):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
            found.append(f"{where}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            func = dotted(node.func)
            if isinstance(node.func, ast.Name) and func in UNSAFE_BUILTINS:
                found.append(f"{where}: {func}()")
            elif func.endswith("torch.load"):
                if not keyword_is(node, "weights_only", True):
                    found.append(f"{where}: torch.load without weights_only=True")
            elif func in ("np.load", "numpy.load") and keyword_is(node, "allow_pickle", True):
                found.append(f"{where}: {func}(allow_pickle=True)")
            elif func in ("yaml.load", "yaml.unsafe_load", "pd.read_pickle", "pandas.read_pickle", "torch.jit.load"):
                found.append(f"{where}: {func}()")
    return found


def test_no_unpickling_or_evaluation_anywhere_in_the_source_tree():
    files = list(python_files())
    assert len(files) > 50   # the scan really covers the project
    problems = [p for f in files for p in problems_in(f.read_text(encoding="utf-8"), str(f.relative_to(ROOT)))]
    assert problems == [], "\n".join(problems)


def test_the_scanner_catches_each_unsafe_form():
    bad = """
import pickle
from dill import loads
import numpy as np, torch
eval("1")
exec("x = 1")
compile("1", "f", "eval")
torch.load("w.pt")
torch.load("w.pt", weights_only=False)
np.load("a.npy", allow_pickle=True)
"""
    good = """
import numpy as np, torch
model.eval()
dialog.exec()
torch.load("w.pt", map_location="cpu", weights_only=True)
np.load("a.npy")
"""
    assert len(problems_in(bad, "bad.py")) == 8
    assert problems_in(good, "good.py") == []
