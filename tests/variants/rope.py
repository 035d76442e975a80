"""Correct variants of kata 10 (rotary position embeddings): the inverse rotation, written other ways."""

import torch

from . import variant

K = "10_rope"


@variant(K, "dq")
def dq_complex_conjugate(dq_rot, cos, sin):
    """Each pair (channel i, channel i + hs/2) as one complex number, real and imaginary: the forward
    multiplies it by e^{i angle}, the backward by the conjugate e^{-i angle}."""
    half = dq_rot.shape[-1] // 2
    z = torch.view_as_complex(torch.stack([dq_rot[..., :half], dq_rot[..., half:]], dim=-1))  # (B, nh, T, hs/2)
    turn = torch.view_as_complex(torch.stack([cos[..., :half], sin[..., :half]], dim=-1))  # (T, hs/2): e^{i angle}
    out = z * turn.conj()
    return torch.cat([out.real, out.imag], dim=-1)


@variant(K, "dq")
def dq_minus_rotate_half(dq_rot, cos, sin):
    """rotate_half's transpose is -rotate_half: the forward line with the sin term's sign flipped."""
    half = dq_rot.shape[-1] // 2
    rotated = torch.cat([-dq_rot[..., half:], dq_rot[..., :half]], dim=-1)  # rotate_half(dq_rot)
    return dq_rot * cos - rotated * sin


@variant(K, "dq")
def dq_halves_written_out(dq_rot, cos, sin):
    """Per pair, [c, -s; s, c] transposed is [c, s; -s, c]: both halves, written out."""
    half = dq_rot.shape[-1] // 2
    g1, g2 = dq_rot[..., :half], dq_rot[..., half:]
    c, s = cos[..., :half], sin[..., :half]
    return torch.cat([g1 * c + g2 * s, g2 * c - g1 * s], dim=-1)


@variant(K, "dq")
def dq_two_by_two_rotations(dq_rot, cos, sin):
    """A (2, 2) rotation matrix per position and pair, R = [[c, -s], [s, c]], applied transposed."""
    half = dq_rot.shape[-1] // 2
    c, s = cos[..., :half], sin[..., :half]  # (T, hs/2)
    R = torch.stack([torch.stack([c, -s], dim=-1), torch.stack([s, c], dim=-1)], dim=-2)  # (T, hs/2, 2, 2)
    pairs = torch.stack([dq_rot[..., :half], dq_rot[..., half:]], dim=-1)  # (B, nh, T, hs/2, 2)
    out = torch.einsum("tpji,bhtpj->bhtpi", R, pairs)  # R^T @ each pair
    return torch.cat([out[..., 0], out[..., 1]], dim=-1)


@variant(K, "dq")
def dq_rotate_half_as_a_matrix(dq_rot, cos, sin):
    """rotate_half(u) = u @ P for a (hs, hs) matrix P: the backward of u @ P is g @ P.T."""
    hs = dq_rot.shape[-1]
    half = hs // 2
    eye = torch.eye(hs, dtype=dq_rot.dtype, device=dq_rot.device)
    P = torch.cat([-eye[..., half:], eye[..., :half]], dim=-1)  # row j: rotate_half(e_j)
    return dq_rot * cos + (dq_rot * sin) @ P.T


@variant(K, "dq")
def dq_tables_rebuilt_from_the_shape(dq_rot, cos, sin):
    """The angles worked out again, t * 10000**(-2i/hs), turned by -angle (cos(-a) = cos a, sin(-a) = -sin a)."""
    B, nh, T, hs = dq_rot.shape
    half = hs // 2
    theta = 10000.0 ** (-torch.arange(0, hs, 2, dtype=torch.float64) / hs)  # (hs/2,)
    angle = torch.arange(T, dtype=torch.float64)[:, None] * theta  # (T, hs/2)
    c, s = angle.cos().to(dq_rot.dtype), angle.sin().to(dq_rot.dtype)
    g1, g2 = dq_rot[..., :half], dq_rot[..., half:]
    return torch.cat([g1 * c + g2 * s, g2 * c - g1 * s], dim=-1)
