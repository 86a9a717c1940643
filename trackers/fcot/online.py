"""FCOT's online part (paper §3.3): the sample memory and the three online models.

* the first frame gives 15 augmented samples (translation, rotation, blur) that
  are never dropped;
* the model initializers give f18, f72 and freg, then steepest descent with the
  Gauss-Newton step refines them on the memory (``init_iters`` steps);
* every ``update_interval`` frames the best-scoring tracked frame of the
  interval joins the memory, the models take ``update_iters`` more steps, and
  the model used for tracking is ``f_cur = lambda f_1 + (1 - lambda) f_lat``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .model import K18, K72, FCOTNet
from .optim import (SpectralSamples, apply_filter, classifier_gauss_newton_cg, classifier_steps, regressor_cg,
                    regressor_steps)

# the classifiers' features and filter sizes: the CG fits work on their spectra
CLASSIFIER_FILTERS = (("x18", K18), ("x72", K72))
from .targets import SIGMA_COARSE, SIGMA_FINE_ONLINE, regression_targets, score_labels


@dataclass
class Sample:
    feats: dict[str, torch.Tensor]     # x18, x72, xreg of one crop, batch dim 1
    box: torch.Tensor                  # (4,) xyxy in crop pixels
    spectra: dict[str, SpectralSamples] = field(default_factory=dict, repr=False)

    def spectrum(self, key: str, k: int) -> SpectralSamples:
        """The classifier features' spectrum, computed once: a sample stays in the memory for many refits."""
        if key not in self.spectra:
            self.spectra[key] = SpectralSamples.of(self.feats[key], k)
        return self.spectra[key]


@dataclass
class Memory:
    """First-frame samples (kept for good) plus a bounded list of later ones.

    ``decay`` (DiMP's learning rate): each later sample weighs ``1 - decay`` times the
    one after it, so the memory follows a changing appearance; 0 = all later samples equal.
    """

    first: list[Sample] = field(default_factory=list)
    later: list[Sample] = field(default_factory=list)
    capacity: int = 30
    decay: float = 0.0
    human_share: float = 0.5   # the people's boxes' share of the weight while there are later samples

    def add(self, sample: Sample) -> None:
        self.later.append(sample)
        if len(self.later) > self.capacity:
            self.later.pop(0)

    def stacked(self):
        samples = self.first + self.later
        feats = {k: torch.cat([s.feats[k] for s in samples]) for k in samples[0].feats}
        boxes = torch.stack([s.box for s in samples])
        # the first frame (all its augmentations together) weighs ``human_share`` (as much as the later samples
        # together by default), so drift in the later samples cannot outvote the one box a human drew
        n1, n2 = len(self.first), len(self.later)
        later = (1.0 - self.decay) ** torch.arange(n2 - 1, -1, -1, dtype=torch.float32)
        later = (1.0 - self.human_share) * later / later.sum() if n2 else later
        w = torch.cat([torch.full((n1,), (self.human_share if n2 else 1.0) / n1), later])
        return feats, boxes, w

    def stacked_spectra(self) -> dict[str, SpectralSamples]:
        samples = self.first + self.later
        return {key: SpectralSamples.cat([s.spectrum(key, k) for s in samples]) for key, k in CLASSIFIER_FILTERS}


class OnlineModels:
    """f18, f72 (classification) and freg (regression), fitted online to a :class:`Memory`."""

    def __init__(self, net: FCOTNet, init_iters: int = 20, update_iters: int = 3, merge_lambda: float = 0.25,
                 solver: str = "cg", cg_iters: int = 5, capacity: int = 30, decay: float = 0.0,
                 human_share: float = 0.5):
        if solver not in ("cg", "steepest"):
            raise ValueError(f"solver must be 'cg' or 'steepest', got {solver!r}")
        self.net = net
        # "cg": Gauss-Newton with `cg_iters` conjugate-gradient steps per GN step, `iters // cg_iters` GN steps;
        # "steepest": the offline-training recipe (one GN-length steepest-descent step per iteration)
        self.solver, self.cg_iters = solver, int(cg_iters)
        self.init_iters, self.update_iters, self.merge_lambda = init_iters, update_iters, merge_lambda
        self.capacity, self.decay = int(capacity), float(decay)
        self.human_share = float(human_share)
        self.memory = Memory(capacity=self.capacity, decay=self.decay, human_share=self.human_share)
        self.first_models: tuple[torch.Tensor, ...] | None = None
        self.latest: tuple[torch.Tensor, ...] | None = None
        self.current: tuple[torch.Tensor, ...] | None = None

    @torch.no_grad()
    def start(self, samples: list[Sample], keep_first: bool = False) -> None:
        """Initialise from ``samples`` (the first frame's, or a corrected frame's on reinit).

        With ``keep_first`` the first-frame samples stay in the memory (a correction);
        the later samples are dropped, they led to the mistake being corrected (session 9 measured keeping
        them, or keeping older corrections' samples: both cost corrections, see the FCOT provenance).
        """
        if keep_first and self.memory.first:
            self.memory = Memory(first=self.memory.first, later=list(samples), capacity=self.capacity,
                                 decay=self.decay, human_share=self.human_share)
        else:
            self.memory = Memory(first=list(samples), capacity=self.capacity, decay=self.decay,
                                 human_share=self.human_share)
        feats = {k: torch.cat([s.feats[k] for s in samples]) for k in samples[0].feats}
        boxes = torch.stack([s.box for s in samples])
        f18, f72 = self.net.init_classifiers(feats, boxes)
        freg = self.net.init_regressor(feats, boxes)
        models = self._optimise((f18, f72, freg), self.init_iters, spectra=self._spectra())
        self.first_models = self.latest = self.current = models
        # the fused peak on the un-augmented sample: scores are reported relative to it, so 1 means
        # "as target-like as the frame the model was fitted to" whatever amplitude the fit reached
        self.reference = max(float(self.fused_scores(samples[0].feats)[2].max()), 1e-3)

    @torch.no_grad()
    def update(self, sample: Sample | None = None) -> None:
        """Add ``sample`` (if any) to the memory and refit the latest models on it."""
        if sample is not None:
            self.memory.add(sample)
        if not self.memory.later:
            return
        self.apply(self.refit(self.snapshot()))

    def snapshot(self):
        """What a refit needs, taken now: the memory stacked and the latest models.  A refit
        on a snapshot touches nothing shared, so it may run on another thread while tracking goes on."""
        return self.memory.stacked(), self._spectra(), self.latest

    @torch.no_grad()
    def refit(self, snapshot) -> tuple[torch.Tensor, ...]:
        memory, spectra, latest = snapshot
        return self._optimise(latest, self.update_iters, memory, spectra)

    def _spectra(self) -> dict[str, SpectralSamples] | None:
        """The memory's classifier spectra for the CG solver (each sample's transformed once, then reused)."""
        return self.memory.stacked_spectra() if self.solver == "cg" else None

    def apply(self, latest: tuple[torch.Tensor, ...]) -> None:
        self.latest = latest
        lam = self.merge_lambda
        self.current = tuple(lam * a + (1 - lam) * b for a, b in zip(self.first_models, self.latest))

    def fused_scores(self, feats: dict[str, torch.Tensor]):
        """``(M18, M72, alpha M18 + beta M72)`` of the current models on one crop's features."""
        f18, f72, _ = self.current
        s18 = apply_filter(feats["x18"], f18[None])
        s72 = apply_filter(feats["x72"], f72[None])
        return s18, s72, self.net.fuse_maps(s18, s72)

    def _optimise(self, models, iters: int, memory=None, spectra: dict[str, SpectralSamples] | None = None):
        """``spectra``: the classifier features' :class:`SpectralSamples` (same samples as ``memory``);
        the CG solver uses them when given, the plain features otherwise (same result, slower)."""
        net = self.net
        feats, boxes, w = memory if memory is not None else self.memory.stacked()
        spectra = spectra or {}
        f18, f72, freg = models
        lab18 = score_labels(boxes, feats["x18"].shape[-2:], 16, SIGMA_COARSE)
        lab72 = score_labels(boxes, feats["x72"].shape[-2:], 4, SIGMA_FINE_ONLINE)
        reg_t, reg_m = regression_targets(boxes, feats["xreg"].shape[-2:])
        lam18, lam72 = net.log_cls_lambda.exp()
        lam_reg = net.log_reg_lambda.exp()
        if self.solver == "cg":
            gn = max(1, iters // self.cg_iters)
            f18 = classifier_gauss_newton_cg(f18, spectra.get("x18", feats["x18"]), lab18, w, lam18, gn, self.cg_iters)
            f72 = classifier_gauss_newton_cg(f72, spectra.get("x72", feats["x72"]), lab72, w, lam72, gn, self.cg_iters)
            freg = regressor_cg(freg, net.reg_bias, feats["xreg"], reg_t, reg_m, w, lam_reg, iters)
            return f18, f72, freg
        steps = net.log_step.exp()
        f18 = classifier_steps(f18, feats["x18"], lab18, w, lam18, steps[0], iters)
        f72 = classifier_steps(f72, feats["x72"], lab72, w, lam72, steps[1], iters)
        freg = regressor_steps(freg, net.reg_bias, feats["xreg"], reg_t, reg_m, w, lam_reg, steps[2], iters)
        return f18, f72, freg
