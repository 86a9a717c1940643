"""DAVIS J and F on hand-made masks."""
import numpy as np
import pytest

from trackers.eval.masks import boundary_f, boundary_map, boundary_radius, region_similarity


def square(shape, x, y, size):
    m = np.zeros(shape, bool)
    m[y:y + size, x:x + size] = True
    return m


def test_region_similarity_hand_cases():
    a, b = square((40, 40), 0, 0, 10), square((40, 40), 5, 0, 10)
    assert region_similarity(a, a) == 1.0
    assert region_similarity(a, b) == pytest.approx(50 / 150)
    assert region_similarity(a, square((40, 40), 20, 20, 10)) == 0.0
    empty = np.zeros((40, 40), bool)
    assert region_similarity(empty, empty) == 1.0
    assert region_similarity(empty, a) == 0.0


def test_boundary_map_matches_davis_seg2bmap_by_hand():
    seg = np.zeros((5, 5), bool)
    seg[1:4, 1:4] = True
    expected = np.array([[1, 1, 1, 1, 0],
                         [1, 0, 0, 1, 0],
                         [1, 0, 0, 1, 0],
                         [1, 1, 1, 1, 0],
                         [0, 0, 0, 0, 0]], bool)
    assert (boundary_map(seg) == expected).all()


def test_boundary_radius_is_0008_of_the_diagonal_rounded_up():
    assert boundary_radius((100, 100)) == 2          # ceil(1.13)
    assert boundary_radius((480, 854)) == 8          # ceil(7.84)


def test_boundary_f_tolerance_and_empty_cases():
    gt = square((100, 100), 40, 40, 20)
    assert boundary_f(gt, gt) == 1.0
    assert boundary_f(square((100, 100), 42, 40, 20), gt) == 1.0      # 2 px off: within the disk
    shifted = boundary_f(square((100, 100), 43, 40, 20), gt)          # 3 px off: vertical edges miss
    assert 0.0 < shifted < 1.0
    assert boundary_f(square((100, 100), 0, 0, 10), gt) == 0.0
    empty = np.zeros((100, 100), bool)
    assert boundary_f(empty, gt) == 0.0          # P = 1, R = 0
    assert boundary_f(gt, empty) == 0.0          # P = 0, R = 1
    assert boundary_f(empty, empty) == 1.0
