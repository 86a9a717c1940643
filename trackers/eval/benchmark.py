"""``run_benchmark``: the one call that evaluates trackers on a GOT-10k-style folder.

Example, for a tracker author::

    from trackers.eval import run_benchmark
    summary = run_benchmark("/path/to/dev", ["csrt", "mytracker"], "bench_out/dev",
                            sequences=["vot2014-ball"], max_frames=200)
    print(summary["trackers"]["mytracker"]["got10k"]["ao"])

A tracker is a registered name or, for one not registered yet, a
``name -> factory`` mapping where ``factory()`` returns a
:class:`trackers.base.Tracker`.  Results are resumable: a sequence whose
result files are complete for the same number of frames is skipped unless
``force``; the summary is always recomputed from the files.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from datetime import datetime, timezone
from typing import Callable, Iterable, Mapping, TextIO

from . import results
from .dataset import load_dataset
from .effort import TAUS
from .machine import machine_info
from .metrics import evaluated_frames, iou
from .report import render_markdown
from .isolation import can_isolate, finish_isolated, run_isolated, start_isolated
from .runner import run_sequence
from ..registry import training_sequences
from .summary import add_ratios, add_unseen, evaluate_tracker, interpolation_effort

DEFAULT_REFERENCE = "csrt"


def _factories(trackers: Iterable[str] | Mapping[str, Callable[[], object]], device: str) -> dict:
    import trackers as registry

    if isinstance(trackers, Mapping):
        return dict(trackers)
    out = {}
    for name in trackers:
        registry.info(name)  # unknown names fail now, with the list of known ones, not after an hour
        out[name] = (lambda n=name: registry.create(n, device=device))
    return out


def _progress_line(out_dir, name, seq, record, done, total) -> str:
    boxes = results.read_result_boxes(out_dir, name, seq.name)
    keep = evaluated_frames(seq.absent)
    ao = float(iou(boxes, seq.boxes, seq.size)[keep].mean()) if keep.any() else float("nan")
    sp = record["speed"]
    fps = sp["tracked_frames"] / sp["track_seconds"] if sp["track_seconds"] > 0 else float("inf")
    e2e = record["frames"] / max(1e-9, sp["decode_seconds"] + sp["init_seconds"] + sp["track_seconds"])
    if record.get("crashed"):
        return f"[{done}/{total}] {name}  {seq.name}  CRASHED: {record['crashed']}; scored as no box after frame 1"
    effort = "  ".join(f"corr@{tau} {e['corrections']}" for tau, e in record["effort"].items())
    return (f"[{done}/{total}] {name}  {seq.name}  {record['frames']} frames  track {fps:.1f} fps  "
            f"e2e {e2e:.1f} fps  AO {ao:.3f}  {effort}  ({sp['wall_seconds']:.1f} s)")


def run_benchmark(dataset_dir: str, trackers: Iterable[str] | Mapping[str, Callable[[], object]], out_dir: str, *,
                  sequences: list[str] | None = None, exclude: list[str] | None = None,
                  max_frames: int | None = None, device: str = "cpu", force: bool = False, threads: int = 1,
                  taus: tuple[float, ...] = TAUS, reference: str | None = DEFAULT_REFERENCE,
                  progress: TextIO | None = sys.stderr, command: str | None = None,
                  markdown: str | None = None, isolate: bool = True, section: str = "bench", jobs: int = 1) -> dict:
    """Run (or resume) every tracker on every sequence and write ``summary.json`` / ``summary.md``.

    ``reference`` (default ``csrt``) is added to the run when missing so that
    every ratio comes from the same run; pass ``None`` to skip it.
    ``device`` defaults to ``cpu`` so that figures are comparable between
    machines (``auto`` also imports torch to look for CUDA, which costs an
    OpenCV-only run memory).  ``threads`` caps OpenCV's and (if the tracker imported it) torch's threads.
    ``isolate`` runs each (tracker, sequence) in a forked child (see isolation.py) so a
    crashing tracker costs that sequence, not the run.
    ``markdown`` names one more file to receive ``summary.md`` (e.g. docs/BENCHMARKS.md),
    spliced into its marked ``section`` (see :func:`splice_marked_section`).
    ``jobs`` (tracker, sequence) pairs run at once, each in its own child (with ``threads`` threads):
    ``jobs x threads`` should not exceed the cores, or the speeds measure the contention.
    Returns the summary dict.
    """
    from ..registry import resolve_device

    device = resolve_device(device)
    factories = _factories(trackers, device)
    if reference and reference not in factories:
        factories = {**_factories([reference], device), **factories}
    seqs = [s.truncated(max_frames) for s in load_dataset(dataset_dir, sequences, exclude)]
    os.makedirs(out_dir, exist_ok=True)
    total = len(factories) * len(seqs)
    pending = []
    for done, (name, seq) in enumerate(((n, q) for n in factories for q in seqs), 1):
        if not force and results.is_complete(out_dir, name, seq.name, len(seq), taus):
            if progress:
                print(f"[{done}/{total}] {name}  {seq.name}  done before, skipped (--force re-runs)", file=progress)
            continue
        pending.append((done, name, seq))

    def runner(name, seq):
        factory = factories[name]
        return lambda: run_sequence(factory, seq, out_dir, name, taus=taus, threads=threads, device=device,
                                    progress=progress)

    def started(done, name, seq):
        if progress:
            print(f"[{done}/{total}] {name}  {seq.name}  {len(seq)} frames ...", file=progress, flush=True)

    def finished(done, name, seq, record):
        if progress:
            print(_progress_line(out_dir, name, seq, record, done, total), file=progress, flush=True)

    if jobs > 1 and isolate and can_isolate():
        _run_parallel(pending, jobs, runner, started, finished, out_dir, taus)
    else:
        for done, name, seq in pending:
            started(done, name, seq)
            run = runner(name, seq)
            finished(done, name, seq, run_isolated(run, seq, out_dir, name, taus) if isolate else run())

    summary = summarize(out_dir, list(factories), seqs, taus=taus, reference=reference, dataset_dir=dataset_dir,
                        device=device, threads=threads, max_frames=max_frames, jobs=jobs,
                        command=command or f"run_benchmark({dataset_dir!r}, {list(factories)!r}, {out_dir!r})")
    write_summary(summary, out_dir, markdown, section)
    return summary


def _run_parallel(pending, jobs, runner, started, finished, out_dir, taus) -> None:
    """Keep ``jobs`` forked children busy until ``pending`` is empty (each child writes its own files)."""
    from multiprocessing.connection import wait

    queue, running = list(pending), {}
    while queue or running:
        while queue and len(running) < jobs:
            done, name, seq = queue.pop(0)
            started(done, name, seq)
            child = start_isolated(runner(name, seq))
            running[child.sentinel] = (child, done, name, seq)
        for sentinel in wait(list(running)):
            child, done, name, seq = running.pop(sentinel)
            finished(done, name, seq, finish_isolated(child, seq, out_dir, name, taus))


def summarize(out_dir: str, tracker_names: list[str], seqs, *, taus=TAUS, reference=DEFAULT_REFERENCE,
              dataset_dir: str = "", device: str = "cpu", threads: int = 1, max_frames=None,
              command: str = "", jobs: int = 1) -> dict:
    """The summary dict from result files on disk (no tracker runs)."""
    started = time.perf_counter()
    summary = {
        "command": command,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "dataset": dataset_dir, "sequences": [s.name for s in seqs],
        "sequence_frames": {s.name: len(s) for s in seqs},
        "max_frames": max_frames, "device": device, "threads": threads, "jobs": jobs, "taus": list(taus),
        "reference": reference,
        "trackers": {name: evaluate_tracker(out_dir, name, seqs, taus) for name in tracker_names},
        "interpolation_keyframes": interpolation_effort(seqs, taus),
    }
    add_ratios(summary, reference)
    add_unseen(summary, out_dir, seqs, {name: training_sequences(name) for name in tracker_names}, taus)
    summary["summary_seconds"] = time.perf_counter() - started
    return summary


def write_summary(summary: dict, out_dir: str, markdown: str | None = None, section: str = "bench") -> None:
    with open(os.path.join(out_dir, "summary.json.tmp"), "w") as f:
        json.dump(summary, f, indent=1)
    os.replace(os.path.join(out_dir, "summary.json.tmp"), os.path.join(out_dir, "summary.json"))
    # Secondary sections sit one heading level below the main table.
    text = render_markdown(summary) if section == "bench" else "#" + render_markdown(summary, title=f"Benchmarks: {section}")
    for path in [os.path.join(out_dir, "summary.md")] + ([markdown] if markdown else []):
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        merged = text if path != markdown else splice_marked_section(path, section, text)
        with open(path + ".tmp", "w") as f:
            f.write(merged)
        os.replace(path + ".tmp", path)


_SECTION = re.compile(r"<!-- (?P<name>[\w-]+) -->\n.*?<!-- /(?P=name) -->\n?", re.S)


def splice_marked_section(path: str, name: str, text: str) -> str:
    """The file's text with ``<!-- name --> ... <!-- /name -->`` replaced by ``text``.

    docs/BENCHMARKS.md is shared: the main tracker table (``bench``), the
    held-out runs of each tracker family, GUI latency and long videos each
    keep their own marked section, which regenerating one must not wipe.  A
    section is replaced in place; a new one is appended (``bench`` goes
    first).  Unmarked text outside any section is dropped (it was ours).
    """
    block = f"<!-- {name} -->\n{text.rstrip()}\n<!-- /{name} -->\n"
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        return block
    sections = [(m.group("name"), m.group(0) if m.group(0).endswith("\n") else m.group(0) + "\n")
                for m in _SECTION.finditer(old)]
    if any(n == name for n, _ in sections):
        sections = [(n, block if n == name else b) for n, b in sections]
    elif name == "bench":
        sections.insert(0, (name, block))
    else:
        sections.append((name, block))
    return "\n".join(b for _, b in sections)
