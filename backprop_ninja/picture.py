"""A picture of a wrong gradient: yours, autograd's and the difference, as heatmaps side by side.

As the lecture looks at dlogits with plt.imshow: where the gradient pulls, and
where yours differs. One colour scale is shared by the three panels (so the
difference reads at the size of the gradient), and the worst element is
marked on each. A 3-D or 4-D gradient is drawn as the 2-D slice (its last two
axes) that holds the worst element, and the title says which slice.

matplotlib is an optional extra (`pip install "backprop-ninja[plot]"`); it is
imported only when a picture is drawn.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import torch

from backprop_ninja.checks.compare import _unravel

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
    except ImportError:
        raise NoPicture(INSTALL) from None
    return Figure, Rectangle


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
    Figure, Rectangle = _matplotlib()
    label, target, got, want = failure_of(verdict)
    got = got.detach().to("cpu", torch.float64)
    want = want.detach().to("cpu", torch.float64)
    diff = got - want
    worst = _unravel(int(diff.abs().argmax()), tuple(want.shape)) if diff.numel() else ()
    panels = [(f"yours: d{target}", got), (f"autograd's: d{target}", want), ("difference: yours − autograd's", diff)]
    cut = [plane(t, worst) for _, t in panels]
    where, slice_note = cut[0][1], cut[0][2]
    scale = max(float(t.abs().max()) for t, _, _ in cut) or 1.0  # one colour scale for all three
    rows, cols = cut[0][0].shape
    height = min(max(3.2 * rows / cols, 1.4), 5.0) + 1.2
    fig = Figure(figsize=(15, height), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, (title, _), (values, _, _) in zip(axes, panels, cut):
        image = ax.imshow(values.numpy() if _numpy() else values.tolist(), cmap="RdBu_r", vmin=-scale,
                          vmax=scale, aspect="auto", interpolation="nearest")
        ax.add_patch(Rectangle((where[1] - 0.5, where[0] - 0.5), 1, 1, fill=False, edgecolor="black",
                               linewidth=2.0))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(f"column (worst: {where[1]})", fontsize=8)
        ax.set_ylabel(f"row (worst: {where[0]})", fontsize=8)
    fig.colorbar(image, ax=list(axes), shrink=0.9, label=f"one scale for all three: ±{scale:.3g}")
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
