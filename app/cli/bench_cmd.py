"""``trackassist bench``: evaluate trackers on a GOT-10k-style folder (see trackers/eval).

Example (regenerates docs/BENCHMARKS.md)::

    trackassist bench ../shared/data/dev --tracker csrt --tracker kcf --tracker mil \\
        --tracker interpolation --out bench_out/dev --markdown docs/BENCHMARKS.md

Writes the got10k toolkit's layout under ``--out`` (``<tracker>/<seq>/<seq>_001.txt``,
``<seq>_time.txt``, ``masks/`` for mask trackers) plus ``summary.json`` and
``summary.md``.  Re-running skips sequences already done (``--force`` re-runs).
Compute threads default to 1 per tracker (OpenCV always; torch when the
tracker imported it): figures stay reproducible while other work shares the
cores, and it matches the app, which runs one inference thread beside the GUI.
``--jobs N`` runs N (tracker, sequence) pairs at once, one process each, so a
long run uses every core (``--jobs 2`` on the 2-core machine).
"""
from __future__ import annotations

import os
import shlex
import sys

from app.core.errors import FormatError, TrackAssistError

# The bench runs each (tracker, sequence) in a forked child (crash isolation, per-sequence peak RSS,
# --jobs), and forks only from a single-threaded parent (see trackers/eval/isolation.py).  numpy's
# OpenBLAS and OpenCV start thread pools when imported unless told not to, which silently turned
# isolation off for every `trackassist bench` run; the children set their own counts (--threads).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def add_arguments(parser) -> None:
    parser.add_argument("dataset", help="GOT-10k-style folder: list.txt, <seq>/00000001.jpg..., groundtruth.txt")
    parser.add_argument("--tracker", action="append", required=True, metavar="NAME",
                        help="tracker to evaluate (repeat for several); see `trackassist trackers`")
    parser.add_argument("--out", required=True, metavar="DIR", help="results folder (resumable)")
    parser.add_argument("--sequences", metavar="A,B", help="only these sequences (comma-separated)")
    parser.add_argument("--sequences-file", metavar="FILE", help="only the sequences named in FILE (one a line)")
    parser.add_argument("--holdout", metavar="TRAIN_LIST",
                        help="leave out the sequences named in TRAIN_LIST (e.g. those a tracker was trained on)")
    parser.add_argument("--max-frames", type=int, metavar="N", help="only the first N frames of each sequence")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"],
                        help="device for deep trackers (default cpu, comparable between machines)")
    parser.add_argument("--threads", type=int, default=1, metavar="N",
                        help="compute threads per tracker (OpenCV, and torch if the tracker uses it); default 1")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="run N (tracker, sequence) pairs at once, each in its own process; default 1. "
                             "Keep N x --threads within the cores, or the speeds measure the contention")
    parser.add_argument("--taus", default="0.5,0.7", metavar="T,T",
                        help="IoU thresholds of the simulated annotator (default 0.5,0.7)")
    parser.add_argument("--reference", default="csrt", metavar="NAME",
                        help="tracker every ratio is taken against; added to the run if missing (default csrt)")
    parser.add_argument("--no-reference", action="store_true", help="no reference tracker, no ratios to it")
    parser.add_argument("--force", action="store_true", help="re-run sequences whose results exist")
    parser.add_argument("--markdown", metavar="FILE", help="also write summary.md here (e.g. docs/BENCHMARKS.md)")
    parser.add_argument("--section", default="bench", metavar="NAME",
                        help="marked section of the --markdown file to replace (default: bench, the main table; "
                             "e.g. a tracker family's held-out run)")


def _command_line(args) -> str:
    """The command as typed when run through the ``trackassist`` script, else an equivalent one."""
    if os.path.basename(sys.argv[0]) == "trackassist" and "bench" in sys.argv[1:]:
        return "trackassist " + shlex.join(sys.argv[1:])
    parts = [args.dataset]
    for name in args.tracker:
        parts += ["--tracker", name]
    parts += ["--out", args.out]
    for flag in ("sequences", "sequences_file", "holdout", "max_frames", "markdown"):
        if getattr(args, flag) is not None:
            parts += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    if args.device != "cpu":
        parts += ["--device", args.device]
    if args.threads != 1:
        parts += ["--threads", str(args.threads)]
    if args.jobs != 1:
        parts += ["--jobs", str(args.jobs)]
    if args.taus != "0.5,0.7":
        parts += ["--taus", args.taus]
    if args.no_reference:
        parts.append("--no-reference")
    elif args.reference != "csrt":
        parts += ["--reference", args.reference]
    if args.force:
        parts.append("--force")
    if args.section != "bench":
        parts += ["--section", args.section]
    return "trackassist bench " + shlex.join(parts)


def _taus(text: str) -> tuple[float, ...]:
    try:
        taus = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise TrackAssistError(f"--taus: expected numbers like 0.5,0.7, got {text!r}") from None
    if not taus or not all(0 < t <= 1 for t in taus):
        raise TrackAssistError(f"--taus: thresholds must lie in (0, 1], got {text!r}")
    return taus


def run(args) -> int:
    from trackers.base import TrackerError
    from trackers.eval import DatasetError, run_benchmark
    from trackers.eval.dataset import read_name_list

    if args.max_frames is not None and args.max_frames < 2:
        raise TrackAssistError("--max-frames: needs at least 2 frames (one to start, one to track)")
    if args.threads < 1:
        raise TrackAssistError("--threads: needs at least 1")
    if args.jobs < 1:
        raise TrackAssistError("--jobs: needs at least 1")
    try:
        only = [s.strip() for s in args.sequences.split(",") if s.strip()] if args.sequences else []
        if args.sequences_file:
            only += read_name_list(args.sequences_file)
        exclude = read_name_list(args.holdout) if args.holdout else None
        summary = run_benchmark(
            args.dataset, list(dict.fromkeys(args.tracker)), args.out, sequences=only or None, exclude=exclude,
            max_frames=args.max_frames, device=args.device, force=args.force, threads=args.threads,
            taus=_taus(args.taus), reference=None if args.no_reference else args.reference,
            progress=sys.stderr, command=_command_line(args), markdown=args.markdown, section=args.section,
            jobs=args.jobs)
    except DatasetError as exc:
        raise FormatError(exc.path, "", exc.problem) from exc
    except TrackerError as exc:
        raise TrackAssistError(str(exc)) from exc
    print(os.path.join(args.out, "summary.md"))
    for name, t in summary["trackers"].items():
        ao = t["got10k"]["ao"]
        effort = "  ".join(f"effort@{tau} {e['vs_interpolation']:.2f}x interp" if e["vs_interpolation"] is not None
                           else f"effort@{tau} –" for tau, e in t["effort"].items())
        print(f"{name:16s} AO {'–' if ao is None else f'{ao:.3f}'}  {effort}")
    return 0
