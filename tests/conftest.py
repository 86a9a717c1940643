import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Two cores: keep torch/OpenCV from oversubscribing them during tests.
os.environ.setdefault("OMP_NUM_THREADS", "1")
