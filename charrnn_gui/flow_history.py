"""The gradient-flow measurements of the model being trained, as the Gradient flow tab shows and exports them."""

from __future__ import annotations

import csv
import math

import numpy as np

# The health numbers of core.gradflow.GradFlow, in the order of the tab's strip and of the CSV.
NUMBERS = ("whh_sigma_max", "tanh_derivative_mean", "saturated_fraction", "clip_fraction", "grad_param_ratio")
MAX_FLOWS = 4000  # measurements kept: past this, only every stride-th (doubling as needed) and the newest
KEEP_NEWEST = 64  # the newest measurements are always kept (the trail and the latest curves read them)


def path_title(name: str) -> str:
    """How a reach curve is named on screen: "h-path", "c-path", "layer 1 h-path" (layers counted from 1)."""
    if "." not in name:
        return f"{name}-path"
    layer, state = name.split(".")
    return f"layer {int(layer[1:]) + 1} {state}-path"


class FlowHistory:
    """Every GradFlow of one model in the order measured, with the arrays the plots and the CSV need."""

    def __init__(self):
        self.flows: list = []  # core.gradflow.GradFlow, oldest first
        self.version = 0  # bumped by every change, so a view redraws only when something is new
        self.stride = 1  # older measurements kept: every stride-th in the order they were made
        self._numbers: list[int] = []  # parallel to flows: each one's place in that order
        self._made = 0  # measurements received

    def __len__(self) -> int:
        return len(self.flows)

    def add(self, flows) -> None:
        """Append measurements (oldest first). A very long run keeps at most MAX_FLOWS: the newest KEEP_NEWEST and,
        before them, every stride-th measurement, the stride doubling whenever they would be too many."""
        for flow in flows:
            self.flows.append(flow)
            self._numbers.append(self._made)
            self._made += 1
        while True:
            aged = len(self.flows) - KEEP_NEWEST
            keep = [i for i, n in enumerate(self._numbers) if i >= aged or n % self.stride == 0]
            if len(keep) <= MAX_FLOWS:
                break
            self.stride *= 2
        if len(keep) < len(self.flows):
            self.flows = [self.flows[i] for i in keep]
            self._numbers = [self._numbers[i] for i in keep]
        self.version += 1

    def clear(self) -> None:
        self.flows, self._numbers, self._made, self.stride = [], [], 0, 1
        self.version += 1

    @property
    def latest(self):
        return self.flows[-1] if self.flows else None

    def names(self) -> list[str]:
        """The reach curves measured: "h" (the top layer's hidden state), then "c" and lower layers' as present."""
        return ["h", *self.latest.paths] if self.flows else []

    @staticmethod
    def curve(flow, name: str) -> np.ndarray:
        """(T,) g_k of one path of one measurement, by steps back."""
        return np.asarray(flow.grad_flow if name == "h" else flow.paths[name], dtype=np.float64)

    def ratio(self, name: str = "h", flow=None) -> float:
        """g_{T-1} / g_0 of a path (the latest measurement unless flow is given): how much of the gradient of the
        last prediction reaches the window's first step."""
        flow = flow if flow is not None else self.latest
        if flow is None:
            return math.nan
        g = self.curve(flow, name)
        return float(g[-1] / g[0]) if g[0] > 0 else math.nan

    def iterations(self) -> np.ndarray:
        return np.array([f.iteration for f in self.flows], dtype=np.int64)  # (n,)

    def numbers(self, name: str) -> np.ndarray:
        """(n,) one health number over the measurements (NaN where it was not finite)."""
        return np.array([getattr(f, name) for f in self.flows], dtype=np.float64)

    def rows(self, limit: int) -> np.ndarray:
        """Indices of at most `limit` measurements spread evenly over the whole run, the first and latest kept."""
        n = len(self.flows)
        if n <= limit:
            return np.arange(n)
        return np.unique(np.linspace(0, n - 1, limit).round().astype(np.intp))

    def image(self, name: str, rows: np.ndarray) -> np.ndarray:
        """(R, T) log10 g_k of one path for the given measurements (NaN where g_k is 0 or not finite)."""
        image = np.stack([self.curve(self.flows[i], name) for i in rows])  # (R, T)
        with np.errstate(divide="ignore", invalid="ignore"):
            image = np.log10(image)
        image[~np.isfinite(image)] = np.nan
        return image

    def write_csv(self, path: str) -> int:
        """One row per measurement kept: iteration, the health numbers, g_{T-1}/g_0, then every path's g_0 ... g_{T-1}
        (columns grad_flow_<k>, grad_flow_c_<k>, grad_flow_L0.h_<k> as in the metrics JSONL) and the BPTT carry.
        Returns the number of rows."""
        names = self.names()
        if not names:
            raise ValueError("there are no gradient-flow measurements yet")
        T = len(self.latest.grad_flow)
        header = ["iteration", *NUMBERS, "reach_ratio"]
        for name in names:
            prefix = "grad_flow" if name == "h" else f"grad_flow_{name}"
            header += [f"{prefix}_{k}" for k in range(T)]
        header += [f"bptt_carry_{k}" for k in range(T)]
        with open(path, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(header)
            for flow in self.flows:
                row = [flow.iteration, *(repr(float(getattr(flow, n))) for n in NUMBERS), repr(self.ratio("h", flow))]
                for name in names:
                    row += [repr(float(g)) for g in self.curve(flow, name)]
                row += [repr(float(g)) for g in flow.bptt_carry]
                out.writerow(row)
        return len(self.flows)
