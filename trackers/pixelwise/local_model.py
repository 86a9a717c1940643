"""Local segmentation model (§3): ROI features -> F-CNN -> 2-layer ConvLSTM -> deconvolutions.

The paper's VGG pool4 (512 ch at 14x14 for a 224 ROI) is replaced by the frozen
EfficientNet-Lite0 stride-16 tap (112 ch at 12x12 for a ``ROI_SIZE`` = 192 ROI,
chosen for CPU speed).  Widths are scaled down from Table 1 for the same reason:

============  =======  ===================================================
module        paper    here
============  =======  ===================================================
F-CNN x2      512      96, 32 (ReLU, tanh out), on the 4 match maps
M-CNN x2      1024     128, 4x32 (ReLU, tanh out): h1, c1, h2, c2
ConvLSTM x2   256      32
deconv x4     128..1   32, 16, 8, 1 (5x5, stride 2, leaky ReLU; sigmoid out)
============  =======  ===================================================

M-CNN (§3.2) regresses the initial hidden and memory states from the first
ROI's features concatenated with its mask; the paper applies the mask inside
VGG, here the mask (area-downsampled to the feature grid, and dilated first
to avoid boundary artefacts) is concatenated together with the masked features.

Deviation (measured, see PROVENANCE.md): F-CNN does not see the trunk features
themselves but ``MATCH_CHANNELS`` = 4 class-agnostic maps (:func:`match_maps`): for
each feature cell, the highest and the mean top-3 cosine similarity to the first
ROI's object cells and to its background cells.  With only three DAVIS training
objects, the paper's input (the features) let the model learn *which* objects to
segment: ROI IoU 0.58 on training windows, 0.30 on held-out ones, and longer
training only widened the gap (held-out 0.29 -> 0.15 in 1,000 more iterations);
the match against the first frame alone, with no training, reaches 0.55 on the
held-out windows.  M-CNN still sees the first ROI's features and mask.  The first
ROI's normalised features and object cells travel in the state
(:class:`LocalState`) beside the ConvLSTM's (h, c).

``LocalModel(fine=True)`` (trained and measured, not the shipped weights; PROVENANCE.md) adds the
match maps of the stride-8 tap (40 ch, 24x24) and runs F-CNN and the ConvLSTM on that grid.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .convlstm import ConvLSTM

ROI_SIZE = 192           # ROI side in pixels fed to the trunk
STRIDE = 16              # the trunk tap used
FINE_STRIDE = 8          # the finer tap (40 ch) of the fine match maps
FEAT_SIZE = ROI_SIZE // STRIDE
TRUNK_CHANNELS = 112     # Lite0 stride-16 tap
HIDDEN = 32
MATCH_CHANNELS = 4       # similarity to the first ROI's object / background cells (max, mean top-3)
MATCH_TOP = 3

# Eq. 2 defaults from the paper (§3.3)
TV_LAMBDA = 1e-4
TV_BETA = 1000.0


class LocalState(NamedTuple):
    lstm: list                 # [(h1, c1), (h2, c2)]
    ref: torch.Tensor          # (B, C, N) L2-normalised features of the first ROI's N cells
    ref_fg: torch.Tensor       # (B, N) bool: cells on the object in the first ROI
    fine_ref: torch.Tensor | None = None      # the same on the stride-8 grid (fine models only)
    fine_fg: torch.Tensor | None = None


def reference_cells(feats: torch.Tensor, grid_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First-ROI features ``(B, C, f, f)`` and its area-downsampled mask ``(B, 1, f, f)`` -> (ref, ref_fg).

    Object cells: at least half covered, or at least half the best coverage for small objects."""
    m = grid_mask.flatten(1)
    fg = (m >= torch.clamp(0.5 * m.amax(1, keepdim=True), max=0.5)) & (m > 0)
    return F.normalize(feats, dim=1).flatten(2), fg


def match_maps(feats: torch.Tensor, ref: torch.Tensor, ref_fg: torch.Tensor) -> torch.Tensor:
    """``(B, C, f, f)`` -> ``(B, 4, f, f)``: per cell, the max cosine similarity to the reference's object
    cells and to its background cells, then the mean of the top ``MATCH_TOP`` of each (a missing kind of
    cell counts as similarity -1)."""
    cur = F.normalize(feats, dim=1).flatten(2)
    sim = torch.einsum("bcn,bcm->bnm", ref, cur)
    fg = ref_fg[:, :, None]
    top_fg = sim.masked_fill(~fg, -1.0).topk(MATCH_TOP, dim=1).values
    top_bg = sim.masked_fill(fg, -1.0).topk(MATCH_TOP, dim=1).values
    maps = [top_fg[:, 0], top_bg[:, 0], top_fg.mean(1), top_bg.mean(1)]
    return torch.stack(maps, 1).unflatten(-1, feats.shape[-2:])


def fine_match_input(coarse_maps: torch.Tensor, fine_maps: torch.Tensor) -> torch.Tensor:
    """Stride-16 match maps upsampled onto the stride-8 grid, beside the stride-8 ones: ``(B, 8, 2f, 2f)``.
    Either alone matches about equally well; their sum is better (untrained, held-out windows)."""
    up = F.interpolate(coarse_maps, size=fine_maps.shape[-2:], mode="bilinear", align_corners=False)
    return torch.cat([up, fine_maps], 1)


class LocalModel(nn.Module):
    """``fine=True``: the match maps of the stride-8 tap join those of the stride-16 tap, and F-CNN,
    the ConvLSTM and the deep-supervision head run on the 2x finer grid (one deconvolution fewer);
    M-CNN still reads the stride-16 features, its states upsampled to that grid."""

    def __init__(self, in_channels: int = TRUNK_CHANNELS, hidden: int = HIDDEN, feat_size: int = FEAT_SIZE,
                 fine: bool = False) -> None:
        super().__init__()
        self.hidden, self.feat_size, self.fine = hidden, feat_size, bool(fine)
        grid = 2 * feat_size if fine else feat_size
        self.grid = grid
        n_maps = 2 * MATCH_CHANNELS if fine else MATCH_CHANNELS
        self.fcnn = nn.Sequential(nn.Conv2d(n_maps, 96, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(96, hidden, 3, padding=1), nn.Tanh())
        self.mcnn = nn.Sequential(nn.Conv2d(2 * in_channels + 1, 128, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(128, 4 * hidden, 3, padding=1), nn.Tanh())
        self.lstm = ConvLSTM(hidden, hidden, (grid, grid), layers=2)
        chans = (hidden, 16, 8) if fine else (hidden, 32, 16, 8)
        # deep supervision (not in the paper): coarse logits straight from h, so the recurrent
        # part learns within a CPU run's few hundred iterations; unused at inference
        self.coarse = nn.Conv2d(hidden, 1, 1)
        layers: list[nn.Module] = []
        for a, b in zip(chans, chans[1:]):
            layers += [nn.ConvTranspose2d(a, b, 5, stride=2, padding=2, output_padding=1), nn.LeakyReLU(0.1, True)]
        layers.append(nn.ConvTranspose2d(chans[-1], 1, 5, stride=2, padding=2, output_padding=1))
        self.deconv = nn.Sequential(*layers)

    @staticmethod
    def mask_to_grid(mask: torch.Tensor, feat_size: int = FEAT_SIZE, dilate: int = 2) -> torch.Tensor:
        """``(B, 1, S, S)`` float ROI mask -> dilated, area-downsampled ``(B, 1, f, f)``."""
        if dilate:
            k = 2 * int(dilate * mask.shape[-1] / ROI_SIZE) + 1
            mask = F.max_pool2d(mask, k, stride=1, padding=k // 2)
        return F.adaptive_avg_pool2d(mask, feat_size)

    def init_state(self, feats: torch.Tensor, mask: torch.Tensor, fine: torch.Tensor | None = None) -> LocalState:
        """M-CNN: first-ROI features ``(B, C, f, f)`` and ROI mask ``(B, 1, S, S)`` -> ConvLSTM state
        (plus the reference cells the match maps compare against).  ``fine``: the stride-8 features
        ``(B, C8, 2f, 2f)``, needed by a fine model."""
        m = self.mask_to_grid(mask.float(), feats.shape[-1])
        out = self.mcnn(torch.cat([feats, feats * m, m], 1))
        if self.fine:
            out = F.interpolate(out, size=self.grid, mode="bilinear", align_corners=False)
        h1, c1, h2, c2 = out.chunk(4, 1)
        ref, ref_fg = reference_cells(feats, self.mask_to_grid(mask.float(), feats.shape[-1], dilate=0))
        fine_ref = fine_fg = None
        if self.fine:
            fine_ref, fine_fg = reference_cells(fine, self.mask_to_grid(mask.float(), fine.shape[-1], dilate=0))
        return LocalState([(h1, c1), (h2, c2)], ref, ref_fg, fine_ref, fine_fg)

    def inputs(self, feats: torch.Tensor, state: LocalState, fine: torch.Tensor | None = None) -> torch.Tensor:
        """F-CNN's input: the match maps of this ROI against the first one."""
        maps = match_maps(feats, state.ref, state.ref_fg)
        if self.fine:
            maps = fine_match_input(maps, match_maps(fine, state.fine_ref, state.fine_fg))
        return maps

    def advance(self, feats: torch.Tensor, state: LocalState, fine: torch.Tensor | None = None) -> LocalState:
        """One frame's state update without the deconvolutions (the memory replay of the tracker)."""
        _, lstm = self.lstm(self.fcnn(self.inputs(feats, state, fine)), state.lstm)
        return state._replace(lstm=lstm)

    def step(self, feats: torch.Tensor, state: LocalState, coarse: bool = False, fine: torch.Tensor | None = None):
        """One frame: ROI features -> (logits ``(B, 1, S, S)``, new state) (+ coarse logits)."""
        state = self.advance(feats, state, fine)
        h = state.lstm[-1][0]
        if coarse:
            return self.deconv(h), state, self.coarse(h)
        return self.deconv(h), state

    def forward(self, feats0: torch.Tensor, mask0: torch.Tensor, feats: torch.Tensor, coarse: bool = False,
                fine0: torch.Tensor | None = None, fine: torch.Tensor | None = None):
        """Sequence form for training: ``feats`` ``(B, T, C, f, f)`` -> logits ``(B, T, 1, S, S)``
        (and coarse logits ``(B, T, 1, g, g)`` with ``coarse``); a fine model also needs the stride-8
        features ``fine0`` ``(B, C8, 2f, 2f)`` and ``fine`` ``(B, T, C8, 2f, 2f)``."""
        state = self.init_state(feats0, mask0, fine0)
        out, out_c = [], []
        for t in range(feats.shape[1]):
            logits, state, c = self.step(feats[:, t], state, coarse=True,
                                         fine=fine[:, t] if self.fine else None)
            out.append(logits)
            out_c.append(c)
        return (torch.stack(out, 1), torch.stack(out_c, 1)) if coarse else torch.stack(out, 1)


def total_variation(prob: torch.Tensor) -> torch.Tensor:
    """V(y) of Eq. 2, summed over each map: ``(..., H, W)`` -> ``(...)``."""
    dy = (prob[..., 1:, :] - prob[..., :-1, :]).abs().sum((-2, -1))
    dx = (prob[..., :, 1:] - prob[..., :, :-1]).abs().sum((-2, -1))
    return dx + dy


def coarse_loss(coarse_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Deep-supervision term: BCE of the coarse logits against the area-downsampled target,
    summed over cells (so it is on the same per-pixel footing as Eq. 2's sum, times the cell area)."""
    f = coarse_logits.shape[-1]
    small = F.adaptive_avg_pool2d(target.flatten(0, 1).float(), f).unflatten(0, target.shape[:2])
    cell = (target.shape[-1] // f) ** 2
    return cell * F.binary_cross_entropy_with_logits(coarse_logits, small, reduction="none").sum((-3, -2, -1)).mean()


def local_loss(logits: torch.Tensor, target: torch.Tensor, tv_lambda: float = TV_LAMBDA,
               tv_beta: float = TV_BETA) -> tuple[torch.Tensor, dict]:
    """Eq. 2: per-frame pixel cross-entropy (summed over pixels, averaged over frames and
    sequences) + ``lambda * min(beta, mean total variation)``.  ``logits``/``target`` ``(B, T, 1, S, S)``."""
    target = target.to(logits.dtype)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum((-3, -2, -1)).mean()
    tv = total_variation(torch.sigmoid(logits)[:, :, 0]).mean()
    loss = ce + tv_lambda * torch.clamp(tv, max=tv_beta)
    return loss, {"ce": float(ce.detach()), "tv": float(tv.detach())}
