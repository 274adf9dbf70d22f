"""Train an emotion classifier on FER2013: resumable, logged, reproducible.

    python -m training.train --arch cafenet --epochs 55 --out runs/cafenet

Every epoch writes `last.pt` (model, EMA, optimiser, schedule, RNG, history), `log.csv`
and `curves.png`; `best.pt` holds the epoch with the best PublicTest accuracy (the
model-selection split; PrivateTest is never looked at here). Run again with the same
`--out` to resume after a crash or a stopped session.

On a lent GPU, whose speed we cannot measure beforehand, `--time-budget S` sizes the
run to the time available: the number of epochs is planned from the measured epoch time
and re-planned after every epoch (the budget counts across resumes), and a cosine
schedule decays to zero over the planned epochs.
`--teacher best.pt` (repeatable) adds knowledge distillation from trained models: the
student matches the teachers' softened probabilities on the same augmented batch. On a CPU,
`--teacher-probs` uses probabilities stored once by `training.teacher` instead.
`--real-faces PACK` (training.mixture) puts real-face training people into every batch
(`--real-share`), each class drawn equally often: training on the mixture from the start.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from cafe_monitor.preprocessing import normalise
from training.augment import AugmentConfig, augment
from training.data import CLASSES, DEFAULT_CACHE, DataError, Split, default_data_dir, load_fer2013
from training.models import build, load_checkpoint


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_teachers(paths: list[Path], device: torch.device) -> list[nn.Module]:
    return [load_checkpoint(path, device)[0].to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            for path in paths]


def distillation_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) at temperature T, scaled by T^2 so its gradients keep the
    size of the hard-label loss (Hinton et al., 2015)."""
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    kl = torch.sum(teacher_probs * (torch.log(teacher_probs.clamp_min(1e-8)) - log_student), dim=1)
    return kl.mean() * temperature**2


def soft_targets(labels: torch.Tensor, classes: int, smoothing: float) -> torch.Tensor:
    """One-hot targets with label smoothing: the distribution `F.cross_entropy(...,
    label_smoothing=)` trains towards, made explicit so that mixup can blend two of them."""
    return F.one_hot(labels, classes).float() * (1 - smoothing) + smoothing / classes


def mixup(images: torch.Tensor, targets: torch.Tensor, lam: float,
          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend each face with another of the batch, and its target likewise (Zhang et al.,
    2018): a regulariser for small, noisy data such as FER2013, where our runs overfit."""
    order = torch.randperm(len(images), generator=generator, device=images.device)
    return lam * images + (1 - lam) * images[order], lam * targets + (1 - lam) * targets[order]


class CosineWithWarmup:
    """Linear warm-up, then cosine decay to zero at `total` steps; `total` may be set
    during the warm-up (time-budgeted runs)."""

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup, self.total = warmup, total

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        span = max(1, self.total - self.warmup)
        return 0.5 * (1 + float(np.cos(np.pi * min(1.0, (step - self.warmup) / span))))


def replan(args: argparse.Namespace, history: list[dict[str, float]], epoch: int, elapsed: float,
           planned: int) -> int:
    """Epochs that fit in what is left of the time budget, re-estimated after every epoch
    from the recent ones: the first includes cuDNN's autotuning (up to 10x a steady epoch
    on a GPU) and processes sharing a GPU speed up or slow down as others start and end.
    The cosine follows the new plan; the run never starts an epoch it cannot finish."""
    recent = history[1:][-3:] or history[-1:]  # the first epoch only until there are others
    per_epoch = max(float(np.mean([h["seconds"] for h in recent])), 1e-3)
    left = args.time_budget - elapsed
    fits = epoch + 1 + int(left // per_epoch)
    new = int(min(args.epochs, max(epoch + 1, fits)))
    if new != planned:
        print(f"time budget {args.time_budget:.0f}s, {left:.0f}s left at {per_epoch:.1f}s per epoch: "
              f"{new} epochs", flush=True)
    return new


def to_tensor(split: Split, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = split.images, split.labels
    if limit:
        images, labels = images[:limit], labels[:limit]
    return torch.from_numpy(normalise(images)), torch.from_numpy(labels)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, device: torch.device, flip_tta: bool = False,
            batch: int = 512) -> torch.Tensor:
    """Softmax probabilities, optionally averaged with the mirrored face."""
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch].to(device).contiguous(memory_format=torch.channels_last)
        p = F.softmax(model(xb), dim=1)
        if flip_tta:
            p = (p + F.softmax(model(torch.flip(xb, dims=[3])), dim=1)) / 2
        out.append(p.cpu())
    return torch.cat(out)


def accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    return float((probs.argmax(1) == labels).float().mean())


def save_curves(history: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [h["train_loss"] for h in history], label="train loss")
    a.plot(ep, [h["val_loss"] for h in history], label="PublicTest loss")
    a.set_xlabel("epoch")
    a.legend()
    b.plot(ep, [h["train_acc"] for h in history], label="train (augmented)")
    b.plot(ep, [h["val_acc"] for h in history], label="PublicTest")
    b.plot(ep, [h["val_acc_ema"] for h in history], label="PublicTest (EMA weights)")
    b.set_xlabel("epoch")
    b.set_ylabel("accuracy")
    b.legend()
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


class RealFaces:
    """Real-face training people drawn into every batch, each class as often as the others:
    wild_dev and CK+48 hold a few dozen angry or fear faces beside hundreds of happy ones."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, per_batch: int) -> None:
        self.x, self.y, self.per_batch = x, y, per_batch
        counts = torch.bincount(y, minlength=len(CLASSES)).float()
        self.weights = (1.0 / counts.clamp(min=1))[y]

    @classmethod
    def read(cls, path: Path, share: float, batch_size: int, device: torch.device) -> RealFaces:
        from training.mixture import load

        images, labels = load(path)
        x = torch.from_numpy(normalise(images)).to(device)
        return cls(x, torch.from_numpy(labels).to(device), max(1, round(share * batch_size)))

    def draw(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.multinomial(self.weights, self.per_batch, replacement=True, generator=gen)
        return self.x[idx], self.y[idx]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="cafenet")
    p.add_argument("--data", type=Path, default=default_data_dir(), help="FER2013 folder")
    p.add_argument("--out", type=Path, required=True, help="run folder (resumed if it has last.pt)")
    p.add_argument("--epochs", type=int, default=55)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05, help="peak learning rate (SGD, one-cycle)")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--soft-labels", action="store_true", help="train on FER+ vote distributions")
    p.add_argument("--mixup", type=float, default=0.0,
                   help="mixup Beta(a, a) parameter, e.g. 0.2 (0 = off)")
    p.add_argument("--schedule", choices=("onecycle", "cosine"), default="onecycle")
    p.add_argument("--time-budget", type=float, default=0,
                   help="seconds: plan the epoch count from the measured epoch time, re-planned every "
                        "epoch (cosine schedule; --epochs becomes the maximum)")
    p.add_argument("--teacher", type=Path, action="append", default=[],
                   help="best.pt of a trained model to distil from (repeatable: their mean)")
    p.add_argument("--teacher-probs", type=Path, action="append", default=[],
                   help="stored teacher probabilities on Training (training/teacher.py; repeatable: their "
                        "mean): distillation without running the teacher, for CPUs")
    p.add_argument("--kd-weight", type=float, default=0.7, help="share of the distillation loss")
    p.add_argument("--kd-temp", type=float, default=4.0, help="distillation temperature")
    p.add_argument("--real-faces", type=Path,
                   help="real-face training people (training.mixture pack): part of every batch, classes balanced")
    p.add_argument("--real-share", type=float, default=0.3, help="share of each batch from --real-faces")
    p.add_argument("--init", type=Path, help="start from these weights (a best.pt) with a fresh optimiser "
                                             "and schedule: a warm restart of a finished run")
    p.add_argument("--amp", choices=("auto", "off"), default="auto", help="bfloat16 autocast on CUDA")
    p.add_argument("--plot-every", type=int, default=1, help="redraw curves.png every N epochs")
    p.add_argument("--ema", type=float, default=0.999, help="weight EMA decay (0 = off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    p.add_argument("--device", default="auto")
    p.add_argument("--limit", type=int, default=0, help="use only N images per split (smoke tests)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.time_budget and args.schedule != "cosine":
        print("error: --time-budget needs --schedule cosine", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    amp = device.type == "cuda" and args.amp == "auto"
    torch.backends.cudnn.benchmark = device.type == "cuda"
    try:
        splits, report = load_fer2013(args.data, args.cache)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.teacher_probs and args.real_faces:
        print("error: --teacher-probs are stored for FER2013 faces only; train --real-faces with --teacher",
              file=sys.stderr)
        return 2
    if args.teacher_probs and (args.teacher or args.mixup or args.soft_labels):
        print("error: --teacher-probs goes without --teacher, --mixup and --soft-labels", file=sys.stderr)
        return 2
    missing = [str(t) for t in [*args.teacher, *args.teacher_probs, *([args.init] if args.init else []),
                                *([args.real_faces] if args.real_faces else [])]
               if not t.is_file()]
    if missing:
        print(f"error: file not found (checkpoint or stored probabilities): {', '.join(missing)}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    limit = args.limit or None
    x_train, y_train = to_tensor(splits["Training"], limit)
    x_val, y_val = to_tensor(splits["PublicTest"], limit)
    soft_train = None
    if args.soft_labels:
        if splits["Training"].soft is None:
            print("error: --soft-labels needs fer2013new.csv in the data folder", file=sys.stderr)
            return 2
        soft_train = torch.from_numpy(splits["Training"].soft[: len(y_train)]).to(device)
    stored_teacher = None  # log of the stored teachers' mean probabilities, [N, 7]
    if args.teacher_probs:
        stored = np.mean([np.load(path) for path in args.teacher_probs], axis=0)
        if stored.shape != (len(splits["Training"].labels), len(CLASSES)):
            print(f"error: --teacher-probs hold {stored.shape}, the cleaned Training split has "
                  f"{len(splits['Training'].labels)} faces: write them again with training.teacher",
                  file=sys.stderr)
            return 2
        stored_teacher = torch.from_numpy(np.log(np.clip(stored[: len(y_train)], 1e-8, 1))).float().to(device)
    # The whole training set is 70 MB as float32: on a GPU it lives there, and so does
    # the augmentation, so no batch is ever copied from the host.
    x_train, y_train = x_train.to(device), y_train.to(device)
    try:
        real = RealFaces.read(args.real_faces, args.real_share, args.batch_size, device) if args.real_faces else None
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: --real-faces {args.real_faces}: {exc}", file=sys.stderr)
        return 2

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    model = build(args.arch).to(device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    teachers = load_teachers(args.teacher, device)
    if args.init is not None and not (args.out / "last.pt").is_file():
        init = torch.load(args.init, map_location=device, weights_only=False)
        if init.get("arch") != args.arch:
            print(f"error: --init {args.init} holds {init.get('arch')!r}, not {args.arch!r}", file=sys.stderr)
            return 2
        model.load_state_dict(init["model"])
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True) if args.ema else None
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                          weight_decay=args.weight_decay)
    steps_per_epoch = (len(x_train) + args.batch_size - 1) // args.batch_size
    planned_epochs = args.epochs
    cosine = CosineWithWarmup(2 * steps_per_epoch, planned_epochs * steps_per_epoch)
    sched: torch.optim.lr_scheduler.LRScheduler
    if args.schedule == "cosine":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine)
    else:
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                    steps_per_epoch=steps_per_epoch, pct_start=0.15)
    history: list[dict[str, float]] = []
    best = -1.0
    start_epoch = 0
    spent_before = 0.0  # training seconds of earlier sessions of this run (time budgets)
    last = args.out / "last.pt"
    if last.is_file():
        state = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"].cpu())
        torch.set_rng_state(state["torch_rng"])
        history, best, start_epoch = state["history"], state["best"], state["epoch"]
        planned_epochs = state.get("planned_epochs", args.epochs)
        spent_before = state.get("elapsed", 0.0)
        cosine.total = planned_epochs * steps_per_epoch
        print(f"resumed from {last} at epoch {start_epoch} of {planned_epochs}", file=sys.stderr)
    config = {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "teacher": [str(t) for t in args.teacher], "teacher_probs": [str(t) for t in args.teacher_probs],
              "augment": asdict(AugmentConfig()), "cleaning": report.summary(),
              "train_images": len(x_train), "params": sum(p.numel() for p in model.parameters())}
    (args.out / "config.json").write_text(json.dumps(config, indent=2))
    aug = AugmentConfig()
    # Mixing weights come from the CPU generator, whose state the checkpoint keeps.
    mix = torch.distributions.Beta(args.mixup, args.mixup) if args.mixup > 0 else None
    run_start = time.perf_counter()

    epoch = start_epoch
    while epoch < planned_epochs:
        model.train()
        perm = torch.randperm(len(x_train), generator=gen, device=device)
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        seen = 0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{planned_epochs}", leave=False,
                   disable=not sys.stderr.isatty())
        for step in bar:
            idx = perm[step * args.batch_size : (step + 1) * args.batch_size]
            if real is not None:
                idx = idx[: args.batch_size - real.per_batch]
            xb, yb = x_train[idx], y_train[idx]
            target = (soft_train[idx] if soft_train is not None
                      else soft_targets(yb, len(CLASSES), args.label_smoothing))
            if real is not None:
                xr, yr = real.draw(gen)
                xb, yb = torch.cat([xb, xr]), torch.cat([yb, yr])
                target = torch.cat([target, soft_targets(yr, len(CLASSES), args.label_smoothing)])
            xb = augment(xb, aug, gen)
            if mix is not None:
                xb, target = mixup(xb, target, float(mix.sample()), gen)
            xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(xb).float()
                if teachers:
                    with torch.no_grad():
                        teacher_probs = torch.stack(
                            [F.softmax(t(xb).float() / args.kd_temp, dim=1) for t in teachers]).mean(0)
            loss = torch.sum(-target * F.log_softmax(logits, 1), dim=1).mean()
            if stored_teacher is not None:
                teacher_probs = F.softmax(stored_teacher[idx] / args.kd_temp, dim=1)
            if teachers or stored_teacher is not None:
                loss = (1 - args.kd_weight) * loss + args.kd_weight * distillation_loss(
                    logits, teacher_probs, args.kd_temp)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(model)
            # Running sums stay on the device: reading them every step would stall a GPU.
            loss_sum += loss.detach() * len(yb)
            correct += (logits.argmax(1) == yb).sum()
            seen += len(yb)
            if not bar.disable and step % 20 == 0:
                bar.set_postfix(loss=f"{float(loss_sum) / seen:.3f}", acc=f"{float(correct) / seen:.3f}")
        probs = predict(model, x_val, device)
        val_loss = float(F.nll_loss(torch.log(probs + 1e-9), y_val))
        val_acc = accuracy(probs, y_val)
        val_acc_ema = accuracy(predict(ema.module, x_val, device), y_val) if ema is not None else val_acc
        row = {"epoch": epoch + 1, "train_loss": float(loss_sum) / seen, "train_acc": float(correct) / seen,
               "val_loss": val_loss, "val_acc": val_acc, "val_acc_ema": val_acc_ema,
               "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}
        history.append(row)
        score = max(val_acc, val_acc_ema)
        if score > best:
            best = score
            use_ema = ema is not None and val_acc_ema >= val_acc
            weights = (ema.module if use_ema and ema is not None else model).state_dict()
            atomic_save({"arch": args.arch, "model": weights, "epoch": epoch + 1, "ema": use_ema,
                         "val_acc": score, "classes": CLASSES}, args.out / "best.pt")
        if args.time_budget:
            planned_epochs = replan(args, history, epoch, spent_before + time.perf_counter() - run_start,
                                    planned_epochs)
            cosine.total = planned_epochs * steps_per_epoch
        epoch += 1
        atomic_save({"model": model.state_dict(), "ema": ema.state_dict() if ema is not None else None,
                     "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
                     "history": history, "best": best, "epoch": epoch, "arch": args.arch,
                     "planned_epochs": planned_epochs,
                     "elapsed": spent_before + time.perf_counter() - run_start}, last)
        with (args.out / "log.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            writer.writeheader()
            writer.writerows(history)
        if epoch % args.plot_every == 0 or epoch == planned_epochs:
            save_curves(history, args.out / "curves.png")
        print(f"epoch {epoch}/{planned_epochs} loss {row['train_loss']:.3f} train {row['train_acc']:.3f} "
              f"PublicTest {val_acc:.4f} (EMA {val_acc_ema:.4f}) best {best:.4f} {row['seconds']:.1f}s",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
