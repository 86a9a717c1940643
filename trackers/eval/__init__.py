"""Evaluation: GOT-10k-style dataset reader, metrics, annotation effort, and ``run_benchmark``.

``trackassist bench`` is a thin wrapper around :func:`run_benchmark`; tracker
authors may call it directly (see ``trackers/eval/benchmark.py``).  Each metric
is defined once: boxes in ``metrics.py``, masks in ``masks.py``, annotation
effort in ``effort.py``.
"""
from .benchmark import run_benchmark, summarize, write_summary
from .dataset import DatasetError, Sequence, load_dataset, load_sequence
from .effort import SimulatedAnnotator, interpolation_keyframes, per_100
from .masks import boundary_f, region_similarity
from .metrics import center_error, got10k_metrics, iou, otb_metrics, precision_at, success_auc

__all__ = ["DatasetError", "Sequence", "SimulatedAnnotator", "boundary_f", "center_error", "got10k_metrics",
           "interpolation_keyframes", "iou", "load_dataset", "load_sequence", "otb_metrics", "per_100",
           "precision_at", "region_similarity", "run_benchmark", "success_auc", "summarize", "write_summary"]
