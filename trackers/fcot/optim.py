"""Steepest descent with the Gauss-Newton step length (DiMP; FCOT Eq. 5, 8-12).

Both online models are single convolution filters fitted to a memory of
samples by a least-squares loss; each iteration computes the gradient ``g`` in
closed form and the step ``alpha = |g|^2 / |J g|^2`` (Gauss-Newton: the
Hessian approximated by ``J^T J``, with ``J`` the Jacobian of the residuals),
then ``f <- f - step_scale * alpha * g``.  All operations are differentiable,
so offline training can back-propagate through a few iterations to learn the
regularisation and step-scale parameters.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def apply_filter(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W) * (O, C, k, k) -> (N, O, H, W)`` ('same' size; k odd)."""
    return F.conv2d(x, f, padding=f.shape[-1] // 2)


class SpectralSamples:
    """Fixed samples ``x (N, C, H, W)`` kept as 2-D spectra, so that a single-output filter's response
    (:func:`apply_filter`) and gradient (:func:`filter_gradient`) cost an elementwise product and one
    small FFT instead of a convolution over every sample.

    Why: the online classifiers' conjugate-gradient fits call both about 7 times per refit over the whole
    memory (up to 45 crops of 16 x 72 x 72 for Score Map-72); as convolutions that was 35 + 50 ms per pair
    at a full memory on one core, by FFT 8 + 10 ms (measured; same results to ~1e-5 relative).  The
    spectrum of a sample is computed once (:meth:`of`) and stacked with the others' (:meth:`cat`), so a
    refit does not transform the memory again.  Zero padding to ``H + k - 1`` makes the circular
    products exactly the 'same'-padded correlation.  Only for filters with one output channel (the
    classifiers); the 4-output regressor stays faster as a convolution.
    """

    def __init__(self, spectra: torch.Tensor, size: tuple[int, int], k: int) -> None:
        self.spectra, self.size, self.k = spectra, (int(size[0]), int(size[1])), int(k)
        self.padded = tuple(_fft_size(n + self.k - 1) for n in self.size)

    @classmethod
    def of(cls, x: torch.Tensor, k: int) -> "SpectralSamples":
        h, w = x.shape[-2:]
        padded = (_fft_size(h + k - 1), _fft_size(w + k - 1))
        return cls(torch.fft.rfft2(x, s=padded), (h, w), k)

    @classmethod
    def cat(cls, parts: list["SpectralSamples"]) -> "SpectralSamples":
        return cls(torch.cat([p.spectra for p in parts]), parts[0].size, parts[0].k)

    def __len__(self) -> int:
        return self.spectra.shape[0]

    def apply(self, f: torch.Tensor) -> torch.Tensor:
        """``apply_filter(x, f)`` for ``f (1, C, k, k)`` -> ``(N, 1, H, W)``."""
        if f.shape[0] != 1:
            raise ValueError("SpectralSamples serve single-output filters")
        kernel = torch.fft.rfft2(torch.flip(f, (-2, -1)), s=self.padded)          # correlation = flipped conv
        y = torch.fft.irfft2((self.spectra * kernel).sum(1, keepdim=True), s=self.padded)
        p = self.k // 2
        return y[..., p:p + self.size[0], p:p + self.size[1]]

    def gradient(self, residual: torch.Tensor) -> torch.Tensor:
        """``filter_gradient(x, residual, k)`` for ``residual (N, 1, H, W)`` -> ``(1, C, k, k)``."""
        r = torch.fft.rfft2(residual, s=self.padded).conj()
        g = torch.fft.irfft2((self.spectra * r).sum(0, keepdim=True), s=self.padded)
        p = self.k // 2
        rows = torch.arange(-p, p + 1, device=g.device) % self.padded[0]
        cols = torch.arange(-p, p + 1, device=g.device) % self.padded[1]
        return g[..., rows, :][..., cols]


def _fft_size(n: int) -> int:
    """The next size >= n whose only prime factors are 2, 3 and 5 (fast FFT lengths)."""
    while True:
        m = n
        for q in (2, 3, 5):
            while m % q == 0:
                m //= q
        if m == 1:
            return n
        n += 1


def filter_gradient(x: torch.Tensor, residual: torch.Tensor, k: int, padding: int | None = None) -> torch.Tensor:
    """``sum_n X_n^T * residual_n``: the gradient of ``<residual, X * f>`` w.r.t. f, ``(O, C, k, k)``.

    This is the weight-gradient of a convolution, computed by torch's own
    (optimised, twice differentiable) convolution backward.  ``padding``: of that convolution
    (default ``k // 2``, 'same'; 0 for a window cut with :func:`crop_to_mask`).
    """
    pad = k // 2 if padding is None else padding
    return torch.nn.grad.conv2d_weight(x, (residual.shape[1], x.shape[1], k, k), residual, padding=pad)


def classifier_steps(f: torch.Tensor, x: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor,
                     reg_lambda: torch.Tensor, step_scale: torch.Tensor, iterations: int,
                     target_threshold: float = 0.05) -> torch.Tensor:
    """Refine a classification filter ``f`` ``(C, k, k)`` on samples ``x`` ``(N, C, H, W)``.

    Loss (DiMP): ``sum_n w_n |m * s + (1 - m) * relu(s) - y|^2 + lambda |f|^2`` where
    ``s = x_n * f``, ``y`` the Gaussian label ``(N, H, W)`` and ``m = y > threshold``:
    background only counts where it scores above 0 (hinge), the target is
    regressed to its label.  ``weights`` ``(N,)`` sum to 1.
    """
    k = f.shape[-1]
    y = labels[:, None]
    m = (y > target_threshold).to(x.dtype)
    sw = weights.view(-1, 1, 1, 1)
    f = f[None]
    for _ in range(iterations):
        s = apply_filter(x, f)
        active = m + (1 - m) * (s > 0).to(x.dtype)          # d residual / d s
        res = m * s + (1 - m) * F.relu(s) - y
        g = filter_gradient(x, sw * active * res, k) + reg_lambda * f
        jg = active * apply_filter(x, g)
        alpha = g.pow(2).sum() / ((sw * jg.pow(2)).sum() + reg_lambda * g.pow(2).sum() + 1e-8)
        f = f - step_scale * alpha * g
    return f[0]


def regressor_steps(f: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, targets: torch.Tensor,
                    mask: torch.Tensor, weights: torch.Tensor, reg_lambda: torch.Tensor,
                    step_scale: torch.Tensor, iterations: int) -> torch.Tensor:
    """Refine the regression filter ``f`` ``(4, C, k, k)`` (FCOT Eq. 4, steps Eq. 8-12).

    ``L(f) = sum_n w_n |mask_n * (x_n * f + b - T_n)|^2 + |lambda f|^2`` with ``T``
    the ltrb distances ``(N, 4, H, W)`` and ``mask`` ``(N, 1, H, W)`` the positions
    near the target centre (normalised so each sample's mask sums to 1 times w_n).
    """
    k = f.shape[-1]
    lam2 = reg_lambda ** 2
    mw = mask * weights.view(-1, 1, 1, 1) / mask.sum((1, 2, 3), keepdim=True).clamp(min=1)
    b = bias.view(1, -1, 1, 1)
    for _ in range(iterations):
        res = apply_filter(x, f) + b - targets
        g = filter_gradient(x, mw * res, k) + lam2 * f
        jg = apply_filter(x, g)
        alpha = g.pow(2).sum() / ((mw * jg.pow(2)).sum() + lam2 * g.pow(2).sum() + 1e-8)
        f = f - step_scale * alpha * g
    return f


def _conjugate_gradient(f: torch.Tensor, normal_op, rhs: torch.Tensor, iterations: int) -> torch.Tensor:
    """``iterations`` CG steps on ``normal_op(f) = rhs`` (symmetric positive definite), from ``f``."""
    r = rhs - normal_op(f)
    p, rr = r, r.pow(2).sum()
    for _ in range(iterations):
        ap = normal_op(p)
        a = rr / ((p * ap).sum() + 1e-12)
        f, r = f + a * p, r - a * ap
        rr_new = r.pow(2).sum()
        p, rr = r + rr_new / (rr + 1e-20) * p, rr_new
    return f


def classifier_gauss_newton_cg(f: torch.Tensor, x: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor,
                               reg_lambda: torch.Tensor, gn_iterations: int, cg_iterations: int,
                               target_threshold: float = 0.05) -> torch.Tensor:
    """The loss of :func:`classifier_steps`, minimised by Gauss-Newton with conjugate-gradient inner steps
    (ATOM/DiMP's "GN-CG").

    Why: the trunk-derived features are strongly correlated (RMS ~50 at stride 16), so plain steepest
    descent barely moves in 20 steps (on a real first frame the loss fell from 3.5 to 3.3 and the peak
    stayed on a look-alike); CG reaches the minimum of each linearised problem in a few steps.
    For a fixed active set (target cells + background cells scoring > 0) the loss is linear least
    squares, solved via its normal equations ``(X^T W A X + lambda) f = X^T W A y``.

    ``x`` is the samples ``(N, C, H, W)`` or their :class:`SpectralSamples` (faster, same result).
    """
    k = f.shape[-1]
    if isinstance(x, SpectralSamples):
        respond, gradient = x.apply, x.gradient
    else:
        def respond(v):
            return apply_filter(x, v)

        def gradient(r):
            return filter_gradient(x, r, k)
    y = labels[:, None]
    m = (y > target_threshold).to(f.dtype)
    sw = weights.view(-1, 1, 1, 1)
    f = f[None]
    for _ in range(gn_iterations):
        active = m + (1 - m) * (respond(f) > 0).to(f.dtype)
        wa = sw * active

        def normal_op(v, wa=wa):
            return gradient(wa * respond(v)) + reg_lambda * v

        f = _conjugate_gradient(f, normal_op, gradient(wa * y), cg_iterations)
    return f[0]


def regressor_cg(f: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, targets: torch.Tensor,
                 mask: torch.Tensor, weights: torch.Tensor, reg_lambda: torch.Tensor,
                 iterations: int) -> torch.Tensor:
    """The loss of :func:`regressor_steps` minimised by conjugate gradient (it is linear least squares)."""
    k = f.shape[-1]
    mw = mask * weights.view(-1, 1, 1, 1) / mask.sum((1, 2, 3), keepdim=True).clamp(min=1)
    lam2 = reg_lambda ** 2
    # only the masked cells count, so every product below can run on a window around them: exact, and
    # ~100x fewer cells than the 72x72 maps (a refit's regressor fit fell from ~95 to a few ms)
    x, targets, mw = crop_to_mask(x, targets, mw, k)

    def normal_op(v):
        return filter_gradient(x, mw * F.conv2d(x, v), k, padding=0) + lam2 * v

    rhs = filter_gradient(x, mw * (targets - bias.view(1, -1, 1, 1)), k, padding=0)
    return _conjugate_gradient(f, normal_op, rhs, iterations)


def crop_to_mask(x: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, k: int):
    """Windows of ``x (N, C, H, W)``, ``targets (N, O, H, W)`` and ``mask (N, 1, H, W)`` around each
    sample's non-zero mask cells, the same size for all samples: ``x``'s window has ``k // 2`` more
    cells on every side (zeros outside the map, as the 'same' padding has), so a 'valid' convolution of
    it gives the filter's response on exactly the mask window's cells."""
    p = k // 2
    n, _, h, w = mask.shape
    rows, cols = mask.sum(3)[:, 0] > 0, mask.sum(2)[:, 0] > 0                     # (N, H), (N, W)
    used = rows.any(1)
    if not bool(used.any()):
        return F.pad(x, (p, p, p, p)), targets, mask                             # nothing masked: no cropping
    top, left = rows.float().argmax(1), cols.float().argmax(1)                   # 0 for an empty mask
    span_h = int((h - rows.flip(1).float().argmax(1) - top)[used].max())
    span_w = int((w - cols.flip(1).float().argmax(1) - left)[used].max())
    pad = max(span_h, span_w) + p
    xp = F.pad(x, (pad, pad, pad, pad))
    tp = F.pad(targets, (pad, pad, pad, pad))
    mp = F.pad(mask, (pad, pad, pad, pad))
    xs, ts, ms = [], [], []
    for i, (t, l) in enumerate(zip(top.tolist(), left.tolist())):
        t, l = t + pad, l + pad
        xs.append(xp[i, :, t - p:t + span_h + p, l - p:l + span_w + p])
        ts.append(tp[i, :, t:t + span_h, l:l + span_w])
        ms.append(mp[i, :, t:t + span_h, l:l + span_w])
    return torch.stack(xs), torch.stack(ts), torch.stack(ms)
