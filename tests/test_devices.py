"""models/devices.py: the one check of a --device, worded by each face that asks it."""

import subprocess
import sys

import pytest


def test_importing_it_does_not_import_torch():
    code = "import sys, backprop_ninja.models.devices; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


@pytest.mark.parametrize("name, said", [
    ("nonsense", "--device nonsense is not a device torch knows: use cpu or cuda"),
    ("meta", "--device meta holds shapes but no numbers, so nothing can be trained on it: use cpu or cuda"),
])
def test_a_device_that_cannot_compute_is_one_sentence(name, said):
    from backprop_ninja.models.devices import DeviceError, usable

    with pytest.raises(DeviceError) as refused:
        usable(name, "--device", "trained", "train on the CPU")
    assert str(refused.value) == said


def test_a_gpu_that_is_not_here_says_what_to_do_instead():
    import torch

    from backprop_ninja.models.devices import DeviceError, usable

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceError, match=r"not usable here \(.*sees no such CUDA GPU\): "
                                          r"leave out --device to check on the CPU$"):
        usable("cuda")


def test_the_cpu_is_usable():
    from backprop_ninja.models.devices import usable

    assert usable("cpu").type == "cpu"
