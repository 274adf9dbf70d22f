"""Choose an ensemble of trained nets on PublicTest, knowing what each choice costs.

    python -m training.ensemble runs/cafenet/best.pt runs/cafenet_wide/best.pt ... \
        --max-members 3 --json reports/ensemble/subsets.json --plot reports/ensemble/subsets.png

Scores every subset of the given checkpoints (up to --max-members) on PublicTest, single
crop, as the mean of the members' probabilities (what training.models.Ensemble computes),
beside its cost in multiply-accumulates per face. It prints the subsets that no cheaper
subset beats (the accuracy/cost front) and writes all of them to --json. PrivateTest is
never read here: export the pick with `training.export --checkpoint ... --checkpoint ...`,
which reports it once.

    python -m training.ensemble runs/{cafenet,cafenet_wide,cafenet_wide_kd}/best.pt \
        --cascade cafenet,cafenet_wide_kd,cafenet_wide --json reports/cascade/thresholds.json

`--cascade` (members in the order they are consulted, training.models.Cascade) instead
scores every combination of per-stage thresholds (0.30 to 0.95 by 0.05) on PublicTest with
the share of faces escalated past the first member and the mean cost per face, prints the
combinations no cheaper one beats, and picks the cheapest that keeps the full ensemble's
accuracy within --tolerance: the cascade that saves the most compute while losing nothing
measurable. Export it with `training.export ... --escalate-below T1 T2 ...`.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from training.data import default_data_dir, load_for_command
from training.evaluate import model_probabilities
from training.models import load_checkpoint


def macs_per_face(model: nn.Module) -> int:
    """Multiply-accumulates of the convolutions and dense layers for one 48x48 face."""
    total = 0

    def count(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * (module.in_channels // module.groups) * k
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 1, 48, 48))
    for hook in hooks:
        hook.remove()
    return total


def subsets(probs: dict[str, npt.NDArray[np.float32]], labels: npt.NDArray[np.int64], costs: dict[str, int],
            max_members: int) -> list[dict[str, Any]]:
    """Every subset's accuracy (mean of members' probabilities) and summed cost, best first."""
    rows = []
    for k in range(1, min(max_members, len(probs)) + 1):
        for members in itertools.combinations(probs, k):
            mean = np.mean([probs[m] for m in members], axis=0)
            rows.append({"members": list(members), "public_test": round(float((mean.argmax(1) == labels).mean()), 4),
                         "mmacs": round(sum(costs[m] for m in members) / 1e6, 1)})
    return sorted(rows, key=lambda r: (-r["public_test"], r["mmacs"]))


def front(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The subsets that every cheaper subset scores below."""
    best, kept = -1.0, []
    for row in sorted(rows, key=lambda r: (r["mmacs"], -r["public_test"])):
        if row["public_test"] > best:
            best = row["public_test"]
            kept.append(row)
    return kept


def cascade(probs: list[npt.NDArray[np.float32]],
            thresholds: tuple[float, ...]) -> tuple[npt.NDArray[np.float32], list[float]]:
    """What training.models.Cascade answers, computed from its members' probabilities (first
    member first), and the share of faces that reaches each member."""
    total = probs[0].astype(np.float64)
    answer, going, reached = total.copy(), np.ones(len(total), dtype=bool), [1.0]
    for k, member in enumerate(probs[1:]):
        going &= (total / (k + 1)).max(1) < thresholds[k]
        total = total + member
        answer[going] = total[going] / (k + 2)
        reached.append(float(going.mean()))
    return answer.astype(np.float32), reached


def cascade_thresholds(probs: list[npt.NDArray[np.float32]], labels: npt.NDArray[np.int64], costs: list[int],
                       grid: npt.NDArray[np.float64]) -> list[dict[str, Any]]:
    """Accuracy, share of faces escalated past the first member, and mean cost per face of
    every combination of per-stage thresholds from `grid`."""
    rows = []
    for thresholds in itertools.product(grid, repeat=len(probs) - 1):
        answer, reached = cascade(probs, thresholds)
        rows.append({"escalate_below": [round(float(t), 3) for t in thresholds],
                     "public_test": round(float((answer.argmax(1) == labels).mean()), 4),
                     "escalated": round(reached[1], 4),
                     "mmacs": round(sum(c * r for c, r in zip(costs, reached, strict=True)) / 1e6, 1)})
    return rows


def cheapest_within(rows: list[dict[str, Any]], full: float, tolerance: float) -> dict[str, Any]:
    """The cheapest thresholds whose accuracy is within `tolerance` of the full ensemble's
    (the most accurate of them on a tie)."""
    ok = [r for r in rows if r["public_test"] >= full - tolerance] or rows
    return min(ok, key=lambda r: (r["mmacs"], -r["public_test"]))


def axes() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 4.5))


def save(fig: Any, ax: Any, title: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    ax.set_xlabel("cost per face (million multiply-accumulates)")
    ax.set_ylabel("PublicTest accuracy, single crop (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_cascade(rows: list[dict[str, Any]], full: float, full_mmacs: float, pick: dict[str, Any],
                 path: Path) -> None:
    fig, ax = axes()
    ax.scatter([r["mmacs"] for r in rows], [100 * r["public_test"] for r in rows], s=12, alpha=0.4,
               label="a pair of thresholds")
    best = front(rows)
    ax.plot([r["mmacs"] for r in best], [100 * r["public_test"] for r in best], "k--", lw=1, label="front")
    ax.scatter([full_mmacs], [100 * full], marker="^", s=60, color="tab:red", label="every face, every net")
    ax.scatter([pick["mmacs"]], [100 * pick["public_test"]], marker="*", s=160, color="tab:green", zorder=3,
               label="chosen: " + " / ".join(f"{t:.2f}" for t in pick["escalate_below"]))
    save(fig, ax, "Cascade thresholds: accuracy against mean cost", path)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    fig, ax = axes()
    for k, marker in ((1, "o"), (2, "s"), (3, "^"), (4, "D")):
        some = [r for r in rows if len(r["members"]) == k]
        if some:
            ax.scatter([r["mmacs"] for r in some], [100 * r["public_test"] for r in some], marker=marker,
                       alpha=0.6, label=f"{k} net{'s' if k > 1 else ''}")
    best = front(rows)
    ax.plot([r["mmacs"] for r in best], [100 * r["public_test"] for r in best], "k--", lw=1, label="front")
    middle = (min(r["mmacs"] for r in rows) + max(r["mmacs"] for r in rows)) / 2
    for r in best:  # labels point inwards so they stay inside the axes
        right = r["mmacs"] > middle
        ax.annotate(" + ".join(r["members"]), (r["mmacs"], 100 * r["public_test"]), fontsize=7,
                    xytext=(-6 if right else 6, -4), textcoords="offset points", ha="right" if right else "left",
                    va="top")
    save(fig, ax, "Ensembles of trained nets: accuracy against cost", path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", type=Path, nargs="+", help="best.pt of each candidate run (named by its folder)")
    p.add_argument("--max-members", type=int, default=3)
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--json", type=Path, help="write every subset here")
    p.add_argument("--plot", type=Path, help="a PNG of accuracy against cost, the front (and a cascade's pick) marked")
    p.add_argument("--cascade", help="comma-separated run names, first member first: its threshold table instead")
    p.add_argument("--tolerance", type=float, default=0.001,
                   help="--cascade picks the cheapest thresholds within this of the full ensemble (default 0.1 point)")
    args = p.parse_args(argv)
    order = args.cascade.split(",") if args.cascade else []
    names = {c.parent.name for c in args.checkpoints}
    if missing := [n for n in order if n not in names]:
        p.error(f"--cascade names {', '.join(missing)} not among the checkpoints' run folders")
    splits = load_for_command(args.data)
    if splits is None:
        return 2
    public = splits["PublicTest"]
    probs, costs = {}, {}
    for checkpoint in args.checkpoints:
        name, model = checkpoint.parent.name, load_checkpoint(checkpoint)[0]
        costs[name] = macs_per_face(model)  # on the CPU, before it moves to the evaluation device
        probs[name] = model_probabilities(model, public.images)
    if order:
        return print_cascade([probs[n] for n in order], public.labels, [costs[n] for n in order], args)
    rows = subsets(probs, public.labels, costs, args.max_members)
    print(f"{'PublicTest':>10} {'MMACs':>7}  members (subsets no cheaper one beats)")
    for row in front(rows):
        print(f"{row['public_test']:>10.2%} {row['mmacs']:>7.1f}  {' + '.join(row['members'])}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        table = {"split": "PublicTest", "mode": "single_crop", "subsets": rows}
        args.json.write_text(json.dumps(table, indent=2) + "\n")
    if args.plot:
        plot(rows, args.plot)
    return 0


def print_cascade(probs: list[npt.NDArray[np.float32]], labels: npt.NDArray[np.int64], costs: list[int],
                  args: argparse.Namespace) -> int:
    rows = cascade_thresholds(probs, labels, costs, np.round(np.arange(0.3, 0.951, 0.05), 2))
    full = round(float((np.mean(probs, axis=0).argmax(1) == labels).mean()), 4)
    pick = cheapest_within(rows, full, args.tolerance)
    print(f"{'thresholds':>12} {'PublicTest':>10} {'escalated':>9} {'MMACs':>6}  "
          f"(no cheaper thresholds beat these; full ensemble {full:.2%})")
    for row in front(rows):
        mark = "  <- cheapest within tolerance" if row is pick else ""
        print(f"{' '.join(f'{t:.2f}' for t in row['escalate_below']):>12} {row['public_test']:>10.2%} "
              f"{row['escalated']:>9.1%} {row['mmacs']:>6.1f}{mark}")
    if pick not in front(rows):
        print(f"chosen (cheapest within tolerance): {pick}")
    if args.plot:
        plot_cascade(rows, full, sum(costs) / 1e6, pick, args.plot)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        table = {"split": "PublicTest", "mode": "single_crop", "members": args.cascade.split(","),
                 "tolerance": args.tolerance, "full_ensemble": full, "chosen": pick, "thresholds": rows}
        args.json.write_text(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
