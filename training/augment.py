"""Batched augmentation on normalised tensors: cheap on a CPU because it runs once per
batch (one affine_grid/grid_sample call), not per image in Python; on a GPU it runs
where the batch already is (the generator's device), so the data never leaves it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    rotate_deg: float = 10.0
    scale: float = 0.10  # +-10%
    shift: float = 0.08  # fraction of the image size
    flip: bool = True
    brightness: float = 0.25  # additive, in normalised units
    contrast: float = 0.20  # multiplicative +-20%
    erase_p: float = 0.5
    erase_size: int = 12


def augment(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """x: [N, 1, H, W] normalised faces -> augmented copy."""
    n, _, h, w = x.shape
    dev = gen.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen, device=dev) * (hi - lo) + lo

    angle = uniform(-cfg.rotate_deg, cfg.rotate_deg) * math.pi / 180
    scale = uniform(1 - cfg.scale, 1 + cfg.scale)
    sign = (torch.where(uniform(0, 1) < 0.5, -1.0, 1.0) if cfg.flip
            else torch.ones(n, device=dev))
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 1] = cos * sign, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin * sign, cos
    theta[:, 0, 2] = uniform(-cfg.shift, cfg.shift) * 2
    theta[:, 1, 2] = uniform(-cfg.shift, cfg.shift) * 2
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="border", align_corners=False)
    contrast = uniform(1 - cfg.contrast, 1 + cfg.contrast).view(n, 1, 1, 1)
    brightness = uniform(-cfg.brightness, cfg.brightness).view(n, 1, 1, 1)
    mean = out.mean(dim=(2, 3), keepdim=True)
    out = (out - mean) * contrast + mean + brightness
    if cfg.erase_p > 0:
        s = cfg.erase_size
        erase = uniform(0, 1) < cfg.erase_p
        ys = torch.randint(0, h - s + 1, (n,), generator=gen, device=dev)
        xs = torch.randint(0, w - s + 1, (n,), generator=gen, device=dev)
        rows = torch.arange(h, device=dev).view(1, h, 1)
        cols = torch.arange(w, device=dev).view(1, 1, w)
        mask = (
            (rows >= ys.view(n, 1, 1)) & (rows < (ys + s).view(n, 1, 1))
            & (cols >= xs.view(n, 1, 1)) & (cols < (xs + s).view(n, 1, 1))
            & erase.view(n, 1, 1)
        )
        out = out.masked_fill(mask.unsqueeze(1), 0.0)
    return out


@dataclass(frozen=True)
class WebcamConfig:
    """What a counter webcam does to a face that FER2013's photos rarely show."""

    blur_p: float = 0.3  # Gaussian blur, sigma 0.5-1.5 px at 48x48
    jpeg_p: float = 0.3  # JPEG quality 15-60
    noise_p: float = 0.3  # sensor noise, sigma 2-10 grey levels
    dim_p: float = 0.3  # dim light: gamma 1.2-2.2 and contrast x0.5-0.9
    occlude_p: float = 0.2  # a cup, a hand or a mask: a 12-24 px block of flat grey


def webcam(faces: npt.NDArray[np.uint8], cfg: WebcamConfig, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """uint8 faces [N, 48, 48] -> degraded copies, each effect drawn independently per face."""
    import cv2

    out = faces.astype(np.float32).copy()
    for i in range(len(out)):
        f = out[i]
        if rng.random() < cfg.dim_p:
            f = 255 * (f / 255) ** rng.uniform(1.2, 2.2)
            f = (f - f.mean()) * rng.uniform(0.5, 0.9) + f.mean()
        if rng.random() < cfg.blur_p:
            f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.5, 1.5))
        if rng.random() < cfg.noise_p:
            f = f + rng.normal(0, rng.uniform(2, 10), f.shape)
        if rng.random() < cfg.occlude_p:
            s = int(rng.integers(12, 25))
            y, x = int(rng.integers(0, 48 - s + 1)), int(rng.integers(0, 48 - s + 1))
            f[y : y + s, x : x + s] = rng.uniform(0, 255)
        f = np.clip(f, 0, 255).astype(np.uint8)
        if rng.random() < cfg.jpeg_p:
            ok, data = cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 61))])
            f = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if ok else f
        out[i] = f
    return out.astype(np.uint8)
