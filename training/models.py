"""The architectures we train on 48x48 grayscale faces, all from scratch.

`study_cnn`, `vgg` and `efficientnet_b0` reproduce the original study's three families
(its VGGFace and EfficientNet were ImageNet-pretrained; nothing can be downloaded here,
so ours start from random weights). `cafenet` is our recipe: a small residual net sized
for accuracy per CPU-minute, since this team trains on two cores.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

NUM_CLASSES = 7


def conv_bn(cin: int, cout: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, 3, stride, 1, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def study_cnn() -> nn.Module:
    """The study's custom CNN: 3 conv + 2 dense, BN everywhere, pooling at every conv,
    dropout on the later convs and the dense layers (~2M parameters)."""
    return nn.Sequential(
        conv_bn(1, 32), nn.MaxPool2d(2),
        conv_bn(32, 64), nn.MaxPool2d(2), nn.Dropout(0.25),
        conv_bn(64, 128), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(128 * 6 * 6, 384, bias=False), nn.BatchNorm1d(384), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(384, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(256, NUM_CLASSES),
    )


def vgg(widths: tuple[int, ...] = (64, 128, 256, 512)) -> nn.Module:
    """VGG-style: two 3x3 convs per stage, max-pool, then a small dense head."""
    layers: list[nn.Module] = []
    cin = 1
    for w in widths:
        layers += [conv_bn(cin, w), conv_bn(w, w), nn.MaxPool2d(2)]
        cin = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.4), nn.Linear(cin, NUM_CLASSES)]
    return nn.Sequential(*layers)


class Residual(nn.Module):
    """Basic ResNet block (two 3x3 convs) with a projected shortcut when shapes change."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(cin, cout, stride), conv_bn(cout, cout, act=False))
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.skip(x))


def cafenet(
    widths: tuple[int, ...] = (32, 64, 128, 256),
    blocks: tuple[int, ...] = (1, 1, 2, 2),
    dropout: float = 0.3,
) -> nn.Module:
    """Our recipe: a 3x3 stem at full resolution, then residual stages that each halve
    the resolution (48 -> 24 -> 12 -> 6 -> 3), global pooling and dropout. Extra blocks
    go to the small late maps, where depth is cheap on a CPU."""
    layers: list[nn.Module] = [conv_bn(1, widths[0])]
    cin = widths[0]
    for w, n in zip(widths, blocks, strict=True):
        for i in range(n):
            layers.append(Residual(cin, w, stride=2 if i == 0 else 1))
            cin = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, NUM_CLASSES)]
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, squeezed, 1), nn.SiLU(inplace=True),
            nn.Conv2d(squeezed, channels, 1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class MBConv(nn.Module):
    """EfficientNet's inverted bottleneck: expand 1x1, depthwise kxk, squeeze-excite, project."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.SiLU(inplace=True)]
        layers += [
            nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False),
            nn.BatchNorm2d(mid), nn.SiLU(inplace=True),
            SqueezeExcite(mid, max(1, cin // 4)),
            nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


def efficientnet_b0() -> nn.Module:
    """EfficientNet-B0's block table, adapted to 48x48 gray: one input channel and a
    stride-1 stem (the ImageNet stride-2 stem would leave 2x2 maps at the end)."""
    # (expand, kernel, stride, out channels, repeats), as in the paper
    table = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
             (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
    layers: list[nn.Module] = [nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.SiLU(inplace=True)]
    cin = 32
    for expand, kernel, stride, cout, repeats in table:
        for i in range(repeats):
            layers.append(MBConv(cin, cout, expand, kernel, stride if i == 0 else 1))
            cin = cout
    layers += [nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.SiLU(inplace=True),
               nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, NUM_CLASSES)]
    return nn.Sequential(*layers)


ARCHITECTURES: dict[str, Callable[[], nn.Module]] = {
    "study_cnn": study_cnn,
    "vgg": vgg,
    "efficientnet_b0": efficientnet_b0,
    "cafenet": cafenet,
    "cafenet_small": lambda: cafenet(blocks=(1, 1, 1, 1)),
    # 1.6x cafenet's compute: affordable on a CPU only as an int8 model (training/quantize.py).
    "cafenet_wide": lambda: cafenet(widths=(40, 80, 160, 320)),
    # ResNet-18's stages at 48x48 (11M parameters): a teacher for distillation, trained on a GPU.
    "resnet18": lambda: cafenet(widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2)),
}


def build(name: str) -> nn.Module:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]()


class Ensemble(nn.Module):
    """Several trained nets as one: the mean of their softmax probabilities, returned as its
    log so that the output still reads as logits (softmax(log p) = p) and the runtime and
    card contract stay the same. Averaging independently trained nets cancels part of each
    one's errors; it costs the sum of their compute."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([torch.softmax(m(x), dim=1) for m in self.members]).mean(0)
        return torch.log(probs.clamp_min(1e-12))


#: A Cascade's thresholds are the buffers (and ONNX initializers) named this + stage index.
THRESHOLD_PREFIX = "escalate_below_"


class Cascade(Ensemble):
    """An ensemble that consults its members one at a time, cheapest first, and stops for
    each face as soon as it is sure: after member k+1 (k = 0, 1, ...), a face whose mean
    probability so far has a top value >= `escalate_below[k]` keeps that mean; the others go
    on to the next member. A face that reaches the last member gets the mean of all, as the
    Ensemble would give it. Most faces are clear cases, so the cascade keeps almost all of
    the ensemble's accuracy at a fraction of its compute; its worst case (every face unsure)
    costs the whole ensemble. Each face's answer depends on that face alone, never on the
    others in its batch.

    Each threshold is a scalar buffer, `escalate_below_0`, `escalate_below_1`, ..., so it
    travels into the ONNX graph as an initializer of that name, which training/quantize.py
    can set (it calibrates with every face escalated)."""

    def __init__(self, members: list[nn.Module], escalate_below: list[float]) -> None:
        if len(members) < 2 or len(escalate_below) != len(members) - 1:
            raise ValueError("a cascade needs two or more members and one threshold between each two")
        super().__init__(members)
        for k, threshold in enumerate(escalate_below):
            self.register_buffer(f"{THRESHOLD_PREFIX}{k}", torch.tensor(float(threshold)))

    @property
    def escalate_below(self) -> list[torch.Tensor]:
        return [getattr(self, f"{THRESHOLD_PREFIX}{k}") for k in range(len(self.members) - 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, *rest = self.members
        total = torch.softmax(first(x), dim=1)  # summed probabilities of the faces still going on
        answer, rows = total, torch.arange(x.shape[0])  # rows: where those faces sit in the batch
        for k, (member, threshold) in enumerate(zip(rest, self.escalate_below, strict=True)):
            unsure = torch.nonzero((total / (k + 1)).amax(1) < threshold).squeeze(1)
            rows, x, total = rows.index_select(0, unsure), x.index_select(0, unsure), total.index_select(0, unsure)
            total = total + torch.softmax(member(x), dim=1)
            answer = answer.index_copy(0, rows, total / (k + 2))
        return torch.log(answer.clamp_min(1e-12))


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """A saved run (`best.pt`: architecture name + weights) as an eval-mode model on
    `device`, with the whole saved dict (epoch, EMA flag, ...)."""
    state = torch.load(path, map_location=device, weights_only=False)
    model = build(state["arch"])
    model.load_state_dict(state["model"])
    return model.to(device).eval(), state
