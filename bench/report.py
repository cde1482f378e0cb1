"""The summary of a ``python -m bench`` run: one row per figure with its target, as a
table on stdout, as JSON and as a bar chart (``bench/results/summary.{json,png}``).

Every figure is a ratio of two things measured in the same run (see
``bench/__main__.py``). A target reads ``<= 2`` (lower is better: Doorstep over its
baseline) or ``>= 0.5`` (higher is better: a share of a ceiling, a speed-up).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Figure", "Summary"]


@dataclass(slots=True)
class Figure:
    part: str
    name: str
    ratio: float | None
    """None: not measured (``note`` says why)."""
    target: float | None = None
    higher_is_better: bool = False
    what: str = ""
    """What is over what, in words."""
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        if self.ratio is None or self.target is None:
            return None
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target

    @property
    def target_text(self) -> str:
        if self.target is None:
            return ""
        return f"{'>=' if self.higher_is_better else '<='} {self.target:g}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met, "target_text": self.target_text}


class Summary:
    def __init__(self) -> None:
        self.figures: list[Figure] = []
        self.parts: dict[str, Any] = {}
        self.started_at = datetime.now(UTC)
        self.load_start = os.getloadavg()

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def table(self) -> str:
        head = f"{'part':<8} {'figure':<44} {'ratio':>9} {'target':>8} {'met':>4}  what"
        lines = [head, "-" * (len(head) + 30)]
        for f in self.figures:
            ratio = "skipped" if f.ratio is None else f"{f.ratio:.2f}x"
            met = {True: "yes", False: "NO", None: ""}[f.met]
            what = f.what + (f"  ({f.note})" if f.note else "")
            lines.append(f"{f.part:<8} {f.name:<44} {ratio:>9} {f.target_text:>8} {met:>4}  {what}")
        return "\n".join(lines)

    def meta(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_start": [round(x, 2) for x in self.load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        }

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / "summary.json"
        payload = {
            "meta": self.meta(),
            "figures": [f.as_dict() for f in self.figures],
            "parts": self.parts,
        }
        out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        written = [out]
        plot = self.plot(folder / "summary.png")
        if plot is not None:
            written.append(plot)
        return written

    def plot(self, path: Path) -> Path | None:
        """A horizontal bar per figure, its target as a tick; None without matplotlib
        (``pip install -e '.[bench]'``)."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print(
                "[bench] no plot: matplotlib is not installed (pip install -e '.[bench]')",
                file=sys.stderr,
            )
            return None
        shown = [f for f in self.figures if f.ratio is not None]
        if not shown:
            return None
        fig, ax = plt.subplots(figsize=(10, 0.45 * len(shown) + 1.5))
        labels = [f"{f.part}: {f.name}" for f in shown]
        colors = [{True: "#2e7d32", False: "#c62828", None: "#607d8b"}[f.met] for f in shown]
        ys = list(range(len(shown)))
        ax.barh(ys, [f.ratio or 0 for f in shown], color=colors)
        for y, f in zip(ys, shown, strict=True):
            if f.target is not None:
                ax.plot([f.target, f.target], [y - 0.4, y + 0.4], color="black", linewidth=2)
            ax.text((f.ratio or 0) * 1.02, y, f"{f.ratio:.2f}x", va="center", fontsize=8)
        ax.set_yticks(ys, labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("ratio (log scale); black tick: target; green met, red missed")
        ax.set_title(f"Doorstep benchmark, {self.started_at:%Y-%m-%d %H:%M} UTC")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path
