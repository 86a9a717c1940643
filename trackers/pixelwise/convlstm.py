"""Convolutional LSTM with Hadamard peepholes (Shi et al. 2015; the paper's Eq. 1).

    i = sigma(Wxi * X + Whi * H + Wci o C + bi)
    f = sigma(Wxf * X + Whf * H + Wcf o C + bf)
    C' = f o C + i o tanh(Wxc * X + Whc * H + bc)
    o = sigma(Wxo * X + Who * H + Wco o C' + bo)
    H' = o o tanh(C')

``*`` is a convolution, ``o`` the element-wise product.  The peephole weights
``Wc*`` are per channel *and per position* (``(C, h, w)``), as in the paper: that
is what makes the cell not translation-equivariant, and why the cell is built
for one feature-map size.
"""
from __future__ import annotations

import torch
from torch import nn


class ConvLSTMCell(nn.Module):
    def __init__(self, in_channels: int, hidden: int, size: tuple[int, int], kernel: int = 3) -> None:
        super().__init__()
        self.hidden, self.size = int(hidden), tuple(size)
        # one convolution over [X, H] gives the four gates' pre-activations
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel, padding=kernel // 2)
        self.peep_i = nn.Parameter(torch.zeros(hidden, *size))
        self.peep_f = nn.Parameter(torch.zeros(hidden, *size))
        self.peep_o = nn.Parameter(torch.zeros(hidden, *size))
        with torch.no_grad():   # forget gate biased open: memory is kept unless the input says otherwise
            self.gates.bias[hidden:2 * hidden].fill_(1.0)

    def zero_state(self, batch: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.zeros(batch, self.hidden, *self.size, device=device)
        return z, z.clone()

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        if x.shape[-2:] != self.size:
            raise ValueError(f"ConvLSTMCell built for {self.size} maps, got {tuple(x.shape[-2:])}")
        gi, gf, gc, go = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        i = torch.sigmoid(gi + self.peep_i * c)
        f = torch.sigmoid(gf + self.peep_f * c)
        c_new = f * c + i * torch.tanh(gc)
        o = torch.sigmoid(go + self.peep_o * c_new)
        return o * torch.tanh(c_new), c_new


class ConvLSTM(nn.Module):
    """A stack of :class:`ConvLSTMCell` s; ``state`` is a list of ``(h, c)`` per layer."""

    def __init__(self, in_channels: int, hidden: int, size: tuple[int, int], layers: int = 2) -> None:
        super().__init__()
        self.cells = nn.ModuleList(ConvLSTMCell(in_channels if k == 0 else hidden, hidden, size)
                                   for k in range(layers))

    def zero_state(self, batch: int, device=None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [cell.zero_state(batch, device) for cell in self.cells]

    def forward(self, x: torch.Tensor, state: list[tuple[torch.Tensor, torch.Tensor]]):
        new_state = []
        for cell, st in zip(self.cells, state):
            h, c = cell(x, st)
            new_state.append((h, c))
            x = h
        return x, new_state
