"""Shipped weights are the files their provenance describes (no truncation, no stray LFS pointer)."""
import hashlib
import pathlib

import pytest

WEIGHTS = pathlib.Path(__file__).resolve().parents[1] / "resources" / "weights"
SUMS = sorted(WEIGHTS.glob("*/SHA256SUMS.txt"))


def test_every_weights_folder_has_provenance_and_checksums():
    folders = [p for p in WEIGHTS.iterdir() if p.is_dir()]
    assert folders
    for folder in folders:
        assert (folder / "PROVENANCE.md").is_file(), folder
        assert (folder / "SHA256SUMS.txt").is_file(), folder


@pytest.mark.parametrize("sums", SUMS, ids=lambda p: p.parent.name)
def test_weights_match_their_checksums(sums):
    lines = [line.split() for line in sums.read_text().splitlines() if line.strip()]
    assert lines
    listed = {name for _, name in lines}
    shipped = {p.name for p in sums.parent.iterdir() if p.suffix in (".pth", ".pt")}
    assert listed == shipped
    for digest, name in lines:
        assert hashlib.sha256((sums.parent / name).read_bytes()).hexdigest() == digest, name
