"""Correct variants of kata 08's backward: every gradient of the GPT, written other ways."""

import math

import torch
import torch.nn.functional as F

from . import variant

K = "08_gpt"


def _layernorm_by_the_chain(dout, w, norm, rstd):
    """Layernorm's dx through the forward's own lines: norm = xshift * rstd, var, mean."""
    C = norm.shape[-1]
    xshift = norm / rstd  # (B, T, C)
    dnorm = dout * w
    drstd = (dnorm * xshift).sum(-1, keepdim=True)  # (B, T, 1)
    dvar = -0.5 * rstd**3 * drstd
    dxshift = dnorm * rstd + 2 * xshift / C * dvar
    dx = dxshift - dxshift.mean(-1, keepdim=True)
    return dx, (norm * dout).flatten(0, 1).sum(0), dout.flatten(0, 1).sum(0)


def _gelu_local(fch):
    """d GELU/d fch with sech**2 = 1/cosh**2."""
    s = math.sqrt(2 / math.pi)
    u = s * (fch + 0.044715 * fch**3)
    return 0.5 * (1 + torch.tanh(u)) + 0.5 * fch * s * (1 + 0.134145 * fch**2) / torch.cosh(u) ** 2


@variant(K, "backward")
def backward_one_hot_matmuls_and_the_layers_lines(idx, targets, params, acts):
    """dlogits from log_softmax, layernorm through its lines, heads in a loop, embeddings as one-hot matmuls."""
    B, T = idx.shape
    wte = params["wte"]
    V, C = wte.shape
    n_layer = len([k for k in params if k.endswith("_ln_1_w")])
    g = {}
    dlogits = F.log_softmax(acts["logits"], -1).exp()
    dlogits = dlogits.scatter_add(-1, targets.unsqueeze(-1), -torch.ones_like(dlogits[..., :1])) / (B * T)
    dwte = torch.einsum("btv,btc->vc", dlogits, acts["lnf_out"])
    dx, g["lnf_w"], g["lnf_b"] = _layernorm_by_the_chain(dlogits @ wte, params["lnf_w"], acts["lnf_norm"],
                                                         acts["lnf_rstd"])
    for l in range(n_layer - 1, -1, -1):
        h = f"h{l}_"
        fch, fch_gelu, xm = acts[h + "mlp_fch"], acts[h + "mlp_fch_gelu"], acts[h + "ln_2_out"]
        g[h + "mlp_W_proj"] = torch.einsum("bti,btc->ic", fch_gelu, dx)
        g[h + "mlp_b_proj"] = dx.sum((0, 1))
        dfch = (dx @ params[h + "mlp_W_proj"].T) * _gelu_local(fch)
        g[h + "mlp_W_fc"] = torch.einsum("btc,bti->ci", xm, dfch)
        g[h + "mlp_b_fc"] = dfch.sum((0, 1))
        dln, g[h + "ln_2_w"], g[h + "ln_2_b"] = _layernorm_by_the_chain(
            dfch @ params[h + "mlp_W_fc"].T, params[h + "ln_2_w"], acts[h + "ln_2_norm"], acts[h + "ln_2_rstd"])
        dx = dx + dln
        q, k, v, att = acts[h + "attn_q"], acts[h + "attn_k"], acts[h + "attn_v"], acts[h + "attn_att"]
        nh, hs = q.shape[1], q.shape[3]
        g[h + "attn_W_proj"] = torch.einsum("btc,btd->cd", acts[h + "attn_ycat"], dx)
        g[h + "attn_b_proj"] = dx.sum((0, 1))
        dycat = dx @ params[h + "attn_W_proj"].T  # (B, T, C)
        dq, dk, dv = [], [], []
        for head in range(nh):  # one head at a time: its slice of the channels
            dy = dycat[:, :, head * hs:(head + 1) * hs]  # (B, T, hs)
            a = att[:, head]  # (B, T, T)
            datt = dy @ v[:, head].transpose(1, 2)
            dpre = a * datt - a * (a * datt).sum(-1, keepdim=True)
            dq.append(dpre @ k[:, head] / math.sqrt(hs))
            dk.append(dpre.transpose(1, 2) @ q[:, head] / math.sqrt(hs))
            dv.append(a.transpose(1, 2) @ dy)
        dqkv = torch.cat([torch.cat(dq, -1), torch.cat(dk, -1), torch.cat(dv, -1)], -1)  # (B, T, 3C)
        g[h + "attn_W_attn"] = torch.einsum("btc,btd->cd", acts[h + "ln_1_out"], dqkv)
        g[h + "attn_b_attn"] = dqkv.sum((0, 1))
        dln, g[h + "ln_1_w"], g[h + "ln_1_b"] = _layernorm_by_the_chain(
            dqkv @ params[h + "attn_W_attn"].T, params[h + "ln_1_w"], acts[h + "ln_1_norm"], acts[h + "ln_1_rstd"])
        dx = dx + dln
    onehot = F.one_hot(idx.reshape(-1), V).to(dx.dtype)  # (B*T, V)
    g["wte"] = dwte + onehot.T @ dx.reshape(-1, C)
    pos = F.one_hot(torch.arange(T, device=idx.device), params["wpe"].shape[0]).to(dx.dtype)  # (T, block_size)
    g["wpe"] = pos.T @ dx.sum(0)
    return g


@variant(K, "backward")
def backward_with_loops_for_the_embeddings(idx, targets, params, acts):
    """The reference's algebra, with dwte and dwpe accumulated by a loop over every position."""
    B, T = idx.shape
    wte = params["wte"]
    V, C = wte.shape
    n_layer = len([k for k in params if k.endswith("_ln_1_w")])
    g = {}

    def layernorm(dout, w, norm, rstd):
        dnorm = dout * w
        dx = rstd * (dnorm - dnorm.mean(-1, keepdim=True) - norm * (dnorm * norm).mean(-1, keepdim=True))
        return dx, (norm * dout).sum((0, 1)), dout.sum((0, 1))

    dlogits = F.softmax(acts["logits"], -1)
    dlogits = (dlogits - F.one_hot(targets, V).to(dlogits.dtype)) / idx.numel()
    dwte = dlogits.reshape(-1, V).T @ acts["lnf_out"].reshape(-1, C)
    dx, g["lnf_w"], g["lnf_b"] = layernorm(dlogits @ wte, params["lnf_w"], acts["lnf_norm"], acts["lnf_rstd"])
    for l in reversed(range(n_layer)):
        h = f"h{l}_"
        t = torch.tanh(math.sqrt(2 / math.pi) * (acts[h + "mlp_fch"] + 0.044715 * acts[h + "mlp_fch"] ** 3))
        fch = acts[h + "mlp_fch"]
        dgelu = 0.5 * (1 + t) + 0.5 * fch * (1 - t * t) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * fch * fch)
        g[h + "mlp_W_proj"] = acts[h + "mlp_fch_gelu"].reshape(-1, 4 * C).T @ dx.reshape(-1, C)
        g[h + "mlp_b_proj"] = dx.sum((0, 1))
        dfch = (dx @ params[h + "mlp_W_proj"].T) * dgelu
        g[h + "mlp_W_fc"] = acts[h + "ln_2_out"].reshape(-1, C).T @ dfch.reshape(-1, 4 * C)
        g[h + "mlp_b_fc"] = dfch.sum((0, 1))
        dln, g[h + "ln_2_w"], g[h + "ln_2_b"] = layernorm(dfch @ params[h + "mlp_W_fc"].T, params[h + "ln_2_w"],
                                                          acts[h + "ln_2_norm"], acts[h + "ln_2_rstd"])
        dx = dx + dln
        att, y = acts[h + "attn_att"], acts[h + "attn_y"]
        _, nh, _, hs = y.shape
        g[h + "attn_W_proj"] = acts[h + "attn_ycat"].reshape(-1, C).T @ dx.reshape(-1, C)
        g[h + "attn_b_proj"] = dx.sum((0, 1))
        dy = (dx @ params[h + "attn_W_proj"].T).view(B, T, nh, hs).permute(0, 2, 1, 3)
        datt = dy @ acts[h + "attn_v"].transpose(-2, -1)
        dpre = att * (datt - (att * datt).sum(-1, keepdim=True)) * hs**-0.5
        parts = (dpre @ acts[h + "attn_k"], dpre.transpose(-2, -1) @ acts[h + "attn_q"], att.transpose(-2, -1) @ dy)
        dqkv = torch.cat([d.permute(0, 2, 1, 3).reshape(B, T, C) for d in parts], 2)
        g[h + "attn_W_attn"] = acts[h + "ln_1_out"].reshape(-1, C).T @ dqkv.reshape(-1, 3 * C)
        g[h + "attn_b_attn"] = dqkv.sum((0, 1))
        dln, g[h + "ln_1_w"], g[h + "ln_1_b"] = layernorm(dqkv @ params[h + "attn_W_attn"].T, params[h + "ln_1_w"],
                                                          acts[h + "ln_1_norm"], acts[h + "ln_1_rstd"])
        dx = dx + dln
    dwpe = torch.zeros_like(params["wpe"])
    for b in range(B):
        for t in range(T):
            dwte[idx[b, t]] += dx[b, t]
            dwpe[t] += dx[b, t]
    g["wte"], g["wpe"] = dwte, dwpe
    return g
