"""Scale search by similarity to a template box (trackers.ops.scale_search)."""
import pytest
import torch

from trackers.ops import scale_search


def _scene(size: float) -> torch.Tensor:
    """A feature map (stride 1) with a square 'object' of side ``size`` centred at (32, 32): one channel
    inside, another outside, and a ring marking its edge."""
    yy, xx = torch.meshgrid(torch.arange(64.0) + 0.5, torch.arange(64.0) + 0.5, indexing="ij")
    d = torch.maximum((xx - 32).abs(), (yy - 32).abs())
    inside = (d < size / 2).float()
    edge = ((d - size / 2).abs() < 1.5).float()
    return torch.stack([inside, 1 - inside, edge])[None]


def _box(side: float) -> list[float]:
    return [32 - side / 2, 32 - side / 2, 32 + side / 2, 32 + side / 2]


def test_the_box_matching_the_object_scores_best():
    template = scale_search.template(_scene(20), _box(20), 1.0)
    steps = scale_search.scale_steps(0.2)
    assert steps == pytest.approx([1 / 1.2, 1.0, 1.2])
    # the object grew by 1.2: of the last box (20) scaled by the three steps, 24 matches the template
    grown = _scene(24)
    best, sims = scale_search.most_similar(grown, torch.tensor([_box(20 * k) for k in steps]), [template], 1.0)
    assert best == 2 and sims.shape == (3,)
    # shrunk: the small box wins; the best of several templates counts
    other = scale_search.template(_scene(40), _box(40), 1.0)
    best, _ = scale_search.most_similar(_scene(20 / 1.2), torch.tensor([_box(20 * k) for k in steps]),
                                        [other, template], 1.0)
    assert best == 0

