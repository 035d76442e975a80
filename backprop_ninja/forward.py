"""A kata's forward pass as named tensors, for a notebook: `globals().update(forward_values("01"))`."""

from __future__ import annotations

from backprop_ninja.models.katas import kata as find_kata


def forward_values(kata: str, quiet: bool = False) -> dict:
    """Every tensor of the kata's forward pass at its first configuration (its own sizes).

    Returns {name: tensor}, fresh clones without a graph: the parameters, the batch
    (Xb, Yb) and each line of the forward pass (emb, ..., logprobs, loss), so a
    notebook can look at shapes and try a line before writing a step. Prints one
    line per tensor (name and shape) unless quiet. These are the values the
    lecture probe feeds your steps; check() also tries other sizes and random
    upstream gradients.
    """
    chosen = find_kata(str(kata))
    cfg = chosen.configs[0]
    # a graph's tensors (not the values only its fused lines read: nh, the other parameters), or what
    # kata 08's backward is fed: idx, targets and the params and acts dicts
    values = chosen.graph.feeds(cfg)
    if not quiet:
        shapes = ", ".join(f"{name} {tuple(t.shape) if hasattr(t, 'shape') else f'{{{len(t)} tensors}}'}"
                           for name, t in values.items())
        print(f"kata {chosen.number}, {cfg.describe()}:\n  {shapes}")
    return values
