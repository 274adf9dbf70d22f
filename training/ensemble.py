"""Choose an ensemble of trained nets on PublicTest, knowing what each choice costs.

    python -m training.ensemble runs/cafenet/best.pt runs/cafenet_wide/best.pt ... \
        --max-members 3 --json reports/ensemble/subsets.json --plot reports/ensemble/subsets.png

Scores every subset of the given checkpoints (up to --max-members) on PublicTest, single
crop, as the mean of the members' probabilities (what training.models.Ensemble computes),
beside its cost in multiply-accumulates per face. It prints the subsets that no cheaper
subset beats (the accuracy/cost front) and writes all of them to --json. PrivateTest is
never read here: export the pick with `training.export --checkpoint ... --checkpoint ...`,
which reports it once.
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


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
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
    ax.set_xlabel("cost per face (million multiply-accumulates)")
    ax.set_ylabel("PublicTest accuracy, single crop (%)")
    ax.set_title("Ensembles of trained nets: accuracy against cost")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", type=Path, nargs="+", help="best.pt of each candidate run (named by its folder)")
    p.add_argument("--max-members", type=int, default=3)
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--json", type=Path, help="write every subset here")
    p.add_argument("--plot", type=Path, help="a PNG of accuracy against cost, the front marked")
    args = p.parse_args(argv)
    splits = load_for_command(args.data)
    if splits is None:
        return 2
    public = splits["PublicTest"]
    probs, costs = {}, {}
    for checkpoint in args.checkpoints:
        name, model = checkpoint.parent.name, load_checkpoint(checkpoint)[0]
        costs[name] = macs_per_face(model)  # on the CPU, before it moves to the evaluation device
        probs[name] = model_probabilities(model, public.images)
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


if __name__ == "__main__":
    raise SystemExit(main())
