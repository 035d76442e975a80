"""What crosses the pipe to and from the worker: plain data and plain tensors, never pickles.

A message is one frame: an 8-byte length, a JSON header, then the raw bytes
of its tensors. JSON holds None, booleans, numbers, strings, lists and
dicts with string keys; a tensor is written as {"$tensor": i} in the JSON
and rebuilt from its dtype, shape and bytes with torch.frombuffer. Reading a
frame runs no code of the sender's: the parent can read what the learner's
worker sends without trusting it.
"""

from __future__ import annotations

import ctypes
import json
import struct

import torch

_LENGTH = struct.Struct("<Q")
_ALIGN = 16
DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128,
    torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool)}


class WireError(Exception):
    """A frame that is not what this format writes."""


def encode(value) -> bytes:
    """One frame holding `value` (plain data whose tensors are plain, strided and of a known dtype)."""
    tensors: list[torch.Tensor] = []

    def plain(x):
        if type(x) is torch.Tensor:
            tensors.append(x)
            return {"$tensor": len(tensors) - 1}
        if isinstance(x, dict):
            if not all(type(k) is str for k in x):
                raise WireError("a dict's keys must be strings")
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        raise WireError(f"cannot send a {type(x).__name__}")

    body = plain(value)
    blobs, meta = [], []
    for t in tensors:
        cpu = t if t.device.type == "cpu" and t.is_contiguous() else t.detach().to("cpu").contiguous()
        nbytes = cpu.numel() * cpu.element_size()
        meta.append({"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape),
                     "device": str(t.device), "nbytes": nbytes})
        if nbytes:
            blobs.append(ctypes.string_at(cpu.data_ptr(), nbytes))
        blobs.append(bytes(_padding(nbytes)))
    header = json.dumps({"body": body, "tensors": meta}).encode()
    # spaces after the JSON, so that the first tensor, and with _padding every one after it, starts at a
    # multiple of _ALIGN from the payload's start: decode's views of a freshly allocated payload are then
    # aligned (a float32 view at an odd address works, but every kernel that reads it runs slower)
    header += b" " * (-(_LENGTH.size + len(header)) % _ALIGN)
    size = _LENGTH.size + len(header) + sum(map(len, blobs))
    return b"".join([_LENGTH.pack(size), _LENGTH.pack(len(header)), header, *blobs])  # one copy of the bytes


def decode(payload: bytes | bytearray):
    """The value of one frame's payload (the bytes after its length).

    Its tensors are views of the payload's memory (a bytearray, as read()
    returns it, is used as it is; bytes are copied once): the payload must
    not be reused.
    """
    try:
        data = payload if isinstance(payload, bytearray) else bytearray(payload)
        (size,) = _LENGTH.unpack_from(data)
        header = json.loads(data[_LENGTH.size:_LENGTH.size + size])
        offset = _LENGTH.size + size
        tensors = []
        for m in header["tensors"]:
            dtype = DTYPES[m["dtype"]]
            shape = [int(s) for s in m["shape"]]
            nbytes = int(m["nbytes"])
            if nbytes < 0 or offset + nbytes > len(data):
                raise ValueError("a tensor runs past the end of the frame")
            flat = (torch.frombuffer(data, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset) if nbytes
                    else torch.empty(0, dtype=dtype))
            offset += nbytes + _padding(nbytes)
            t = flat.view(shape)
            tensors.append(t if m["device"] == "cpu" else t.to(torch.device(m["device"])))

        def rebuild(x):
            if isinstance(x, dict):
                if set(x) == {"$tensor"}:
                    return tensors[x["$tensor"]]
                return {k: rebuild(v) for k, v in x.items()}
            if isinstance(x, list):
                return [rebuild(v) for v in x]
            return x

        return rebuild(header["body"])
    except (ValueError, KeyError, IndexError, TypeError, RuntimeError, RecursionError, struct.error) as e:
        raise WireError(f"a malformed frame ({type(e).__name__}: {e})") from None


def _padding(nbytes: int) -> int:
    """Bytes after a tensor's, so that the next one starts aligned for any dtype."""
    return -nbytes % _ALIGN


def read(stream) -> bytearray | None:
    """The payload of the next frame on a binary stream, read into a bytearray of its own; None at its end."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    payload = bytearray(size)
    return payload if stream.readinto(payload) == size else None
