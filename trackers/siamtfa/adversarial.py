"""Adversarial dropout (Park et al. 2018; as used by Drop-to-Adapt and SiamTFA Eq. 4-5).

Given fused RoI features ``X`` (any shape ``(K, ...)``; one mask element per
feature element, ``L`` elements per RoI) and a random Bernoulli mask ``m_s``:

1. the gradient ``J = dD/dm`` at ``m = m_s`` of the divergence between a
   reference prediction and ``h(X * m)`` (Eq. 4's objective, linearised);
2. the 0/1 knapsack relaxation of Park et al.: an element is a flip candidate
   when flipping it increases ``D`` to first order (``m_s = 1`` and ``J < 0``,
   or ``m_s = 0`` and ``J > 0``); the ``floor(delta * L)`` candidates with the
   largest ``|J|`` are flipped, so ``||m_adv - m_s||_1 <= delta * L`` per RoI.

The reference is the *undropped* prediction ``h(X)`` (detached): the KL between
``h(X * m_s)`` and ``h(X * m)`` has zero gradient at ``m = m_s``, so Eq. 4 read
literally gives no direction; the undropped prediction is the usual stand-in
(Park et al.'s virtual label).  :func:`adversarial_loss` is Eq. 5.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Head = Callable[[torch.Tensor], torch.Tensor]   # features -> class logits


def random_mask(shape, drop: float, generator: torch.Generator | None = None) -> torch.Tensor:
    return (torch.rand(shape, generator=generator) >= drop).float()


def adversarial_mask(head: Head, x: torch.Tensor, m_s: torch.Tensor, delta: float, drop: float) -> torch.Tensor:
    """The adversarial 0/1 mask within Hamming distance ``floor(delta * L)`` of ``m_s`` (per RoI)."""
    x = x.detach()
    scale = 1.0 / (1.0 - drop)
    with torch.no_grad():
        reference = F.softmax(head(x), -1)
    m = m_s.clone().requires_grad_(True)
    with torch.enable_grad():
        logp = F.log_softmax(head(x * m * scale), -1)
        divergence = F.kl_div(logp, reference, reduction="sum")
        (jac,) = torch.autograd.grad(divergence, m)
    k = len(x)
    flat_m, flat_j = m_s.reshape(k, -1), jac.reshape(k, -1)
    budget = int(delta * flat_m.shape[1])
    if budget == 0:
        return m_s.clone()
    # first-order gain of flipping each element: (new - old) * J
    gain = (1 - 2 * flat_m) * flat_j
    value, idx = gain.topk(budget, dim=1)
    flip = torch.zeros_like(flat_m)
    flip.scatter_(1, idx, (value > 0).to(flat_m.dtype))
    return (flat_m + flip * (1 - 2 * flat_m)).reshape_as(m_s).detach()


def adversarial_loss(head: Head, x: torch.Tensor, m_s: torch.Tensor, m_adv: torch.Tensor, drop: float) -> torch.Tensor:
    """Eq. 5: ``KL(h(X * m_s) || h(X * m_adv))``, mean over RoIs."""
    scale = 1.0 / (1.0 - drop)
    p_s = F.log_softmax(head(x * m_s * scale), -1)
    p_adv = F.log_softmax(head(x * m_adv * scale), -1)
    return F.kl_div(p_adv, p_s, log_target=True, reduction="batchmean")
