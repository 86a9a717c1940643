"""Stage 2 of ``python -m trackers.gstp.train``: the motion model.

Adam, learning rate 1e-3 dropped 10x for the last fifth of the steps (the
paper's schedule, compressed).  Each batch mixes real and (unless
``synthetic=0``) synthetic samples.  Validation on the held-out sequences:
for every 2nd frame with a clean past (true centres, stride 1), the distance
in network pixels between the heatmap's peak and the true centre, the
fraction within 3 px, the MSE - and the same distance for a constant-velocity
extrapolation of the last two centres, as a reference.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .motion import MotionHRNet
from .motion_data import RealTrajectories, SyntheticTrajectories


@torch.no_grad()
def validate(net: MotionHRNet, val: RealTrajectories) -> dict[str, float]:
    net.eval()
    errs, cv_errs, mses = [], [], []
    for si, (centres, _) in enumerate(val.items):
        for t in range(net.history, len(centres), 2):
            if not np.isfinite(centres[t - 2:t + 1]).all():
                continue
            x, y = val.sample(t=t, seq=si, stride=1, noisy=False)
            out = net(torch.from_numpy(x)[None])[0]
            mses.append(float(((out - torch.from_numpy(y)) ** 2).mean()))
            r, c = divmod(int(out.argmax()), out.shape[1])
            errs.append(float(np.hypot(c + 0.5 - centres[t, 0], r + 0.5 - centres[t, 1])))
            guess = 2 * centres[t - 1] - centres[t - 2]
            cv_errs.append(float(np.hypot(*(guess - centres[t]))))
    net.train()
    e = np.array(errs)
    return {"peak_error_px": float(e.mean()), "within3px": float((e <= 3).mean()), "mse": float(np.mean(mses)),
            "constant_velocity_error_px": float(np.mean(cv_errs)), "frames": len(e)}


def train_motion(train_seqs: list[dict], val_seqs: list[dict], steps: int, batch: int, synthetic: float,
                 seed: int, lr: float = 1e-3, log=print, val_every: int = 250) -> tuple[MotionHRNet, dict]:
    torch.manual_seed(seed)
    net = MotionHRNet()
    real = RealTrajectories(train_seqs, seed=seed)
    synth = SyntheticTrajectories(seed=seed + 1)
    val = RealTrajectories(val_seqs, seed=seed + 2)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(steps * 0.8)], 0.1)
    rng = np.random.default_rng(seed)
    history, t0, running = {}, time.time(), None
    for step in range(1, steps + 1):
        items = [synth.sample() if rng.random() < synthetic else real.sample() for _ in range(batch)]
        x = torch.from_numpy(np.stack([i[0] for i in items]))
        y = torch.from_numpy(np.stack([i[1] for i in items]))
        # MSE (paper); the Gaussian covers a few dozen of 4096 cells, so scale the sum per image
        loss = ((net(x) - y) ** 2).mean() * 100
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        lv = float(loss.detach())
        running = lv if running is None else 0.98 * running + 0.02 * lv
        if step % 50 == 0:
            log(f"motion(synthetic={synthetic}) step {step}/{steps} {time.time() - t0:.0f}s loss={running:.4f}")
        if step % val_every == 0 or step == steps:
            history[step] = validate(net, val)
            log(f"motion(synthetic={synthetic}) validation step {step}: " +
                " ".join(f"{k}={v:.3f}" for k, v in history[step].items()))
    return net.eval(), {"validation": history, "final_loss": running, "seconds": time.time() - t0}
