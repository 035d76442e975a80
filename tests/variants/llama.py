"""Correct variants of kata 12's backward: every gradient of the Llama, written other ways."""

import math

import torch
import torch.nn.functional as F

from . import variant

K = "12_llama"


def _rmsnorm_by_the_chain(dout, w, x, inv_rms):
    """RMSNorm's dx through the forward's own lines: ms = mean(x**2), inv_rms = (ms + eps)**-0.5, norm = x * inv_rms."""
    C = x.shape[-1]
    dnorm = dout * w
    dinv_rms = (dnorm * x).sum(-1, keepdim=True)  # (B, T, 1)
    dms = -0.5 * inv_rms**3 * dinv_rms
    return dnorm * inv_rms + 2 * x / C * dms, (x * inv_rms * dout).flatten(0, 1).sum(0)


def _rope_by_pairs(g, cos, sin):
    """The inverse rotation written pair by pair: (g1, g2) -> (c g1 + s g2, c g2 - s g1)."""
    half = g.shape[-1] // 2
    g1, g2 = g[..., :half], g[..., half:]
    c, s = cos[:, :half], sin[:, :half]
    return torch.cat([c * g1 + s * g2, c * g2 - s * g1], dim=-1)


def _rope_as_complex(g, cos, sin):
    """The inverse rotation as a complex product by exp(-i angle), over the halves (float64 inside)."""
    half = g.shape[-1] // 2
    z = torch.complex(g[..., :half].double(), g[..., half:].double())
    turn = torch.complex(cos[:, :half].double(), -sin[:, :half].double())
    w = z * turn
    return torch.cat([w.real, w.imag], dim=-1).to(g.dtype)


@variant(K, "backward")
def backward_by_the_chain_heads_in_a_loop_and_one_hot_matmuls(idx, targets, params, acts):
    """dlogits from log_softmax, RMSNorm through its lines, RoPE pair by pair, heads in a loop, the
    embedding as a one-hot matmul, silu's derivative through tanh."""
    B, T = idx.shape
    wte = params["wte"]
    V, C = wte.shape
    n_layer = len([k for k in params if k.endswith("_rms_1_w")])
    cos, sin = acts["cos"], acts["sin"]
    g = {}
    dlogits = F.log_softmax(acts["logits"], -1).exp()
    dlogits = dlogits.scatter_add(-1, targets.unsqueeze(-1), -torch.ones_like(dlogits[..., :1])) / (B * T)
    dwte = torch.einsum("btv,btc->vc", dlogits, acts["rmsf_out"])
    dx, g["rmsf_w"] = _rmsnorm_by_the_chain(dlogits @ wte, params["rmsf_w"], acts["rmsf_x"], acts["rmsf_inv_rms"])
    for l in range(n_layer - 1, -1, -1):
        h = f"h{l}_"
        a, u, xm = acts[h + "mlp_a"], acts[h + "mlp_u"], acts[h + "rms_2_out"]
        g[h + "mlp_W_down"] = torch.einsum("bti,btc->ic", acts[h + "mlp_h"], dx)
        dh = dx @ params[h + "mlp_W_down"].T
        s = 0.5 * (1 + torch.tanh(a / 2))  # sigmoid(a)
        da = dh * u * (s + a * s * (1 - s))
        du = dh * a * s
        g[h + "mlp_W_gate"] = torch.einsum("btc,bti->ci", xm, da)
        g[h + "mlp_W_up"] = torch.einsum("btc,bti->ci", xm, du)
        dxm = torch.cat([da, du], -1) @ torch.cat([params[h + "mlp_W_gate"], params[h + "mlp_W_up"]], -1).T
        dln, g[h + "rms_2_w"] = _rmsnorm_by_the_chain(dxm, params[h + "rms_2_w"], acts[h + "rms_2_x"],
                                                      acts[h + "rms_2_inv_rms"])
        dx = dx + dln
        q_rot, k_rot, v, att = acts[h + "attn_q_rot"], acts[h + "attn_k_rot"], acts[h + "attn_v"], acts[h + "attn_att"]
        nh, hs = q_rot.shape[1], q_rot.shape[3]
        g[h + "attn_W_proj"] = torch.einsum("btc,btd->cd", acts[h + "attn_ycat"], dx)
        dycat = dx @ params[h + "attn_W_proj"].T  # (B, T, C)
        dq, dk, dv = [], [], []
        for head in range(nh):  # one head at a time: its slice of the channels
            dy = dycat[:, :, head * hs:(head + 1) * hs]  # (B, T, hs)
            p = att[:, head]  # (B, T, T)
            datt = dy @ v[:, head].transpose(1, 2)
            dpre = p * datt - p * (p * datt).sum(-1, keepdim=True)
            dq.append(_rope_by_pairs(dpre @ k_rot[:, head] / math.sqrt(hs), cos, sin))
            dk.append(_rope_by_pairs(dpre.transpose(1, 2) @ q_rot[:, head] / math.sqrt(hs), cos, sin))
            dv.append(p.transpose(1, 2) @ dy)
        dqkv = torch.cat([torch.cat(dq, -1), torch.cat(dk, -1), torch.cat(dv, -1)], -1)  # (B, T, 3C)
        g[h + "attn_W_attn"] = torch.einsum("btc,btd->cd", acts[h + "rms_1_out"], dqkv)
        dln, g[h + "rms_1_w"] = _rmsnorm_by_the_chain(dqkv @ params[h + "attn_W_attn"].T, params[h + "rms_1_w"],
                                                      acts[h + "rms_1_x"], acts[h + "rms_1_inv_rms"])
        dx = dx + dln
    onehot = F.one_hot(idx.reshape(-1), V).to(dx.dtype)  # (B*T, V)
    g["wte"] = dwte + onehot.T @ dx.reshape(-1, C)
    return g


@variant(K, "backward")
def backward_with_complex_rope_and_a_loop_for_the_embedding(idx, targets, params, acts):
    """The reference's algebra in norm form, RoPE's backward as a complex product, dwte by a loop."""
    B, T = idx.shape
    wte = params["wte"]
    V, C = wte.shape
    n_layer = len([k for k in params if k.endswith("_rms_1_w")])
    cos, sin = acts["cos"], acts["sin"]
    g = {}

    def rmsnorm(dout, w, norm, inv_rms):
        dnorm = dout * w
        return inv_rms * (dnorm - norm * (dnorm * norm).mean(-1, keepdim=True)), (norm * dout).sum((0, 1))

    dlogits = F.softmax(acts["logits"], -1)
    dlogits = (dlogits - F.one_hot(targets, V).to(dlogits.dtype)) / idx.numel()
    dwte = dlogits.reshape(-1, V).T @ acts["rmsf_out"].reshape(-1, C)
    dx, g["rmsf_w"] = rmsnorm(dlogits @ wte, params["rmsf_w"], acts["rmsf_norm"], acts["rmsf_inv_rms"])
    for l in reversed(range(n_layer)):
        h = f"h{l}_"
        a, u = acts[h + "mlp_a"], acts[h + "mlp_u"]
        H = a.shape[-1]
        g[h + "mlp_W_down"] = acts[h + "mlp_h"].reshape(-1, H).T @ dx.reshape(-1, C)
        dh = dx @ params[h + "mlp_W_down"].T
        sig = torch.sigmoid(a)
        du, da = dh * F.silu(a), dh * u * (sig + F.silu(a) * (1 - sig))
        xm = acts[h + "rms_2_out"].reshape(-1, C)
        g[h + "mlp_W_gate"], g[h + "mlp_W_up"] = xm.T @ da.reshape(-1, H), xm.T @ du.reshape(-1, H)
        dln, g[h + "rms_2_w"] = rmsnorm(da @ params[h + "mlp_W_gate"].T + du @ params[h + "mlp_W_up"].T,
                                        params[h + "rms_2_w"], acts[h + "rms_2_norm"], acts[h + "rms_2_inv_rms"])
        dx = dx + dln
        att, y = acts[h + "attn_att"], acts[h + "attn_y"]
        _, nh, _, hs = y.shape
        g[h + "attn_W_proj"] = acts[h + "attn_ycat"].reshape(-1, C).T @ dx.reshape(-1, C)
        dy = (dx @ params[h + "attn_W_proj"].T).view(B, T, nh, hs).permute(0, 2, 1, 3)
        datt = dy @ acts[h + "attn_v"].transpose(-2, -1)
        dpre = att * (datt - (att * datt).sum(-1, keepdim=True)) * hs**-0.5
        parts = (_rope_as_complex(dpre @ acts[h + "attn_k_rot"], cos, sin),
                 _rope_as_complex(dpre.transpose(-2, -1) @ acts[h + "attn_q_rot"], cos, sin),
                 att.transpose(-2, -1) @ dy)
        dqkv = torch.cat([d.permute(0, 2, 1, 3).reshape(B, T, C) for d in parts], 2)
        g[h + "attn_W_attn"] = acts[h + "rms_1_out"].reshape(-1, C).T @ dqkv.reshape(-1, 3 * C)
        dln, g[h + "rms_1_w"] = rmsnorm(dqkv @ params[h + "attn_W_attn"].T, params[h + "rms_1_w"],
                                        acts[h + "rms_1_norm"], acts[h + "rms_1_inv_rms"])
        dx = dx + dln
    for b in range(B):
        for t in range(T):
            dwte[idx[b, t]] += dx[b, t]
    g["wte"] = dwte
    return g
