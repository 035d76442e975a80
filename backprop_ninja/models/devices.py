"""The one check of a --device: torch knows it, it holds numbers, this machine has it and it answers.

The faces ask it with their own words for what the device is for and what to
do instead (pytest's `--device`: "compared", "check on the CPU"; `train`:
"trained", "train on the CPU") and turn DeviceError into their own kind of
error (a pytest usage error, a TrainError). torch is imported when a device is
checked, never when this module is imported.
"""

from __future__ import annotations

KINDS = ("cpu", "cuda", "mps")  # the devices the project computes on


class DeviceError(Exception):
    """A device that cannot be used; the message is one sentence (no final full stop) for the learner."""


def usable(name: str, option: str = "--device", done: str = "computed", instead: str = "check on the CPU"):
    """torch.device(name) once it has answered a small computation, or DeviceError saying why not.

    `done` is what the device is for ("no gradient can be {done} on it"), `instead` what the learner can do
    without `option` ("leave out --device to {instead}").
    """
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(f"{option} {name} is not a device torch knows: use cpu or cuda") from None
    if device.type == "meta":
        nothing = "no gradient can be compared" if done == "compared" else f"nothing can be {done}"
        raise DeviceError(f"{option} {name} holds shapes but no numbers, so {nothing} on it: use cpu or cuda")
    if device.type not in KINDS:
        raise DeviceError(f"{option} {name} is not a device backprop-ninja computes on: use cpu, cuda or mps")
    leave_out = f"leave out {option} to {instead}"
    if device.type == "cuda" and (not torch.cuda.is_available()
                                  or (device.index or 0) >= torch.cuda.device_count()):
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise DeviceError(f"{option} {name} is not usable here (torch {torch.__version__}, {build}, "
                          f"sees no such CUDA GPU): {leave_out}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"{option} {name} is not usable here (torch sees no Apple GPU): {leave_out}")
    try:
        torch.zeros(1, device=device) + 1  # the device answers (a driver can be there and still fail)
    except (RuntimeError, AssertionError) as e:
        raise DeviceError(f"{option} {name} is not usable here ({str(e).splitlines()[0]}): {leave_out}") from None
    return device
