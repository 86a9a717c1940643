import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Two cores: keep torch/OpenCV from oversubscribing them during tests.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _trackassist_cache_dir(tmp_path_factory):
    """One cache folder per test run (ONNX trunk graphs, trackers.backbones.onnx_engine): each graph
    is written once and shared by all tests, and nothing lands in the user's ~/.cache."""
    old = os.environ.get("TRACKASSIST_CACHE_DIR")
    os.environ["TRACKASSIST_CACHE_DIR"] = str(tmp_path_factory.mktemp("trackassist-cache"))
    yield os.environ["TRACKASSIST_CACHE_DIR"]
    if old is None:
        os.environ.pop("TRACKASSIST_CACHE_DIR", None)
    else:
        os.environ["TRACKASSIST_CACHE_DIR"] = old


@pytest.fixture
def store():
    """An in-memory project store (a test file that needs a file-backed one defines its own ``store``)."""
    from app.core.store import ProjectStore

    s = ProjectStore.open(":memory:")
    yield s
    s.close()
