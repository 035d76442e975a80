"""Reading a learner's code before it runs: uses of autograd, and reaches into the harness.

The file is parsed (ast), never run: comments and strings do not count,
code does, called or not. A finding names the line (file:line and the
code). Kata 04's step is itself named `backward`: defining or calling a
function of that name is not a use; `x.backward()` is, except on katas 08 and 12's
layer classes (`layernorm.backward(...)` calls the learner's own step) and
where the file itself defines it: a class's own `backward` or `grad` method,
or a `.grad` the file assigns (a NumPy-style `Parameter.grad` buffer), is
the learner's arithmetic, not torch's autograd. The worker's run-time guards
still stop a call that does reach autograd.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap

from backprop_ninja.models import whole

#: modules whose import is a use of autograd
AUTOGRAD_MODULES = ("torch.autograd", "torch.func", "torch._functorch", "functorch", "torch._C._functorch")
#: attributes whose use is a use of autograd (x.backward(), t.grad_fn, torch.enable_grad, ...)
AUTOGRAD_ATTRIBUTES = frozenset({
    "backward", "grad", "grad_fn", "requires_grad", "requires_grad_", "retain_grad", "register_hook",
    "enable_grad", "set_grad_enabled", "_set_grad_enabled", "autograd", "forward_ad", "make_dual",
    "unpack_dual", "dual_level", "jvp", "vjp", "jacrev", "jacfwd", "hessian", "functorch"})
#: the whole-model katas' classes of layer steps (models/whole.py): their `backward` is the learner's, not autograd's
LAYER_CLASSES = frozenset(name for names in whole.LAYER_CLASSES.values() for name in names)
#: autograd's names a learner's file may define for itself (a method `backward`, a `.grad` buffer)
OWN_NAMES = frozenset({"backward", "grad"})
#: names imported from torch that are autograd
AUTOGRAD_FROM_TORCH = frozenset({"autograd", "func", "enable_grad", "set_grad_enabled", "_functorch"})
#: modules a step must not reach: the harness (which holds the checks) and the worked solutions
NOT_YOURS = ("backprop_ninja", "reference", "katas")
#: reading other frames' or objects' memory: the way to a harness's variables
FRAME_ATTRIBUTES = frozenset({"_getframe", "f_back", "f_locals", "f_globals", "currentframe",
                              "get_referrers", "get_objects"})


@dataclasses.dataclass(frozen=True)
class Finding:
    ident: str  # "autograd" or "not-your-own"
    what: str  # e.g. "torch.autograd", ".grad_fn", "import backprop_ninja"
    path: str
    line: int
    code: str  # the line, stripped
    function: str = ""  # the top-level function it is in; "" at the top level of the file

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}: {self.code}"

    def sentence(self, step: str) -> str:
        """What is wrong and what to do, for `step`; step "" for a line outside every step (every step waits)."""
        if not step:
            where = f"line {self.line}" + (f", in {self.function}()" if self.function else " (outside every function)")
            does = ("uses autograd, which the harness checks you against" if self.ident == "autograd"
                    else "reaches into the harness or the worked solutions")
            return f"{self.what} on {where} {does}: remove that line; no step is checked until then"
        if self.ident == "autograd":
            return (f"{self.what} on line {self.line} uses autograd, which the harness checks you against: "
                    f"write {step}'s gradient by hand with the chain rule, and remove that line "
                    "(it counts even where it is never called)")
        return (f"{self.what} on line {self.line} reaches into the harness or the worked solutions: "
                f"a step computes its answer from its own inputs; remove that line")


def scan_source(source: str, path: str, first_line: int = 1) -> list[Finding]:
    """Every finding in `source` (raises SyntaxError as compile would)."""
    tree = ast.parse(source, filename=path)
    if first_line != 1:
        ast.increment_lineno(tree, first_line - 1)
    lines = source.splitlines()
    own = _own_names(tree)
    found: list[Finding] = []

    def add(ident: str, what: str, node: ast.AST, function: str) -> None:
        text = lines[node.lineno - first_line].strip() if 0 <= node.lineno - first_line < len(lines) else ""
        found.append(Finding(ident, what, path, node.lineno, text, function))

    for top in tree.body:
        function = top.name if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)) else ""
        for node in ast.walk(top):
            for ident, what in _uses(node, own):
                add(ident, what, node, function)
    one_per_line = {f.line: f for f in reversed(found)}  # torch.func.jvp is one use, not two
    return sorted(one_per_line.values(), key=lambda f: f.line)


def stubs(source: str) -> set[str]:
    """The top-level functions still a stub: a docstring (or none) and `raise NotImplementedError(...)`.

    Such a step is todo without running it: no worker is needed for a file
    of stubs. A file that rebinds NotImplementedError has none.
    """
    tree = ast.parse(source)
    if any(isinstance(n, ast.Name) and n.id == "NotImplementedError" and not isinstance(n.ctx, ast.Load)
           for n in ast.walk(tree)):
        return set()
    found = set()
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.decorator_list:
            continue
        body = node.body[1:] if _is_docstring(node.body[0]) else node.body
        if len(body) == 1 and isinstance(body[0], ast.Raise) and body[0].cause is None:
            exc = body[0].exc
            called = exc.func if isinstance(exc, ast.Call) else exc
            if isinstance(called, ast.Name) and called.id == "NotImplementedError" and (
                    not isinstance(exc, ast.Call) or all(isinstance(a, ast.Constant) for a in exc.args)):
                found.add(node.name)
    return {name for name in found if _bound(tree).count(name) == 1}  # not rebound elsewhere in the file


def _bound(tree: ast.Module) -> list[str]:
    """Every name the file's top level binds, once per binding."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node in tree.body:
            names.append(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        elif isinstance(node, ast.alias):
            names.append((node.asname or node.name).split(".")[0])
    return names


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def scan_file(path: str) -> list[Finding]:
    with open(path, encoding="utf-8") as f:
        return scan_source(f.read(), str(path))


def scan_function(fn) -> list[Finding]:
    """The findings in a function's own source ([] when its source cannot be read)."""
    try:
        lines, start = inspect.getsourcelines(fn)
        path = inspect.getsourcefile(fn) or fn.__code__.co_filename
    except (OSError, TypeError, AttributeError):
        return []
    try:
        return scan_source(textwrap.dedent("".join(lines)), path, start)
    except SyntaxError:  # a lambda's line cut out of a larger statement
        return []


def _own_names(tree: ast.AST) -> frozenset:
    """Which of OWN_NAMES the file defines itself: as a method of one of its classes, or by assigning `x.grad`.

    The whole models' layer classes do not count: their `backward` is known by the
    receiver's name (LAYER_CLASSES), so `loss.backward()` beside them is still autograd.
    """
    own = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name not in LAYER_CLASSES:
            own |= {f.name for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
    return frozenset(own & OWN_NAMES)


def _uses(node: ast.AST, own: frozenset = frozenset()):
    """(id, what) for each use `node` itself is; `own`: autograd's names the file defines for itself."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield from _module_use(alias.name, f"import {alias.name}")
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        yield from _module_use(node.module, f"from {node.module} import ...")
        if node.module == "torch":
            for alias in node.names:
                if alias.name in AUTOGRAD_FROM_TORCH:
                    yield "autograd", f"from torch import {alias.name}"
    elif isinstance(node, ast.Attribute):
        layer_step = node.attr == "backward" and _last_name(node.value) in LAYER_CLASSES
        if node.attr in AUTOGRAD_ATTRIBUTES and not layer_step and node.attr not in own:
            yield "autograd", f".{node.attr}"
        elif node.attr == "func" and _dotted(node.value) == "torch":
            yield "autograd", "torch.func"
        elif node.attr in FRAME_ATTRIBUTES:
            yield "not-your-own", f".{node.attr}"
    elif isinstance(node, ast.Name) and node.id in ("functorch", "_getframe"):
        yield ("autograd" if node.id == "functorch" else "not-your-own"), node.id
    elif isinstance(node, ast.keyword) and node.arg == "requires_grad":
        yield "autograd", "requires_grad="
    elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        called = _dotted(node.func)
        if called in ("__import__", "importlib.import_module", "import_module") and isinstance(node.args[0].value, str):
            yield from _module_use(node.args[0].value, f"{called}({node.args[0].value!r})")


def _module_use(module: str, what: str):
    if any(module == m or module.startswith(m + ".") for m in AUTOGRAD_MODULES):
        yield "autograd", what
    elif any(module == m or module.startswith(m + ".") for m in NOT_YOURS):
        yield "not-your-own", what


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _last_name(node: ast.AST) -> str:
    """The name an expression ends in: layernorm for `layernorm` and `mine.layernorm`; "" for a call or the like."""
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""
