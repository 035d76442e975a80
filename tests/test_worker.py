"""The worker: whatever a step does in its process, the parent gets a verdict and goes on.

Each fault is called through guard.call_step (the one way a learner's
function is called) and then through check_step, which must give it its
own diagnosis, never a pass; the call after it must work again.
"""

import pytest
import torch

from backprop_ninja.checks.checker import check_step
from backprop_ninja.models.katas import kata
from backprop_ninja.sandbox import client, guard, results, shipping

ATOMIC = kata("01")
SECONDS = 2.0


def right_dprobs(probs, dlogprobs):
    return (1.0 / probs) * dlogprobs


def verdict(fn):
    return check_step(ATOMIC, "dprobs", fn, SECONDS)


def still_works():
    assert verdict(right_dprobs).status == "done"


def test_os_exit_in_a_step_is_an_exit_verdict_and_the_next_call_works():
    def dprobs(probs, dlogprobs):
        import os
        os._exit(0)

    v = verdict(dprobs)
    assert (v.status, v.diagnosis) == ("wrong", "exit")
    assert "exit code 0" in v.sentence
    still_works()


def test_sys_exit_in_a_step_is_an_exit_verdict():
    def dprobs(probs, dlogprobs):
        import sys
        sys.exit(0)

    v = verdict(dprobs)
    assert (v.status, v.diagnosis) == ("wrong", "exit")
    assert "sys.exit(0)" in v.sentence
    still_works()


def test_keyboard_interrupt_raised_by_a_step_is_its_verdict_not_the_end_of_the_run():
    def dprobs(probs, dlogprobs):
        raise KeyboardInterrupt

    assert verdict(dprobs).diagnosis == "exit"
    still_works()


def test_a_hang_in_a_step_is_stopped_by_killing_the_worker():
    def dprobs(probs, dlogprobs):
        while True:
            pass

    v = check_step(ATOMIC, "dprobs", dprobs, 0.5)
    assert v.diagnosis == "timeout" and "0.5 s" in v.sentence
    still_works()


def test_a_timeout_swallowed_by_except_baseexception_is_still_a_timeout():
    def dprobs(probs, dlogprobs):
        import time
        while True:
            try:
                time.sleep(100)
            except BaseException:  # noqa: BLE001
                pass

    assert check_step(ATOMIC, "dprobs", dprobs, 0.5).diagnosis == "timeout"
    still_works()


def test_a_crash_of_the_interpreter_is_a_crash_verdict():
    def dprobs(probs, dlogprobs):
        import ctypes
        return ctypes.string_at(0)  # reads address 0: a segmentation fault

    v = verdict(dprobs)
    assert v.diagnosis == "crash" and "SIGSEGV" in v.sentence
    still_works()


def test_unbounded_allocation_is_a_memory_verdict(monkeypatch):
    from backprop_ninja.sandbox import worker as child

    monkeypatch.setenv(child.MEMORY_ENV, str(2 << 30))  # a smaller bound: the test stays quick
    monkeypatch.setattr(client, "_WORKER", client.Worker())

    def dprobs(probs, dlogprobs):
        hoard = []
        while True:
            hoard.append(torch.ones(50_000_000))  # 200 MB each

    try:
        v = check_step(ATOMIC, "dprobs", dprobs, 30)
        assert v.diagnosis == "memory", v.report
        still_works()
    finally:
        client._WORKER.stop()


def test_a_tensor_subclass_that_fakes_comparisons_never_passes():
    def dprobs(probs, dlogprobs):
        class Always(torch.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                return torch.zeros(())  # every difference, every comparison: zero
        return torch.zeros_like(probs).as_subclass(Always)

    call = guard.call_step(dprobs, {"probs": torch.ones(2), "dlogprobs": torch.ones(2)})
    assert isinstance(call.result, results.Returned) and call.result.kind == "subclass"
    v = verdict(dprobs)
    assert (v.status, v.diagnosis) == ("wrong", "not-a-tensor")
    assert "subclass" in v.sentence


def test_reading_the_callers_frames_finds_no_expected_value():
    def dprobs(probs, dlogprobs):
        import sys
        frames = []
        frame = sys._getframe(1)
        while frame is not None:
            frames.append(frame.f_locals)
            frame = frame.f_back
        for local in frames:
            if "probe" in local:
                return local["probe"].expected[0]
        raise LookupError("no probe in any frame")

    call = guard.call_step(dprobs, {"probs": torch.ones(2), "dlogprobs": torch.ones(2)})
    assert call.error.isa("LookupError")  # the expected values never reach the worker
    assert verdict(dprobs).diagnosis == "not-your-own"  # and the scan names the line first


def test_grad_fn_and_forward_mode_ad_are_out_of_reach_in_the_worker():
    def by_grad_fn(probs, dlogprobs):
        p = probs.clone().requires_grad_()
        return p.log().grad_fn(dlogprobs)

    def by_jvp(probs, dlogprobs):
        return torch.func.jvp(torch.log, (probs,), (dlogprobs,))[1]

    def by_dual(probs, dlogprobs):
        import torch.autograd.forward_ad as fwAD
        with fwAD.dual_level():
            return fwAD.unpack_dual(torch.log(fwAD.make_dual(probs, dlogprobs))).tangent

    def by_enable_grad(probs, dlogprobs):
        with torch.enable_grad():
            p = probs.clone()
            p.requires_grad = True
            return p.log().grad_fn(dlogprobs)

    def by_decorated(probs, dlogprobs):
        @torch.enable_grad()
        def graph(p):
            p.requires_grad = True
            return p, p.log()

        p, logp = graph(probs.clone())
        return logp.grad_fn(dlogprobs)

    def by_leaving_inference_mode(probs, dlogprobs):
        with torch.inference_mode(False):
            p = torch.nn.Parameter(probs.clone())
            return p.log().grad_fn(dlogprobs).detach()

    def by_torch_c_reached_by_name(probs, dlogprobs):  # no name the scan knows, no function the worker replaces
        switch = getattr(torch._C, "_set_grad" + "_enabled")
        switch(True)
        p = torch.nn.Parameter(probs.clone())
        dprobs = getattr(p.log(), "grad" + "_fn")(dlogprobs).detach()
        switch(False)
        return dprobs

    kwargs = {"probs": torch.rand(3) + 0.5, "dlogprobs": torch.ones(3)}
    for fn in (by_grad_fn, by_jvp, by_dual, by_enable_grad, by_decorated, by_leaving_inference_mode,
               by_torch_c_reached_by_name):
        call = guard.call_step(fn, dict(kwargs))
        assert call.error is not None and call.result is None, (fn.__name__, call)  # grad_fn is None here
        assert verdict(fn).diagnosis == "autograd"


def test_a_plain_tensor_comes_back_plain():
    call = guard.call_step(lambda x: x, {"x": torch.ones(2)})
    assert torch.equal(call.result, torch.ones(2)) and type(call.result) is torch.Tensor


def test_requires_grad_in_a_step_is_graph_attached_though_grad_mode_is_off():
    def dC(C, Xb, demb):
        out = torch.zeros_like(C, requires_grad=True)
        return out.index_add(0, Xb.view(-1), demb.view(-1, C.shape[1]))

    call = guard.call_step(dC, {"C": torch.ones(3, 2), "Xb": torch.zeros(1, 1, dtype=torch.long),
                                "demb": torch.ones(1, 1, 2)})
    assert call.error.isa("GraphAttached")


def test_what_a_step_prints_is_printed_by_the_parent(capsys):
    def loud(x):
        print("x is", x.shape)
        return x

    guard.call_step(loud, {"x": torch.ones(2)})
    assert "x is torch.Size([2])" in capsys.readouterr().out


def test_closures_and_globals_cross_to_the_worker():
    scale = torch.tensor(3.0)

    def times(x):
        return torch.mul(x, scale) * SECONDS

    call = guard.call_step(times, {"x": torch.ones(2)})
    assert torch.equal(call.result, torch.full((2,), 6.0))


def _helper(x):
    return x * 2


def test_a_notebook_function_and_its_helpers_are_sent_by_their_code():
    namespace = {"torch": torch, "_helper": _helper, "__name__": "__main__"}
    exec("def dprobs(probs, dlogprobs):\n    return _helper(dlogprobs) / (2 * probs)\n", namespace)
    assert shipping.ship(namespace["dprobs"])["kind"] == "code"
    assert check_step(ATOMIC, "dprobs", namespace["dprobs"]).status == "done"


def test_dicts_of_tensors_cross_both_ways_as_plain_tensors():
    def scaled(params, k):
        return {name: v * k for name, v in params.items()} | {"nested": {"w": params["w"].T.contiguous()}}

    call = guard.call_step(scaled, {"params": {"w": torch.ones(2, 3), "b": torch.zeros(3)}, "k": torch.tensor(2.0)})
    assert set(call.result) == {"w", "b", "nested"} and torch.equal(call.result["w"], torch.full((2, 3), 2.0))
    assert type(call.result["b"]) is torch.Tensor and call.result["nested"]["w"].shape == (3, 2)


def test_anything_else_in_a_returned_dict_is_described_by_its_key():
    import numpy as np

    def mixed(x):
        return {"t": x, "np": np.ones(2), "none": None}

    call = guard.call_step(mixed, {"x": torch.ones(2)})
    assert isinstance(call.result["np"], results.Returned) and call.result["np"].kind == "numpy"
    assert call.result["none"] is None and torch.equal(call.result["t"], torch.ones(2))
    call = guard.call_step(lambda x: {1: x}, {"x": torch.ones(2)})
    assert isinstance(call.result, results.Returned) and "keys" in call.result.text
    call = guard.call_step(lambda x: {"$tensor": x}, {"x": torch.ones(2)})  # a key that looks like the wire's marker
    assert torch.equal(call.result["$tensor"], torch.ones(2))


def test_the_wire_refuses_keys_that_are_not_strings():
    from backprop_ninja.sandbox import wire

    with pytest.raises(wire.WireError):
        wire.encode({"params": {0: torch.ones(1)}})


def test_a_change_in_place_inside_a_dict_argument_is_named_by_its_key():
    def zeroing(params, acts):
        params["wte"].zero_()
        acts["x"] = acts["x"] * 2  # rebinding its own dict's entry changes no input
        return {}

    params, acts = {"wte": torch.ones(2), "b": torch.ones(1)}, {"x": torch.ones(1)}
    call = guard.call_step(zeroing, {"params": params, "acts": acts})
    assert call.mutated == ("params['wte']",)


def test_a_notebook_class_of_functions_crosses_with_the_function_that_calls_it():
    class mlp:
        def dx(W, dout):
            return dout @ W.T

        def backward(W, dout):
            return mlp.dx(W, dout), dout.sum(0)

    def backward(W, dout):
        return mlp.backward(W, dout)

    call = guard.call_step(backward, {"W": torch.ones(3, 2), "dout": torch.ones(4, 2)}, trusted=False)
    assert call.error is None and torch.equal(call.result[0], torch.full((4, 3), 2.0))
