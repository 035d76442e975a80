"""The worker: a separate Python process that imports the learner's file and runs its steps.

Started by client.Worker as `python -m backprop_ninja.sandbox.worker`. It reads
requests (wire frames) on its stdin and answers each on its stdout:

- {"op": "load", "path": P}: import the kata file at P once; answer its
  functions' parameters and def lines, or what it raised.
- {"op": "call", "fn": SPEC, "kwargs": {...}}: call a step; answer what it
  returned (plain tensors, or a description), what it raised, which
  arguments it changed in place, and what it printed.
- {"op": "train", "loop": "backprop_ninja.train.M:F", "fn": SPEC, "seconds": S,
  "threads": N, "args": {...}}: run a training loop of the project's here,
  beside the learner's function: F(session, fn, **args), its module imported
  by name at run time (this layer does not import train/). The loop calls
  the learner's function through `session.call` (a time limit of S seconds
  per call, kept by a watchdog thread), and sends progress frames with
  `session.send`; the last frame is what F returns. Only progress and, at
  evaluations, the parameters cross the pipe: the parent computes every
  number it prints.

Everything a step does happens here: the parent holds the expected values,
compares, and stops this process when it runs too long or dies. Here,
grad mode is off, autograd's entry points raise AutogradUsed, and so does
an operation that would record a graph, however grad mode was switched on.
Only torch's own code may switch it on (torch.compile does, in bench
--compile), never a kata file.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import io
import linecache
import os
import signal
import sys
import time

MEMORY_ENV = "BACKPROP_NINJA_WORKER_MEMORY"  # bytes of address space the worker may use; 0: no limit
DEFAULT_MEMORY = 4 << 30


def _limit_memory() -> None:
    """Bound the address space (Linux, macOS accept it; Windows has no resource module).

    torch's own import takes ~0.7 GB of address space and a kata's tensors a
    few MB; a step that allocates without bound gets a MemoryError or torch's
    "can't allocate memory" at 4 GB, long before the machine swaps.
    """
    try:
        import resource
    except ImportError:
        return
    try:
        limit = int(os.environ.get(MEMORY_ENV, DEFAULT_MEMORY))
    except ValueError:
        limit = DEFAULT_MEMORY
    if limit <= 0:
        return
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        pass


def main() -> None:
    # The protocol keeps the pipes the parent gave us; the learner's print() and
    # any C-level write to fd 1 go to stderr instead, and input() meets an end of file.
    requests = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdout = sys.stderr
    # A Ctrl-C reaches the whole process group: the parent stops the run, this one waits to be ended.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _limit_memory()
    from backprop_ninja.sandbox.allocator import keep_freed_blocks

    keep_freed_blocks()  # before torch allocates: large tensors reused, not faulted in at every step

    import torch

    from backprop_ninja.sandbox import wire

    torch.set_num_threads(1)  # steps on small tensors: one thread is fastest, and the machine is shared
    torch.set_grad_enabled(False)
    _block_autograd(torch)
    answers.write(wire.encode({"ready": True}))
    answers.flush()
    state = _State(answers)
    while True:
        payload = wire.read(requests)
        if payload is None:
            return
        request = wire.decode(payload)
        try:
            answer = state.handle(request)
        except BaseException as error:  # noqa: BLE001  (a fault of ours: say it, keep serving)
            answer = {"error": _raised(error, None)}
        try:
            frame = wire.encode(answer)
        except BaseException as error:  # noqa: BLE001
            frame = wire.encode({"error": _raised(error, None)})
        answers.write(frame)
        answers.flush()


class _State:
    """The kata files imported so far, by path."""

    def __init__(self, answers=None):
        self.modules: dict = {}  # path -> module
        self.answers = answers  # the pipe to the parent, for a training loop's progress frames

    def handle(self, request: dict) -> dict:
        if request["op"] == "load":
            return self.load(request["path"])
        if request["op"] == "call":
            return self.call(request)
        if request["op"] == "train":
            return self.train(request)
        raise ValueError(f"unknown request {request['op']!r}")

    def train(self, request: dict) -> dict:
        """Run the training loop the parent names, beside the learner's function (see the module's doc)."""
        import torch

        module, _, name = str(request["loop"]).partition(":")
        if not module.startswith(LOOPS):
            raise ValueError(f"{request['loop']!r} is not one of the project's training loops")
        loop = getattr(importlib.import_module(module), name)
        spec = request["fn"]
        fn = self.resolve(spec)
        threads = torch.get_num_threads()
        torch.set_num_threads(int(request.get("threads", 1)))
        session = Session(self.answers, float(request["seconds"]), spec.get("path") or spec.get("filename"))
        try:
            return loop(session, fn, **request["args"])
        finally:
            session.close()
            torch.set_num_threads(threads)
            torch.set_grad_enabled(False)

    def load(self, path: str) -> dict:
        self.modules.pop(path, None)  # asked to load: the file may have changed since
        with _captured() as printed:
            try:
                module = self._module(path)
            except BaseException as error:  # noqa: BLE001  (whatever the file raises is the learner's)
                return {"error": _raised(error, path), "printed": printed.getvalue()}
        functions = {}
        for name, obj in list(vars(module).items()):
            if inspect.isfunction(obj) and getattr(obj.__code__, "co_filename", "") == path:
                functions[name] = {"params": _params(obj), "line": obj.__code__.co_firstlineno}
        return {"functions": functions, "printed": printed.getvalue()}

    def _module(self, path: str):
        if path not in self.modules:
            name = f"backprop_ninja_impl_{abs(hash(path))}"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            self.modules[path] = module
        return self.modules[path]

    def resolve(self, spec: dict):
        kind = spec["kind"]
        if kind == "file":
            return getattr(self._module(spec["path"]), spec["name"])
        _extend_path(spec)
        if kind == "module":
            obj = importlib.import_module(spec["module"])
            for part in spec["qualname"].split("."):
                obj = getattr(obj, part)
            return obj
        if kind == "code":
            return self._function(spec)
        raise ValueError(f"unknown function kind {kind!r}")

    def _function(self, spec: dict):
        """A function rebuilt from its code object, its globals, closed-over values and defaults."""
        import base64
        import marshal
        import types

        filename = spec["filename"]
        _extend_path(spec)
        if spec.get("lines") and filename not in linecache.cache:
            lines = spec["lines"]
            linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)
        code = marshal.loads(base64.b64decode(spec["code"]))
        namespace = {"__name__": spec.get("module") or "__learner__", "__builtins__": __builtins__}
        namespace.update({k: self._value(v) for k, v in spec["globals"].items()})
        cells = tuple(types.CellType() if "$empty" in c else types.CellType(self._value(c["$cell"]))
                      for c in spec["closure"])
        fn = types.FunctionType(code, namespace, spec["name"],
                                tuple(self._value(d) for d in spec["defaults"]) or None, cells or None)
        fn.__kwdefaults__ = {k: self._value(v) for k, v in spec["kwdefaults"].items()} or None
        return fn

    def _namespace(self, spec: dict) -> type:
        """A class of plain functions (shipping.py), each reading the class by its name."""
        cls = type(spec["name"], (), {})
        for name, m in spec["methods"].items():
            fn = self._function(m)
            fn.__globals__.update({k: cls for k, x in fn.__globals__.items() if _enclosing(x, cls)})
            for cell in fn.__closure__ or ():  # a class defined in a function: its name is a closed-over cell
                with contextlib.suppress(ValueError):  # (an empty cell)
                    if _enclosing(cell.cell_contents, cls):
                        cell.cell_contents = cls
            setattr(cls, name, staticmethod(fn))
        return cls

    def _value(self, v):
        if isinstance(v, dict):
            if "$module" in v:
                return importlib.import_module(v["$module"])
            if "$attr" in v:
                obj = importlib.import_module(v["$attr"][0])
                for part in v["$attr"][1].split("."):
                    obj = getattr(obj, part)
                return obj
            if "$function" in v:
                return self._function(v["$function"])
            if "$dtype" in v:
                import torch

                return getattr(torch, v["$dtype"])
            if "$tuple" in v:
                return tuple(self._value(x) for x in v["$tuple"])
            if "$class" in v:
                return self._namespace(v["$class"])
            if "$enclosing" in v:
                return _Enclosing(v["$enclosing"])
            return {k: self._value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self._value(x) for x in v]
        return v

    def call(self, request: dict) -> dict:
        import torch

        from backprop_ninja.sandbox.results import mutated, pristine

        spec = request["fn"]
        filename = spec.get("path") or spec.get("filename")
        kwargs = request["kwargs"]
        before = pristine(kwargs) if request.get("inputs", True) else {}
        answer: dict = {}
        ASKED_FOR_GRAD.clear()
        with _captured() as printed:
            try:
                fn = self.resolve(spec)
                # a kata file was read whole before it ran (scan.py); a function sent by its code
                # may not have been, so requires_grad=True is watched for op by op (~10 us an op)
                with torch.no_grad(), _watch() if request.get("watch") else contextlib.nullcontext():
                    result = fn(**kwargs)
                if ASKED_FOR_GRAD:
                    from backprop_ninja.sandbox.results import GraphAttached

                    raise GraphAttached("requires_grad_(True) was called")
                answer["result"] = _returned(result)
            except BaseException as error:  # noqa: BLE001  (exit, interrupt, anything: the parent judges)
                answer["error"] = _raised(error, filename)
            finally:
                torch.set_grad_enabled(False)
        answer["mutated"] = mutated(before)
        answer["printed"] = printed.getvalue()
        return answer


LOOPS = "backprop_ninja.train."  # the modules a "train" request may name
TICK_SECONDS = 0.5  # a loop sends a heartbeat at least this often (the parent's progress bar, its hang check)


class Session:
    """What a training loop running in the worker is given: the learner's function called within
    a time limit, and a way to send progress to the parent.

    `call` raises results.StepFailed with what the learner's function raised (grad mode off, its
    print() to this process's stderr). A call that runs past `seconds` is stopped by a watchdog
    thread: it sends the parent {"stopped": {"iteration": i, "error": StepTimeout}} and ends this
    process at once (the parent starts a fresh worker for the next request). The parent keeps its
    own limit besides: no frame for `seconds` plus a margin and it stops this process itself.
    """

    def __init__(self, answers, seconds: float, filename: str | None):
        import threading

        self.answers, self.seconds, self.filename = answers, seconds, filename
        self.iteration = 0
        self.deadline: float | None = None
        self.lock = threading.Lock()
        self.last = time.monotonic()
        self.closed = threading.Event()
        self.watchdog = threading.Thread(target=self._watch, daemon=True)
        self.watchdog.start()

    def tick(self, iteration: int) -> None:
        """The loop is at `iteration`: noted for a timeout, and a heartbeat when the last frame is old."""
        self.iteration = iteration
        if time.monotonic() - self.last > TICK_SECONDS:
            self.send({"tick": iteration})

    def send(self, message: dict) -> None:
        """A progress frame (plain data and plain tensors) to the parent, now."""
        from backprop_ninja.sandbox import wire

        frame = wire.encode({"progress": message})
        with self.lock:
            self.answers.write(frame)
            self.answers.flush()
        self.last = time.monotonic()

    def call(self, fn, kwargs: dict):
        """fn(**kwargs) with grad mode off, within the time limit; StepFailed if it raises."""
        import torch

        from backprop_ninja.sandbox.results import StepFailed, raised

        self.deadline = time.monotonic() + self.seconds
        try:
            with torch.no_grad():
                return fn(**kwargs)
        except BaseException as error:  # noqa: BLE001  (exit, anything: the loop stops with it)
            raise StepFailed(raised(_raised(error, self.filename))) from None
        finally:
            self.deadline = None
            torch.set_grad_enabled(False)

    def close(self) -> None:
        self.closed.set()

    def _watch(self) -> None:
        from backprop_ninja.sandbox import wire

        while not self.closed.wait(min(0.05, self.seconds / 4)):
            deadline = self.deadline
            if deadline is not None and time.monotonic() > deadline:
                frame = wire.encode({"stopped": {"iteration": self.iteration, "error": {
                    "type": "StepTimeout", "message": f"stopped after {self.seconds:g} s",
                    "kinds": ["StepTimeout", "Exception"]}}})
                with self.lock:
                    self.answers.write(frame)
                    self.answers.flush()
                os._exit(0)


class _Enclosing:
    """A function's own class, by name: bound once the class is built."""

    def __init__(self, name):
        self.name = name


def _enclosing(x, cls: type) -> bool:
    return isinstance(x, _Enclosing) and x.name == cls.__name__


def _extend_path(spec: dict) -> None:
    """The parent's import path, so that a module named in a function's spec is found here too."""
    for entry in reversed(spec.get("sys_path", [])):
        if isinstance(entry, str) and entry not in sys.path:
            sys.path.insert(0, entry)


@contextlib.contextmanager
def _captured():
    """What the learner's code prints, to hand back to the parent (which shows or hides it)."""
    buffer = io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = buffer
    try:
        yield buffer
    finally:
        sys.stdout, sys.stderr = saved


def _params(fn) -> list:
    """[[name, kind, has a default], ...] of a function's signature."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    return [[p.name, p.kind.name, p.default is not p.empty] for p in sig.parameters.values()]


def _raised(error: BaseException, filename: str | None) -> dict:
    from backprop_ninja.sandbox.results import Raised

    try:
        r = Raised.of(error, filename)
    except BaseException:  # noqa: BLE001  (an exception whose str() itself fails)
        r = Raised(type(error).__name__, "(its message cannot be shown)",
                   tuple(c.__name__ for c in type(error).__mro__))
    out = {"type": r.type, "message": r.message, "kinds": list(r.kinds), "where": r.where}
    if isinstance(error, SyntaxError):
        out["line"] = error.lineno or 0
        out["message"] = error.msg or r.message
    if isinstance(error, SystemExit):
        out["message"] = f"sys.exit({error.code!r})" if error.code is not None else "sys.exit()"
    return out


def _returned(x):
    """A plain tensor as it is; anything else as a description the parent can read safely."""
    import torch

    from backprop_ninja.sandbox.wire import DTYPES

    if type(x) is torch.Tensor:
        if x.layout != torch.strided:
            return {"$returned": "other", "text": f"a {x.layout} tensor (use a dense one)"}
        if x.requires_grad or x.grad_fn is not None:
            return {"$returned": "graph", "text": "a tensor that is part of an autograd graph"}
        if str(x.dtype).removeprefix("torch.") not in DTYPES:
            return {"$returned": "other", "text": f"a tensor of dtype {x.dtype}"}
        return x.detach()
    if type(x) in (tuple, list):
        return {"$sequence": [_returned(v) for v in x], "type": type(x).__name__}
    if type(x) is dict:  # kata 08's gradients by name; [key, value] pairs, so that no key reads as a marker
        if not all(type(k) is str for k in x):
            return {"$returned": "other", "text": "a dict whose keys are not all strings"}
        return {"$dict": [[k, _returned(v)] for k, v in x.items()]}
    if x is None:
        return {"$returned": "none", "text": "None"}
    if isinstance(x, torch.Tensor):
        return {"$returned": "subclass", "text": f"a {type(x).__name__} (a subclass of torch.Tensor)"}
    if type(x).__module__ == "numpy":
        return {"$returned": "numpy", "text": "a NumPy array"}
    if type(x) in (int, float, bool):
        return {"$returned": "number", "text": f"a {type(x).__name__} ({x!r})"}
    return {"$returned": "other", "text": f"a {type(x).__name__}"}


def _block_autograd(torch) -> None:
    """Make every entry point to automatic differentiation raise AutogradUsed, for good, and the
    recording of a graph too, whatever switched grad mode on.

    This process only runs the learner's code; the parent keeps autograd for
    the expected values.
    """
    from backprop_ninja.sandbox.results import AutogradUsed

    def forbidden(what):
        def refuse(*args, **kwargs):
            raise AutogradUsed(f"{what} is switched off while your code runs: "
                               "the kata is to write this gradient by hand")
        return refuse

    import torch.autograd.forward_ad
    import torch.autograd.functional
    import torch.func

    blocked = [(torch.Tensor, "backward", "Tensor.backward()"),
               (torch.autograd, "backward", "torch.autograd.backward()"),
               (torch.autograd, "grad", "torch.autograd.grad()"),
               (torch.autograd.forward_ad, "make_dual", "forward-mode AD (make_dual)"),
               (torch.autograd.forward_ad, "dual_level", "forward-mode AD (dual_level)"),
               (torch, "vmap", "torch.vmap")]
    blocked += [(torch.autograd.functional, name, f"torch.autograd.functional.{name}()")
                for name in ("vjp", "jvp", "jacobian", "hessian", "vhp", "hvp")]
    blocked += [(torch.func, name, f"torch.func.{name}()")
                for name in ("grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian",
                             "linearize", "vmap", "functionalize")]
    for obj, attr, what in blocked:
        setattr(obj, attr, forbidden(what))

    def unless_torch_calls(what):
        # torch's own code may switch grad mode on, a kata file may not: torch.compile, making fake
        # tensors, enters inference_mode(False) (which switches grad mode on) and leaves a no_grad block
        caller = sys._getframe(2).f_globals.get("__name__", "")
        if caller != "torch" and not caller.startswith("torch."):
            forbidden(what)()

    class set_grad_enabled(torch.set_grad_enabled):  # False stays allowed: torch.no_grad() uses it
        def __init__(self, mode: bool):
            if mode:
                unless_torch_calls("switching grad mode on")
            super().__init__(mode)

    torch.set_grad_enabled = torch.autograd.set_grad_enabled = set_grad_enabled

    class inference_mode(torch.inference_mode):
        def __init__(self, mode: bool = True):
            if not mode:  # leaving inference mode switches grad mode on
                unless_torch_calls("torch.inference_mode(False)")
            super().__init__(mode)

    torch.inference_mode = torch.autograd.inference_mode = torch.autograd.grad_mode.inference_mode = inference_mode

    class enable_grad(torch.enable_grad):
        # Refused where it would switch grad mode on (a `with`, or a call of a function it decorates),
        # not where it is made: torch's own modules decorate with it when torch.compile imports them.
        def __enter__(self):
            forbidden("torch.enable_grad")()

    torch.enable_grad = torch.autograd.enable_grad = enable_grad

    def recording(tensor):
        # Autograd saves tensors for the backward pass only while it records a graph. However grad mode
        # got switched on (torch._C's own switches, reached by getattr, escape the names blocked above),
        # the first recorded operation that saves a tensor stops here.
        forbidden("recording an autograd graph")()

    torch.autograd.graph.saved_tensors_hooks(recording, lambda packed: packed).__enter__()  # for good

    requires_grad_ = torch.Tensor.requires_grad_

    def noted_requires_grad(self, requires_grad=True):
        # allowed (grad mode is off, so nothing is recorded), but noted: a step that
        # returns without calling a blocked function above is told GraphAttached
        if requires_grad:
            ASKED_FOR_GRAD.append(True)
        return requires_grad_(self, requires_grad)

    torch.Tensor.requires_grad_ = noted_requires_grad


ASKED_FOR_GRAD: list = []  # non-empty once the current call asked for requires_grad


def _watch():
    """A torch function mode that notes requires_grad=True (a factory's keyword, or t.requires_grad = True)."""
    from torch.overrides import TorchFunctionMode

    class Watch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if kwargs.get("requires_grad") is True or (
                    getattr(func, "__name__", "") == "__set__" and len(args) > 1 and args[1] is True
                    and getattr(getattr(func, "__self__", None), "__name__", "") == "requires_grad"):
                ASKED_FOR_GRAD.append(True)
            return func(*args, **kwargs)

    return Watch()


if __name__ == "__main__":
    main()
