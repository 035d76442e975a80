"""A picture of a wrong gradient: yours, autograd's and the difference, as heatmaps side by side.

As the lecture looks at dlogits with plt.imshow: where the gradient pulls, and
where yours differs. Yours and autograd's share one colour scale, so they
compare at a glance; the difference has its own (a 3% slip would be a blank
panel on the gradients' scale), and its colour bar says so. The worst element
is marked on each, and the axes count the tensor's rows and columns. A 3-D
or 4-D gradient is drawn as the 2-D slice (its last two axes) that holds the
worst element, and the title says which slice.

matplotlib is an optional extra (`pip install "backprop-ninja[plot]"`); it is
imported only when a picture is drawn.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import torch

from backprop_ninja.checks.compare import unravel

#: where `check(..., show=True)` outside a notebook and `backprop-ninja show` write
PICTURES = Path(".backprop-ninja") / "pictures"
INSTALL = ('a picture needs matplotlib, which is not installed: pip install "backprop-ninja[plot]" '
           "(or pip install matplotlib)")


class NoPicture(Exception):
    """Why no picture can be drawn; the message is for the learner."""


def _matplotlib():
    try:
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise NoPicture(INSTALL) from None
    return Figure, Rectangle, MaxNLocator


def failure_of(verdict) -> tuple:
    """(label, target, yours, autograd's) of the verdict's first failing probe, or NoPicture."""
    failure = getattr(verdict, "first_failure", ())
    if verdict.status == "done":
        raise NoPicture(f"{verdict.step} matches autograd: nothing to draw")
    if not failure:
        raise NoPicture(f"no picture of {verdict.step}: there is one only for wrong values, when your "
                        f"step returns a tensor of the right shape ({verdict.diagnosis or verdict.status} here)")
    return failure


def plane(t: torch.Tensor, worst: tuple) -> tuple[torch.Tensor, tuple, str]:
    """The 2-D picture of `t`: (values, the worst element's (row, column) in it, which slice).

    0-D and 1-D tensors become one row; a tensor of 3 or more axes is cut at
    the worst element's leading indices, keeping its last two axes.
    """
    if t.dim() == 0:
        return t.reshape(1, 1), (0, 0), ""
    if t.dim() == 1:
        return t.reshape(1, -1), (0, worst[0]), ""
    if t.dim() == 2:
        return t, tuple(worst), ""
    lead = tuple(worst[:-2])
    where = ", ".join(map(str, lead)) + ", :, :"
    return t[lead], tuple(worst[-2:]), f"slice [{where}] of {tuple(t.shape)}, which holds the worst element"


def figure(verdict):
    """The matplotlib Figure of the verdict's first failing probe (NoPicture if there is none)."""
    Figure, Rectangle, MaxNLocator = _matplotlib()
    label, target, got, want = failure_of(verdict)
    got = got.detach().to("cpu", torch.float64)
    want = want.detach().to("cpu", torch.float64)
    diff = got - want
    worst = unravel(int(diff.abs().argmax()), tuple(want.shape)) if diff.numel() else ()
    panels = [(f"yours: d{target}", got), (f"autograd's: d{target}", want), ("difference: yours − autograd's", diff)]
    cut = [plane(t, worst) for _, t in panels]
    where, slice_note = cut[0][1], cut[0][2]
    scale = max(float(t.abs().max()) for t, _, _ in cut[:2]) or 1.0  # yours and autograd's: one scale
    off = float(cut[2][0].abs().max()) or scale  # the difference: its own
    rows, cols = cut[0][0].shape
    height = min(max(3.2 * rows / cols, 1.4), 5.0) + 1.2
    fig = Figure(figsize=(15, height), layout="constrained")
    axes = fig.subplots(1, 3)
    images = []
    for ax, (title, _), (values, _, _), bound in zip(axes, panels, cut, (scale, scale, off)):
        images.append(ax.imshow(values.numpy() if _numpy() else values.tolist(), cmap="RdBu_r", vmin=-bound,
                                vmax=bound, aspect="auto", interpolation="nearest"))
        ax.add_patch(Rectangle((where[1] - 0.5, where[0] - 0.5), 1, 1, fill=False, edgecolor="black",
                               linewidth=2.0))
        ax.set_title(title, fontsize=10)
        for axis in (ax.xaxis, ax.yaxis):  # ticks at whole rows and columns: a (32, 1) tensor has one column, 0
            axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlabel(f"column (worst: {where[1]})", fontsize=8)
        ax.set_ylabel(f"row (worst: {where[0]})", fontsize=8)
    fig.colorbar(images[1], ax=list(axes[:2]), shrink=0.9, label=f"yours and autograd's: ±{scale:.3g}")
    fig.colorbar(images[2], ax=axes[2], shrink=0.9, label=f"the difference, its own scale: ±{off:.3g}")
    at = f"[{', '.join(map(str, worst))}]"
    fig.suptitle(f"{verdict.step} (kata {verdict.kata[:2]}) · {label} · worst element {at} (boxed): "
                 f"yours {float(got[worst]):.4g}, autograd's {float(want[worst]):.4g}"
                 + (f"\n{slice_note}" if slice_note else ""), fontsize=10)
    return fig


def _numpy() -> bool:
    """imshow takes lists when torch runs without NumPy (NumPy comes with matplotlib, but be safe)."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


def png(verdict) -> bytes:
    buffer = io.BytesIO()
    figure(verdict).savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def save(verdict, folder: Path | str = PICTURES) -> Path:
    """Write the picture as folder/<kata number>_<step>.png; return its path."""
    data = png(verdict)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{verdict.kata[:2]}_{verdict.step}.png"
    path.write_bytes(data)
    return path


def in_notebook() -> bool:
    """True inside a Jupyter or Colab kernel (where a picture is shown inline)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def show(verdict, folder: Path | str = PICTURES) -> str:
    """Draw the picture: inline in a notebook, else as a PNG. Returns the line to print
    (the PNG's path, or why there is no picture)."""
    from backprop_ninja.models.paths import shown

    try:
        if in_notebook():
            from IPython.display import Image, display

            display(Image(data=png(verdict)))
            return ""
        return f"picture: {shown(save(verdict, folder))}"
    except NoPicture as e:
        return str(e)
