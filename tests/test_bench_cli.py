"""`trackassist bench` end to end on a tiny synthetic GOT-10k folder (never the shared data)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from app.cli.main import main
from trackers.base import Tracker, TrackResult
from trackers.data.synthetic import SyntheticClip
from trackers.eval import run_benchmark
from trackers.eval.dataset import read_boxes

FRAMES = 12


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("got10k"))
    SyntheticClip(width=160, height=120, num_frames=FRAMES, seed=1, target_size=(30, 24), speed=2.0) \
        .write_got10k(root, "walk", masks=True)
    SyntheticClip(width=160, height=120, num_frames=FRAMES, seed=2, target_size=(30, 24), speed=2.0,
                  exit_frames=(5, 8)).write_got10k(root, "exit")
    return root


def bench(dataset, out, *extra):
    return main(["bench", dataset, "--tracker", "interpolation", "--reference", "kcf", "--out", out, *extra])


def test_bench_writes_toolkit_layout_summary_and_resumes(dataset, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert bench(dataset, out) == 0
    for tracker in ("interpolation", "kcf"):             # the reference is added to the run
        for seq in ("walk", "exit"):
            boxes = read_boxes(os.path.join(out, tracker, seq, f"{seq}_001.txt"))
            assert len(boxes) == FRAMES
            gt_first = read_boxes(os.path.join(dataset, seq, "groundtruth.txt"))[0]
            assert np.allclose(boxes[0], gt_first, atol=5e-4)     # line 1 = the init box
            times = open(os.path.join(out, tracker, seq, f"{seq}_time.txt")).read().split()
            assert len(times) == FRAMES and all(float(t) >= 0 for t in times)
    first_line = open(os.path.join(out, "kcf", "walk", "walk_001.txt")).readline().strip()
    assert len(first_line.split(",")) == 4 and all(len(v.split(".")[1]) == 3 for v in first_line.split(","))

    summary = json.load(open(os.path.join(out, "summary.json")))
    assert {"command", "date", "machine", "trackers", "interpolation_keyframes", "sequences"} <= set(summary)
    assert summary["command"].startswith("trackassist bench ")
    assert {"cpu", "cores", "ram_gb"} <= set(summary["machine"])
    assert summary["sequences"] == ["walk", "exit"]
    for name in ("kcf", "interpolation"):
        t = summary["trackers"][name]
        assert 0.0 <= t["got10k"]["ao"] <= 1.0 and 0.0 <= t["got10k"]["sr50"] <= 1.0
        # 2 sequences x 11 tracked frames, minus the 3 absent ones
        assert t["got10k"]["frames"] == 2 * (FRAMES - 1) - 3
        assert 0.0 <= t["otb"]["auc"] <= 1.0 and 0.0 <= t["otb"]["precision"] <= 1.0
        assert t["speed"]["track_fps"] > 0 and t["speed"]["peak_rss_mb"] > 0
        for tau in ("0.5", "0.7"):
            assert 0 <= t["effort"][tau]["corrections"] <= 2 * (FRAMES - 1)
    assert summary["trackers"]["kcf"]["vs_reference"]["ao"] == pytest.approx(1.0)
    interp = summary["interpolation_keyframes"]["0.5"]
    assert interp["per100"] == pytest.approx(100 * interp["keyframes"] / (2 * (FRAMES - 1)))
    md = open(os.path.join(out, "summary.md")).read()
    assert summary["command"] in md and "| kcf |" in md
    capsys.readouterr()

    # resumable: a second run skips every sequence and leaves the files alone
    stamp = os.path.getmtime(os.path.join(out, "kcf", "walk", "walk_001.txt"))
    assert bench(dataset, out) == 0
    err = capsys.readouterr().err
    assert err.count("skipped") == 4
    assert os.path.getmtime(os.path.join(out, "kcf", "walk", "walk_001.txt")) == stamp
    # --force runs them again
    assert bench(dataset, out, "--force", "--sequences", "walk") == 0
    err = capsys.readouterr().err
    assert "skipped" not in err and err.count("frames  track") == 2
    # a new annotator threshold is not in the old records: those sequences run again
    assert bench(dataset, out, "--taus", "0.5,0.6", "--sequences", "exit") == 0
    err = capsys.readouterr().err
    assert "skipped" not in err
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert set(summary["trackers"]["kcf"]["effort"]) == {"0.5", "0.6"}


def test_holdout_and_max_frames_and_bad_input(dataset, tmp_path, capsys):
    out = str(tmp_path / "out")
    train_list = tmp_path / "train.txt"
    train_list.write_text("walk\n")
    md = tmp_path / "docs" / "B.md"
    assert main(["bench", dataset, "--tracker", "interpolation", "--no-reference", "--out", out,
                 "--holdout", str(train_list), "--max-frames", "6", "--markdown", str(md)]) == 0
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["sequences"] == ["exit"] and list(summary["trackers"]) == ["interpolation"]
    assert len(read_boxes(os.path.join(out, "interpolation", "exit", "exit_001.txt"))) == 6
    summary_md = open(os.path.join(out, "summary.md")).read()
    assert md.read_text() == f"<!-- bench -->\n{summary_md.rstrip()}\n<!-- /bench -->\n"
    capsys.readouterr()
    assert main(["bench", dataset, "--tracker", "nope", "--out", out]) == 2
    assert "unknown tracker" in capsys.readouterr().err
    assert main(["bench", dataset, "--tracker", "kcf", "--out", out, "--sequences", "zzz"]) == 2
    assert "zzz" in capsys.readouterr().err


class OracleMaskTracker(Tracker):
    """A 'tracker' that knows the synthetic clip: perfect boxes and masks (tests the mask path)."""

    produces_masks = True

    def __init__(self, clip, device="cpu"):
        super().__init__(device)
        self.clip = clip

    def _init(self, frame, box, mask, info):
        self.init_had_mask = mask is not None

    def track(self, frame, info=None):
        i = info["frame_index"]
        return TrackResult(self.clip.box(i), 1.0, mask=self.clip.mask(i))


def test_mask_tracker_results_and_perfect_scores(dataset, tmp_path):
    clip = SyntheticClip(width=160, height=120, num_frames=FRAMES, seed=1, target_size=(30, 24), speed=2.0)
    out = str(tmp_path / "out")
    summary = run_benchmark(dataset, {"oracle": lambda: OracleMaskTracker(clip)}, out, sequences=["walk"],
                            reference=None, progress=None)
    masks = sorted(os.listdir(os.path.join(out, "oracle", "walk", "masks")))
    assert masks[0] == "00000001.png" and len(masks) == FRAMES
    t = summary["trackers"]["oracle"]
    assert t["masks"]["J"] == pytest.approx(1.0) and t["masks"]["F"] == pytest.approx(1.0)
    assert t["got10k"]["ao"] == pytest.approx(1.0, abs=1e-3)
    assert t["effort"]["0.7"]["corrections"] == 0 and t["effort"]["0.7"]["vs_interpolation"] == 0.0


CRASHY_MODULE = r"""
import os, signal
from trackers.base import Tracker, TrackResult


class CrashingTracker(Tracker):
    # Dies like a segfaulting native tracker on frame 3.
    def _init(self, frame, box, mask, info):
        self.box = box

    def track(self, frame, info=None):
        if info["frame_index"] == 3:
            os.kill(os.getpid(), signal.SIGSEGV)
        return TrackResult(self.box, 1.0)
"""

CRASHING_RUN = CRASHY_MODULE + r"""
import json, sys
from trackers.eval import run_benchmark

summary = run_benchmark(sys.argv[1], {"crashy": CrashingTracker}, sys.argv[2], reference="interpolation", progress=None)
print(json.dumps(summary["trackers"]))
"""


def test_a_crashing_tracker_costs_its_sequence_not_the_run(dataset, tmp_path):
    # A fresh interpreter: fork isolation is only used from a single-threaded
    # process, and this pytest process may already run Qt or OpenMP threads.
    out = str(tmp_path / "out")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", CRASHING_RUN, dataset, out], cwd=root, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    trackers_summary = json.loads(proc.stdout.strip().splitlines()[-1])
    t = trackers_summary["crashy"]
    assert t["errors"]["crashed"] == ["walk", "exit"] and "SIGSEGV" in t["errors"]["first"]
    assert t["got10k"]["ao"] == 0.0                      # no box after the first frame
    assert t["effort"]["0.5"]["corrections"] == 2 * (FRAMES - 1) - 3   # every present frame by hand
    assert len(read_boxes(os.path.join(out, "crashy", "walk", "walk_001.txt"))) == FRAMES
    assert trackers_summary["interpolation"]["errors"]["crashed"] == []


def test_fork_isolation_is_refused_once_other_threads_run():
    import threading

    from trackers.eval.isolation import fork_is_safe

    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert not fork_is_safe()
    finally:
        stop.set()
        worker.join()


def test_a_tracker_trained_on_some_sequences_is_scored_again_on_the_others(dataset, tmp_path):
    # a "learned" tracker whose weights saw the walk clip: its unseen figures must be exactly its
    # figures on the exit clip alone, beside the reference's on the exit clip alone
    from trackers.registry import register, unregister
    from trackers.eval.summary import evaluate_tracker
    from trackers.eval.dataset import load_sequence

    listing = tmp_path / "train_sequences.txt"
    listing.write_text("# trained on\nwalk\n")
    register("test-learned-kcf", "trackers.baselines.opencv:OpenCVTracker", kind="kcf", uses_torch=False,
             trained_on=str(listing))
    try:
        out = str(tmp_path / "out")
        assert main(["bench", dataset, "--tracker", "test-learned-kcf", "--tracker", "mil", "--reference", "mil",
                     "--out", out, "--markdown", str(tmp_path / "b.md")]) == 0
        summary = json.load(open(os.path.join(out, "summary.json")))
        unseen = summary["trackers"]["test-learned-kcf"]["unseen"]
        assert unseen["sequences"] == ["exit"] and unseen["trained_on"] == 1 and unseen["frames"] == FRAMES
        exit_seq = [load_sequence(dataset, "exit")]
        alone = evaluate_tracker(out, "test-learned-kcf", exit_seq)
        ref_alone = evaluate_tracker(out, "mil", exit_seq)
        assert unseen["ao"] == pytest.approx(alone["got10k"]["ao"])
        assert unseen["reference_ao"] == pytest.approx(ref_alone["got10k"]["ao"])
        assert unseen["per100"]["0.7"] == pytest.approx(alone["effort"]["0.7"]["per100"])
        assert "unseen" not in summary["trackers"]["mil"]          # learned nothing: no such row
        md = (tmp_path / "b.md").read_text()
        assert "## On sequences each tracker was not trained on" in md
        assert "| test-learned-kcf | 1 | 1 | 12 |" in md
    finally:
        unregister("test-learned-kcf")


def test_jobs_run_pairs_in_parallel_with_the_same_results(dataset, tmp_path):
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    assert main(["bench", dataset, "--tracker", "interpolation", "--tracker", "kcf", "--no-reference",
                 "--out", one]) == 0
    assert main(["bench", dataset, "--tracker", "interpolation", "--tracker", "kcf", "--no-reference",
                 "--out", two, "--jobs", "2"]) == 0
    for tracker in ("interpolation", "kcf"):
        for seq in ("walk", "exit"):
            a = read_boxes(os.path.join(one, tracker, seq, f"{seq}_001.txt"))
            b = read_boxes(os.path.join(two, tracker, seq, f"{seq}_001.txt"))
            assert np.array_equal(a, b)
    s1 = json.load(open(os.path.join(one, "summary.json")))
    s2 = json.load(open(os.path.join(two, "summary.json")))
    assert s2["jobs"] == 2 and "--jobs 2" in s2["command"]
    for tracker in ("interpolation", "kcf"):
        assert s1["trackers"][tracker]["got10k"] == s2["trackers"][tracker]["got10k"]
        assert s1["trackers"][tracker]["effort"] == s2["trackers"][tracker]["effort"]


def test_jobs_below_one_is_refused(dataset, tmp_path, capsys):
    assert main(["bench", dataset, "--tracker", "interpolation", "--out", str(tmp_path / "o"), "--jobs", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err


CLI_CRASHING_RUN = r"""
import json, os, sys
import app.cli.bench_cmd          # first, as the `trackassist bench` entry point does
from trackers import register
from app.cli.main import main

register("crashy", "crashy_tracker:CrashingTracker", uses_torch=False)
code = main(["bench", sys.argv[1], "--tracker", "crashy", "--tracker", "interpolation", "--no-reference",
             "--out", sys.argv[2], "--jobs", "2"])
print(json.dumps(json.load(open(os.path.join(sys.argv[2], "summary.json")))["trackers"]))
sys.exit(code)
"""


def test_the_bench_command_isolates_each_run_even_where_numpy_would_start_threads(dataset, tmp_path):
    # a fresh interpreter without the test suite's OMP_NUM_THREADS: the command must still fork
    (tmp_path / "crashy_tracker.py").write_text(CRASHY_MODULE)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env["PYTHONPATH"] = os.pathsep.join([root, str(tmp_path)])
    out = str(tmp_path / "out")
    proc = subprocess.run([sys.executable, "-c", CLI_CRASHING_RUN, dataset, out], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    t = json.loads(proc.stdout.strip().splitlines()[-1])
    assert t["crashy"]["errors"]["crashed"] == ["walk", "exit"] and "SIGSEGV" in t["crashy"]["errors"]["first"]
    assert t["interpolation"]["errors"]["crashed"] == []
