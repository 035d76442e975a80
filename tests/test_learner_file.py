"""A learner's own file, as pytest and check_step meet it: opened in the worker, read here by ast only.

The lecture's exercise-1 lines are pasted into kata 01's stubs as the notebook writes them.
"""

import re
import shutil

import pytest
from conftest import ROOT, solution_changed

from backprop_ninja.checks.chain import check_chain
from backprop_ninja.checks.checker import check_step
from backprop_ninja.models.katas import kata
from backprop_ninja.sandbox import loader

pytest_plugins = ["pytester"]

ATOMIC = kata("01")

#: step -> (the notebook's names it reads beyond the table's, its lines as the notebook writes them)
LECTURE = {
    "dlogprobs": ("n", "d = torch.zeros_like(logprobs)\nd[range(n), Yb] = -1.0/n\nreturn d"),
    "dprobs": ("", "return (1.0 / probs) * dlogprobs"),
    "dcounts_sum_inv": ("", "return (counts * dprobs).sum(1, keepdim=True)"),
    "dcounts_sum": ("", "return (-counts_sum**-2) * dcounts_sum_inv"),
    "dcounts": ("counts", "return counts_sum_inv * dprobs + torch.ones_like(counts) * dcounts_sum"),
    "dnorm_logits": ("norm_logits", "return norm_logits.exp() * dcounts"),
    "dlogit_maxes": ("", "return (-dnorm_logits).sum(1, keepdim=True)"),
    "dlogits": ("", "return dnorm_logits.clone() + F.one_hot(logits.max(1).indices, "
                    "num_classes=logits.shape[1]) * dlogit_maxes"),
    "dh": ("", "return dlogits @ W2.T"),
    "dW2": ("", "return h.T @ dlogits"),
    "db2": ("", "return dlogits.sum(0)"),
    "dhpreact": ("", "return (1.0 - h**2) * dh"),
    "dbngain": ("", "return (bnraw * dhpreact).sum(0, keepdim=True)"),
    "dbnbias": ("", "return dhpreact.sum(0, keepdim=True)"),
    "dbnraw": ("", "return bngain * dhpreact"),
    "dbnvar_inv": ("", "return (bndiff * dbnraw).sum(0, keepdim=True)"),
    "dbnvar": ("", "return (-0.5*(bnvar + 1e-5)**-1.5) * dbnvar_inv"),
    "dbndiff2": ("n", "return (1.0/(n-1))*torch.ones_like(bndiff2) * dbnvar"),
    "dbndiff": ("", "return bnvar_inv * dbnraw + (2*bndiff) * dbndiff2"),
    "dbnmeani": ("", "return (-dbndiff).sum(0)"),
    "dhprebn": ("n, hprebn", "return dbndiff.clone() + 1.0/n * (torch.ones_like(hprebn) * dbnmeani)"),
    "dembcat": ("", "return dhprebn @ W1.T"),
    "dW1": ("", "return embcat.T @ dhprebn"),
    "db1": ("", "return dhprebn.sum(0)"),
    "demb": ("", "return dembcat.view(emb.shape)"),
    "dC": ("", "d = torch.zeros_like(C)\nfor k in range(Xb.shape[0]):\n    for j in range(Xb.shape[1]):\n"
               "        d[Xb[k, j]] += demb[k, j]\nreturn d"),
}


def lecture_file(declared: bool, steps=LECTURE) -> str:
    """Kata 01's stub with each of `steps` written as the notebook does; with `declared`, its names added
    as parameters."""
    source = (ROOT / "katas" / "01_atomic_graph" / "atomic_graph.py").read_text()
    for name, (names, body) in steps.items():
        if declared and names:
            source = re.sub(rf"^def {name}\((.*)\):", rf"def {name}(\1, {names}):", source, count=1, flags=re.M)
        stub = re.search(rf'^    raise NotImplementedError\("01\.\d+ {name}: not written yet"\)$', source, re.M)
        source = source.replace(stub.group(0), "\n".join("    " + line for line in body.splitlines()), 1)
    return source


@pytest.fixture
def learner(tmp_path):
    """open_file of a learner's kata-01 file written from a source text."""
    def opened(source: str):
        path = tmp_path / "atomic_graph.py"
        path.write_text(source)
        return loader.open_file(path)
    return opened


def test_the_lectures_lines_as_written_name_every_undefined_name_at_once_with_its_way_out(learner):
    module = learner(lecture_file(declared=False))
    v = check_step(ATOMIC, "dhprebn", loader.step_function(module, ATOMIC, "dhprebn"))
    assert "dhprebn uses 2 names it does not define" in v.sentence
    assert "n → `n = dbndiff.shape[0]`, or a parameter `n`" in v.sentence
    assert "hprebn → add `hprebn` as a parameter" in v.sentence
    assert "or use torch.ones_like(dbndiff) (same shape)" in v.sentence
    assert "Check the shapes" not in v.sentence
    v = check_step(ATOMIC, "dcounts", loader.step_function(module, ATOMIC, "dcounts"))
    assert "counts → add `counts` as a parameter" in v.sentence and "torch.ones_like(dprobs)" in v.sentence
    v = check_step(ATOMIC, "dnorm_logits", loader.step_function(module, ATOMIC, "dnorm_logits"))
    assert "norm_logits → add `norm_logits` as a parameter" in v.sentence


def test_the_lectures_lines_with_their_names_declared_pass_but_dbnmeani_which_is_told_its_values_are_right(learner):
    module = learner(lecture_file(declared=True))
    verdicts = {name: check_step(ATOMIC, name, loader.step_function(module, ATOMIC, name))
                for name in ATOMIC.step_names}
    assert [n for n, v in verdicts.items() if v.status != "done"] == ["dbnmeani"]
    v = verdicts["dbnmeani"]
    assert v.diagnosis == "keepdim" and "Its values are right" in v.sentence
    assert "the lecture's cmp compared (64,) with (1, 64) by broadcasting" in v.sentence
    assert check_chain(ATOMIC, module).sentence.startswith("waits for dbnmeani: fix it first")


def test_a_hard_coded_size_in_a_learners_file_quotes_its_line(learner):
    module = learner(lecture_file(declared=True, steps={"dbnbias": ("", "return dhpreact.sum(0).view(1, 64)")}))
    v = check_step(ATOMIC, "dbnbias", loader.step_function(module, ATOMIC, "dbnbias"))
    assert v.diagnosis == "hard-coded"
    assert re.search(r"your line \d+ holds it: `return dhpreact.sum\(0\).view\(1, 64\)`", v.sentence)


def test_a_learners_file_pasted_from_the_notebook_reports_its_names_under_pytest(pytester):
    for part in ("katas", "reference"):
        shutil.copytree(ROOT / part / "01_atomic_graph", pytester.path / part / "01_atomic_graph")
    (pytester.path / "katas" / "01_atomic_graph" / "atomic_graph.py").write_text(lecture_file(declared=False))
    result = pytester.runpytest_inprocess("katas/01_atomic_graph", "-k", "dhprebn")
    assert ("diagnosis: exception — dhprebn uses 2 names it does not define: n → `n = dbndiff.shape[0]`, "
            "or a parameter `n`; hprebn → add `hprebn` as a parameter") in result.stdout.str()


# --- a size written as a number: the kata's own sizes, the lecture's in Part 1, the model's in Part 2 ------------

def gpt_step(tmp_path, number: str, folder: str, old: str, new: str, name: str):
    module = solution_changed(tmp_path, folder, old, new)
    return check_step(kata(number), name, loader.step_function(module, kata(number), name))


def test_a_gpt_step_that_raises_off_the_model_sizes_names_them_and_quotes_the_line(tmp_path):
    v = gpt_step(tmp_path, "06", "06_attention", "return dycat.view(B, T, nh, hs)", "return dycat.view(B, T, 4, 12)",
                 "dy")
    assert v.diagnosis == "hard-coded"
    assert v.sentence.startswith("dy is right at the model sizes but raises at odd sizes: a size of the model sizes (")
    assert "lecture" not in v.sentence
    assert re.search(r"your line \d+ holds it: `return dycat.view\(B, T, 4, 12\).transpose\(1, 2\)`", v.sentence)


def test_a_gpt_step_wrong_off_the_model_sizes_says_right_at_the_model_sizes(tmp_path):
    v = gpt_step(tmp_path, "05", "05_layernorm", "dnorm - dnorm.mean(-1, keepdim=True)",
                 "dnorm - dnorm.sum(-1, keepdim=True) / 48", "dx")
    assert v.diagnosis == "hard-coded"
    assert v.sentence.startswith("dx is right at the model sizes and wrong at odd sizes")
    assert "lecture" not in v.sentence and "/ 48" in v.sentence


def test_the_quoted_line_is_the_one_with_the_size_not_an_exponent_that_equals_a_small_one(tmp_path):
    v = gpt_step(tmp_path, "07", "07_mlp", "    return local * dfch_gelu",
                 "    return local * dfch_gelu * fch.shape[-1] / 192", "dfch")
    assert v.diagnosis == "hard-coded" and "holds it: `return local * dfch_gelu * fch.shape[-1] / 192`" in v.sentence


def test_a_gpt_steps_shape_from_a_number_is_named_as_the_model_size(tmp_path):
    v = gpt_step(tmp_path, "05", "05_layernorm", "return dout.sum((0, 1))",
                 "return dout.sum((0, 1)).repeat(48 // dout.shape[-1])", "db")
    assert v.diagnosis == "hard-coded"
    assert "48 is C at the model sizes, which is 12 here" in v.sentence


def test_a_gpt_steps_undefined_size_and_mask_are_named_with_their_way_out(tmp_path):
    v = gpt_step(tmp_path, "06", "06_attention", "    hs = k.shape[-1]\n    return (dpreatt @ k) * hs**-0.5",
                 "    return (dpreatt @ k) * hs**-0.5 * mask[0, 0]", "dq")
    assert v.sentence == ("dq uses 2 names it does not define: hs → `hs = k.shape[3]`, or a parameter `hs`; "
                          "mask → add `mask` as a parameter (the harness feeds it by name)")
