"""Recompute every figure from the result files, the per-sequence jsons and the ground truth.

Nothing here runs a tracker, so a summary can be rebuilt at any time (and is,
after every run, resumed or not).  Pooling rules:

* GOT-10k AO/SR: IoUs pooled over the scored frames of all sequences;
* OTB AUC / precision and DAVIS J / F: per-sequence means averaged over sequences;
* speed: total frames over total seconds (``track_fps`` = tracked frames /
  seconds in ``track()``; ``e2e_fps`` = all frames / seconds in decode +
  ``init`` + ``track``); peak RSS: the largest over the sequences;
* effort: total corrections (keyframes) over total frames after the first.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from . import results
from .dataset import DatasetError, Sequence, read_mask
from .effort import interpolation_keyframes, per_100
from .masks import boundary_f, region_similarity
from .metrics import center_error, evaluated_frames, got10k_metrics, iou, otb_metrics


def _ratio(a, b):
    return None if a is None or b in (None, 0) else float(a) / float(b)


def _mean(values: list[float]):
    return float(np.mean(values)) if values else None


def sequence_scores(out_dir: str, tracker: str, seq: Sequence) -> dict:
    """IoUs, centre errors and (for mask results) J/F of one tracker on one sequence."""
    boxes = results.read_result_boxes(out_dir, tracker, seq.name)
    if len(boxes) != len(seq):
        raise DatasetError(results.boxes_path(out_dir, tracker, seq.name),
                           f"has {len(boxes)} boxes for {len(seq)} frames; re-run with --force")
    keep = evaluated_frames(seq.absent)
    ious = iou(boxes, seq.boxes, seq.size)
    scores = {"keep": keep, "ious": ious[keep], "all_ious": ious,
              "errors": center_error(boxes, seq.boxes)[keep], "J": None, "F": None}
    record = results.read_record(out_dir, tracker, seq.name) or {}
    if record.get("masks") and seq.has_masks:
        js, fs = [], []
        for i in np.nonzero(keep)[0]:
            pred, gt = read_mask(results.mask_path(out_dir, tracker, seq.name, int(i))), seq.gt_mask(int(i))
            js.append(region_similarity(pred, gt))
            fs.append(boundary_f(pred, gt))
        scores["J"], scores["F"] = _mean(js), _mean(fs)
    return scores


def evaluate_tracker(out_dir: str, tracker: str, seqs: Iterable[Sequence], taus=(0.5, 0.7)) -> dict:
    """All figures of one tracker over ``seqs`` (its results must exist)."""
    pooled, otb_pairs, js, fs, per_seq = [], [], [], [], {}
    attr_ious: dict[str, list[np.ndarray]] = {}
    totals = dict(tracked=0, track_s=0.0, frames=0, e2e_s=0.0, rss=0.0, errors=0, effort_frames=0)
    loads = []
    corrections = {str(t): 0 for t in taus}
    first_error = None
    crashed = []
    for seq in seqs:
        s = sequence_scores(out_dir, tracker, seq)
        record = results.read_record(out_dir, tracker, seq.name) or {}
        pooled.append(s["ious"])
        otb_pairs.append((s["ious"], s["errors"]))
        for name, flags in seq.attributes.items():
            attr_ious.setdefault(name, []).append(s["all_ious"][s["keep"] & flags])
        if s["J"] is not None:
            js.append(s["J"])
            fs.append(s["F"])
        speed = record.get("speed", {})
        totals["tracked"] += speed.get("tracked_frames", 0)
        totals["track_s"] += speed.get("track_seconds", 0.0)
        totals["frames"] += len(seq)
        totals["e2e_s"] += sum(speed.get(k, 0.0) for k in ("decode_seconds", "init_seconds", "track_seconds"))
        totals["rss"] = max(totals["rss"], speed.get("peak_rss_mb", 0.0))
        if record.get("load_average") is not None:
            loads.append(record["load_average"])
        totals["errors"] += record.get("errors", {}).get("count", 0)
        first_error = first_error or record.get("errors", {}).get("first")
        if record.get("crashed"):
            crashed.append(seq.name)
        totals["effort_frames"] += len(seq)
        effort = record.get("effort", {})
        for tau in corrections:
            corrections[tau] += effort.get(tau, {}).get("corrections", 0)
        per_seq[seq.name] = {
            "ao": got10k_metrics(s["ious"])["ao"], "frames": len(seq), "J": s["J"], "F": s["F"],
            "track_fps": _ratio(speed.get("tracked_frames"), speed.get("track_seconds")),
            "corrections": {tau: effort.get(tau, {}).get("corrections") for tau in corrections},
        }
    all_ious = np.concatenate(pooled) if pooled else np.zeros(0)
    n_seq = len(per_seq)
    return {
        "got10k": got10k_metrics(all_ious),
        "otb": otb_metrics(otb_pairs),
        "masks": {"J": _mean(js), "F": _mean(fs), "JF": _mean(js + fs) if js else None, "sequences": len(js)},
        "speed": {"track_fps": _ratio(totals["tracked"], totals["track_s"]),
                  "e2e_fps": _ratio(totals["frames"], totals["e2e_s"]), "peak_rss_mb": totals["rss"],
                  "load_average_max": max(loads) if loads else None},
        "effort": {tau: {"corrections": c, "per100": per_100(c, totals["effort_frames"], n_seq)}
                   for tau, c in corrections.items()},
        "attributes": {name: got10k_metrics(np.concatenate(v)) for name, v in sorted(attr_ious.items())},
        "errors": {"count": totals["errors"], "first": first_error, "crashed": crashed},
        "per_sequence": per_seq,
    }


def interpolation_effort(seqs: Iterable[Sequence], taus=(0.5, 0.7)) -> dict:
    """Keyframes beyond the first that greedy linear interpolation needs, per tau (see effort.py)."""
    out = {}
    seqs = list(seqs)
    for tau in taus:
        per_seq = {seq.name: len(interpolation_keyframes(seq.boxes, seq.present, tau, seq.size)) - 1 for seq in seqs}
        total = sum(per_seq.values())
        out[str(tau)] = {"keyframes": total, "per100": per_100(total, sum(len(s) for s in seqs), len(seqs)),
                         "per_sequence": per_seq}
    return out


def add_ratios(summary: dict, reference: str | None) -> None:
    """Put every tracker beside the reference tracker and beside keyframe interpolation."""
    ref = summary["trackers"].get(reference) if reference else None
    interp = summary["interpolation_keyframes"]
    for entry in summary["trackers"].values():
        for tau, effort in entry["effort"].items():
            effort["vs_interpolation"] = _ratio(effort["per100"], interp[tau]["per100"])
        if ref is None:
            entry["vs_reference"] = None
            continue
        entry["vs_reference"] = {
            "ao": _ratio(entry["got10k"]["ao"], ref["got10k"]["ao"]),
            "auc": _ratio(entry["otb"]["auc"], ref["otb"]["auc"]),
            "track_fps": _ratio(entry["speed"]["track_fps"], ref["speed"]["track_fps"]),
            "e2e_fps": _ratio(entry["speed"]["e2e_fps"], ref["speed"]["e2e_fps"]),
            "corrections": {tau: _ratio(e["per100"], ref["effort"][tau]["per100"]) for tau, e in entry["effort"].items()},
        }


def add_unseen(summary: dict, out_dir: str, seqs: Iterable[Sequence], training_sets: dict, taus=(0.5, 0.7)) -> None:
    """Score each learned tracker again on the sequences its weights never saw, beside the reference
    tracker and keyframe interpolation on exactly those sequences.

    ``training_sets``: tracker name -> names of the sequences it was trained on (``None`` = learned
    nothing from this data).  The pooled figures flatter a tracker on its own training videos; this
    is the comparison that says whether it will help on a new video.
    """
    seqs = list(seqs)
    reference = summary.get("reference")
    have_ref = reference in summary["trackers"]
    for name, entry in summary["trackers"].items():
        trained = training_sets.get(name)
        if trained is None:
            continue
        unseen = [s for s in seqs if s.name not in set(trained)]
        block = {"trained_on": len(set(trained) & {s.name for s in seqs}), "sequences": [s.name for s in unseen],
                 "frames": sum(len(s) for s in unseen)}
        if unseen:
            mine = evaluate_tracker(out_dir, name, unseen, taus)
            ref = evaluate_tracker(out_dir, reference, unseen, taus) if have_ref else None
            interp = interpolation_effort(unseen, taus)
            block.update({
                "ao": mine["got10k"]["ao"], "auc": mine["otb"]["auc"], "J": mine["masks"]["J"],
                "reference_ao": ref["got10k"]["ao"] if ref else None,
                "reference_auc": ref["otb"]["auc"] if ref else None,
                "per100": {t: e["per100"] for t, e in mine["effort"].items()},
                "reference_per100": {t: e["per100"] for t, e in ref["effort"].items()} if ref else None,
                "interpolation_per100": {t: e["per100"] for t, e in interp.items()},
            })
            block["ao_vs_reference"] = _ratio(block["ao"], block["reference_ao"])
        entry["unseen"] = block
