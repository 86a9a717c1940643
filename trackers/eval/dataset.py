"""Read a GOT-10k-style folder without loading any sequence into memory.

Layout (``DATASET/``)::

    list.txt                      sequence names, one a line (else: every sub-folder)
    <seq>/00000001.jpg ...        frames
    <seq>/groundtruth.txt         one ``x,y,w,h`` line per frame; ``nan,nan,nan,nan`` = no box
    <seq>/absence.label           optional, one 0/1 a line (1 = target absent)
    <seq>/cover.label             optional, one 0..8 a line (0 = fully hidden)
    <seq>/masks/00000001.png      optional, 0/255 target masks
    <seq>/extra/<attr>.label      optional per-frame 0/1 attribute flags (VOT style)

A frame counts as *absent* when ``absence.label`` says 1, the box is ``nan``
or ``cover.label`` says 0.  Absent frames are skipped by every metric.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Iterator

import cv2
import numpy as np


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file and line."""

    def __init__(self, path: str, problem: str) -> None:
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


@dataclass
class Sequence:
    """One sequence: file names and per-frame labels, never the pixels."""

    name: str
    path: str
    frame_files: list[str]
    boxes: np.ndarray                  # (N, 4) float, nan rows where no box
    absent: np.ndarray                 # (N,) bool, True where the target is absent
    mask_files: list[str] | None = None
    attributes: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (N,) bool
    size: tuple[int, int] | None = None  # (width, height), read from the first frame

    def __len__(self) -> int:
        return len(self.frame_files)

    @property
    def present(self) -> np.ndarray:
        return ~self.absent

    def truncated(self, max_frames: int | None) -> "Sequence":
        """The first ``max_frames`` frames (all when ``None``)."""
        if max_frames is None or max_frames >= len(self):
            return self
        n = max(2, int(max_frames))
        return Sequence(self.name, self.path, self.frame_files[:n], self.boxes[:n], self.absent[:n],
                        None if self.mask_files is None else self.mask_files[:n],
                        {k: v[:n] for k, v in self.attributes.items()}, self.size)

    def frames(self) -> Iterator[np.ndarray]:
        """Frames one by one as ``HxWx3`` uint8 RGB (``cv2.imread`` + BGR->RGB)."""
        for i in range(len(self)):
            yield read_frame(self.frame_files[i])

    def gt_mask(self, index: int) -> np.ndarray | None:
        """Ground-truth mask of frame ``index`` (bool) or ``None`` when the sequence has none."""
        if self.mask_files is None:
            return None
        return read_mask(self.mask_files[index])

    @property
    def has_masks(self) -> bool:
        return self.mask_files is not None


def read_frame(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(path, "cannot read this image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_mask(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DatasetError(path, "cannot read this mask")
    return image > 127


def read_boxes(path: str) -> np.ndarray:
    """``x,y,w,h`` lines (commas, tabs or spaces) -> (N, 4) float; ``nan`` kept."""
    rows = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.replace("\t", ",").replace(" ", ",").split(",")
            parts = [p for p in parts if p]
            if len(parts) != 4:
                raise DatasetError(path, f"line {line_no}: expected 4 values x,y,w,h, got {len(parts)}: {line!r}")
            try:
                rows.append([float(p) for p in parts])
            except ValueError:
                raise DatasetError(path, f"line {line_no}: not a number in {line!r}") from None
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def _read_labels(path: str, count: int) -> np.ndarray:
    values = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                values.append(int(float(line.split(",")[0])))
            except ValueError:
                raise DatasetError(path, f"line {line_no}: not a number: {line!r}") from None
    if len(values) != count:
        raise DatasetError(path, f"has {len(values)} values but the sequence has {count} frames")
    return np.asarray(values, dtype=np.int64)


def load_sequence(root: str, name: str) -> Sequence:
    path = os.path.join(root, name)
    if not os.path.isdir(path):
        raise DatasetError(path, "sequence folder not found")
    frame_files = sorted(glob.glob(os.path.join(path, "*.jpg")) + glob.glob(os.path.join(path, "*.png")))
    if not frame_files:
        raise DatasetError(path, "no frames (*.jpg / *.png)")
    gt_path = os.path.join(path, "groundtruth.txt")
    if not os.path.exists(gt_path):
        raise DatasetError(gt_path, "missing")
    boxes = read_boxes(gt_path)
    n = len(frame_files)
    if len(boxes) != n:
        raise DatasetError(gt_path, f"has {len(boxes)} boxes but the folder has {n} frames")
    absent = ~np.all(np.isfinite(boxes), axis=1) | (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)
    absence_path = os.path.join(path, "absence.label")
    if os.path.exists(absence_path):
        absent |= _read_labels(absence_path, n) == 1
    cover_path = os.path.join(path, "cover.label")
    if os.path.exists(cover_path):
        absent |= _read_labels(cover_path, n) == 0
    mask_files = None
    mask_dir = os.path.join(path, "masks")
    if os.path.isdir(mask_dir):
        mask_files = [os.path.join(mask_dir, f"{i + 1:08d}.png") for i in range(n)]
        missing = [m for m in mask_files if not os.path.exists(m)]
        if missing:
            raise DatasetError(missing[0], f"missing ({len(missing)} of {n} masks missing)")
    attributes = {}
    for label in sorted(glob.glob(os.path.join(path, "extra", "*.label"))):
        attributes[os.path.splitext(os.path.basename(label))[0]] = _read_labels(label, n) > 0
    first = cv2.imread(frame_files[0], cv2.IMREAD_UNCHANGED)
    if first is None:
        raise DatasetError(frame_files[0], "cannot read this image")
    if absent[0]:
        raise DatasetError(gt_path, "line 1: the first frame has no target box; the tracker needs one to start")
    return Sequence(name, path, frame_files, boxes, absent, mask_files, attributes,
                    (int(first.shape[1]), int(first.shape[0])))


def sequence_names(root: str) -> list[str]:
    """Names from ``list.txt``, else every sub-folder holding a ``groundtruth.txt``."""
    if not os.path.isdir(root):
        raise DatasetError(root, "dataset folder not found")
    list_path = os.path.join(root, "list.txt")
    if os.path.exists(list_path):
        with open(list_path) as f:
            return [line.strip() for line in f if line.strip()]
    return sorted(d for d in os.listdir(root) if os.path.exists(os.path.join(root, d, "groundtruth.txt")))


def add_to_list(root: str, name: str) -> None:
    """Append ``name`` to ``root``'s ``list.txt`` (created if missing) unless it is already there."""
    list_path = os.path.join(root, "list.txt")
    names = open(list_path).read().split() if os.path.exists(list_path) else []
    if name not in names:
        with open(list_path, "w") as f:
            f.write("\n".join(names + [name]) + "\n")


def read_name_list(path: str) -> list[str]:
    """Sequence names from a text file (one a line; commas also split; ``#`` comments)."""
    if not os.path.exists(path):
        raise DatasetError(path, "sequence list not found")
    names = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0]
            names += [p.strip() for p in line.split(",") if p.strip()]
    return names


def select_sequences(root: str, only: list[str] | None = None, exclude: list[str] | None = None) -> list[str]:
    """Dataset names filtered: ``only`` keeps those (in their order), ``exclude`` drops those."""
    names = sequence_names(root)
    if only:
        unknown = [s for s in only if s not in names]
        if unknown:
            raise DatasetError(os.path.join(root, "list.txt"), f"no sequence named {', '.join(unknown)}")
        names = list(only)
    if exclude:
        names = [s for s in names if s not in set(exclude)]
    if not names:
        raise DatasetError(root, "no sequences left to evaluate")
    return names


def load_dataset(root: str, only: list[str] | None = None, exclude: list[str] | None = None) -> list[Sequence]:
    return [load_sequence(root, name) for name in select_sequences(root, only, exclude)]
