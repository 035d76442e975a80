"""The pytest plugin as a learner meets it, run with pytester on a copy of the kata tree."""

import shutil

import pytest
from conftest import ROOT

pytest_plugins = ["pytester"]


@pytest.fixture
def tree(pytester):
    """A copy of kata 01 and its reference in a fresh directory."""
    for part in ("katas", "reference"):
        shutil.copytree(ROOT / part / "01_atomic_graph", pytester.path / part / "01_atomic_graph")
    return pytester


def solved_except(pytester, old: str, new: str, folder="mine"):
    """A tree like reference/ with one line of kata 01 changed."""
    target = pytester.path / folder / "01_atomic_graph"
    shutil.copytree(pytester.path / "reference" / "01_atomic_graph", target)
    path = target / "atomic_graph.py"
    source = path.read_text()
    assert old in source
    path.write_text(source.replace(old, new))
    return folder


def test_stubs_fail_every_item_as_one_todo_line_and_name_dlogprobs_next(tree):
    result = tree.runpytest_inprocess("katas/01_atomic_graph")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # todo counts the steps, as "0/26 steps done" and status do; the chain is no step: it waits for them
    assert result.parseoutcomes() == {"todo": 26, "waits": 1}
    result.stdout.fnmatch_lines(["*todo  dlogprobs *katas/01_atomic_graph/atomic_graph.py:*",
                                 "*0/26 steps done*",
                                 "next: dlogprobs — *hint: backprop-ninja hint dlogprobs"])
    assert "Traceback" not in result.stdout.str()
    assert "NotImplementedError" not in result.stdout.str()


def test_impl_reference_passes_every_item(tree):
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", "reference")
    result.assert_outcomes(passed=27)
    result.stdout.fnmatch_lines(["*26/26 steps done*", "every step of kata 01 is done"])


def test_impl_can_come_from_the_environment(tree, monkeypatch):
    monkeypatch.setenv("BACKPROP_NINJA_IMPL", str(tree.path / "reference"))
    tree.runpytest_inprocess("katas/01_atomic_graph").assert_outcomes(passed=27)


def test_impl_has_an_ini_twin(tree):
    tree.makeini("[pytest]\nbackprop_ninja_impl = reference\n")
    tree.runpytest_inprocess("katas/01_atomic_graph").assert_outcomes(passed=27)


def test_dash_k_selects_one_step(tree):
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "-k", "dprobs", "--impl", "reference")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*1/26 steps done (25 not checked yet: run pytest katas/01_atomic_graph)*"])


def test_dash_k_counts_the_steps_done_in_an_earlier_run_whose_source_is_unchanged(tree):
    tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", "reference").assert_outcomes(passed=27)
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "-k", "dh", "--impl", "reference")
    result.stdout.fnmatch_lines(["*26/26 steps done", "every step of kata 01 is done"])
    path = tree.path / "reference" / "01_atomic_graph" / "atomic_graph.py"
    path.write_text(path.read_text().replace("return dhpreact.sum(0, keepdim=True)",
                                             "return dhpreact.sum(0, keepdim=True) * 1"))
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "-k", "dh", "--impl", "reference")
    result.stdout.fnmatch_lines(["*25/26 steps done (1 not checked yet*"])


def test_a_wrong_step_prints_the_table_and_a_diagnosis_without_a_harness_traceback(tree):
    impl = solved_except(tree, "return (1.0 - h**2) * dh", "return (1.0 - h**2) * dh * 0.5")
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", impl)
    result.assert_outcomes(passed=25, failed=1)  # the step; the chain waits for it
    assert result.parseoutcomes()["waits"] == 1
    result.stdout.fnmatch_lines(["dhpreact: wrong values",
                                 "*check*| exact | approximate | maxdiff*| worst index",
                                 "diagnosis: scale — dhpreact*1/2*",
                                 "next: dhpreact — *"])
    out = result.stdout.str()
    assert "backprop_ninja/" not in out and "Traceback" not in out


def test_the_chain_waits_for_its_first_wrong_step_in_one_line(tree):
    impl = solved_except(tree, "return (1.0 - h**2) * dh", "return (1.0 - h**2) * dh * 0.5")
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", impl, "-k", "chain")
    result.stdout.fnmatch_lines(["chain waits for dhpreact: fix it first (pytest katas/01_atomic_graph -k dhpreact)"])
    assert "FAILURES" not in result.stdout.str()


def test_the_chain_waits_for_the_first_wrong_step_even_when_a_later_one_has_the_wrong_shape(tree):
    impl = solved_except(tree, "return (1.0 - h**2) * dh", "return (1.0 - h**2) * dh * 0.5")
    path = tree.path / impl / "01_atomic_graph" / "atomic_graph.py"
    source = path.read_text()
    assert "return -dbndiff.sum(0, keepdim=True)" in source
    path.write_text(source.replace("return -dbndiff.sum(0, keepdim=True)", "return -dbndiff.sum(0)"))
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", impl, "-k", "chain")
    result.stdout.fnmatch_lines(["chain waits for dhpreact: fix it first (pytest katas/01_atomic_graph -k dhpreact)"])


def test_the_chains_id_is_that_of_its_first_wrong_step():
    from backprop_ninja.checks.chain import check_chain
    from backprop_ninja.models.katas import kata

    module = _reference_module()
    module.dhpreact = lambda h, dh: (1.0 - h**2) * dh * 0.5
    v = check_chain(kata("01"), module)
    assert (v.status, v.diagnosis) == ("wrong", "scale")
    assert v.report == "chain: waits for dhpreact: fix it first (pytest katas/01_atomic_graph -k dhpreact)"


def _reference_module():
    from backprop_ninja.sandbox import loader

    return loader.load(ROOT / "reference" / "01_atomic_graph" / "atomic_graph.py")


def test_later_wrong_steps_show_their_diagnosis_line_and_the_first_its_whole_report(tree):
    impl = solved_except(tree, "return (1.0 - h**2) * dh", "return (1.0 - h**2) * dh * 0.5")
    path = tree.path / impl / "01_atomic_graph" / "atomic_graph.py"
    path.write_text(path.read_text().replace("return dhpreact.sum(0, keepdim=True)",
                                             "return -dhpreact.sum(0, keepdim=True)"))
    out = tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", impl).stdout.str()
    assert "dhpreact: wrong values" in out
    assert "dbnbias: wrong values" not in out
    assert "diagnosis: sign — dbnbias" in out and "(the whole report: pytest katas/01_atomic_graph -k dbnbias)" in out
    for more in (("-v",), ("-k", "dbnbias")):
        out = tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", impl, *more).stdout.str()
        assert "dbnbias: wrong values" in out


def test_todo_steps_after_the_first_collapse_into_one_line_unless_verbose(tree):
    result = tree.runpytest_inprocess("katas/01_atomic_graph")
    result.stdout.fnmatch_lines(["todo  dlogprobs *", "todo  … and 25 more (pytest -v lists them)"])
    assert "todo  dprobs" not in result.stdout.str()
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "-v")
    result.stdout.fnmatch_lines(["todo  dlogprobs *", "todo  dprobs *"])


def test_a_syntax_error_is_reported_once_per_kata_with_its_line_and_pointer(tree):
    impl = solved_except(tree, "def dbnbias(dhpreact):", "def dbnbias(dhpreact)")
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", impl)
    out = result.stdout.str()
    assert out.count("import-error") == 1 and "Traceback" not in out
    result.stdout.fnmatch_lines(["*import-error — atomic_graph.py line *: SyntaxError*",
                                 "  mine/01_atomic_graph/atomic_graph.py:*", "    def dbnbias(dhpreact)",
                                 "                         ^",
                                 "kata 01 (the atomic compute graph): no step checked: atomic_graph.py line *: "
                                 "SyntaxError: *"])
    assert out.count("fix that line") == 1  # the summary names what stops the kata; the advice is said once
    assert result.parseoutcomes() == {"failed": 1, "blocked": 26}


def test_a_use_of_autograd_outside_every_step_is_reported_once_and_blocks_the_kata(tree):
    impl = solved_except(tree, "import torch\n", "import torch\nimport torch.autograd\n")
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", impl)
    out = result.stdout.str()
    assert out.count("diagnosis: autograd") == 1
    result.stdout.fnmatch_lines(["diagnosis: autograd — import torch.autograd on line * (outside every function) uses "
                                 "autograd*: remove that line; no step is checked until then",
                                 "  mine/01_atomic_graph/atomic_graph.py:*: import torch.autograd",
                                 "kata 01 (the atomic compute graph): no step checked: import torch.autograd*"])
    assert result.parseoutcomes() == {"failed": 1, "blocked": 26}


def test_a_missing_function_is_named_with_its_signature(tree):
    impl = solved_except(tree, "def dbnbias(dhpreact):", "def dbn_bias(dhpreact):")
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", impl, "-k", "dbnbias")
    result.stdout.fnmatch_lines(["*no-step — atomic_graph.py has no function dbnbias(dhpreact)*"])


def test_guards_each_produce_their_id_and_the_run_goes_on(tree):
    impl = solved_except(tree, "    return (1.0 / probs) * dlogprobs",
                         "    probs.requires_grad_(True)\n    probs.log().sum().backward()\n    return probs.grad")
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", impl)
    result.assert_outcomes(passed=25, failed=1)  # the chain waits for the step
    result.stdout.fnmatch_lines(["*diagnosis: autograd — .requires_grad_ on line * uses autograd*"])


def test_a_runaway_step_is_stopped_by_the_step_timeout(tree):
    impl = solved_except(tree, "    return dhpreact.sum(0, keepdim=True)",
                         "    while True:\n        pass")
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", impl, "-k", "dbnbias",
                                       "--step-timeout", "0.5")
    result.stdout.fnmatch_lines(["*diagnosis: timeout — dbnbias was stopped after 0.5 s*"])
    result.assert_outcomes(failed=1)


def test_step_timeout_has_an_ini_twin(tree):
    tree.makeini("[pytest]\nbackprop_ninja_step_timeout = 0.5\n")
    impl = solved_except(tree, "    return dhpreact.sum(0, keepdim=True)", "    while True:\n        pass")
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", impl, "-k", "dbnbias")
    result.stdout.fnmatch_lines(["*stopped after 0.5 s*"])


def test_kata_marker_and_options_are_registered(tree):
    result = tree.runpytest_inprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.kata(folder):*"])
    result = tree.runpytest_inprocess("--help")
    result.stdout.fnmatch_lines(["*--impl=PATH*", "*--step-timeout=SECONDS*"])


def test_an_impl_path_that_does_not_exist_says_so(tree):
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", "nowhere", "-k", "dprobs")
    result.stdout.fnmatch_lines(["*--impl nowhere: no such folder*"])


def test_works_under_xdist_with_the_summary(tree):
    pytest.importorskip("xdist")
    result = tree.runpytest_subprocess("katas/01_atomic_graph", "-n", "2")
    result.stdout.fnmatch_lines(["*0/26 steps done*", "next: dlogprobs*"])


def test_a_step_with_several_gradients_shows_only_the_rows_that_differ(pytester):
    for part in ("katas", "reference"):
        shutil.copytree(ROOT / part / "04_training", pytester.path / part / "04_training")
    mine = pytester.path / "mine" / "04_training"
    shutil.copytree(pytester.path / "reference" / "04_training", mine)
    source = (mine / "training.py").read_text()
    old = "db2 = dlogits.sum(0)"  # a gradient no other one is computed from
    assert old in source
    (mine / "training.py").write_text(source.replace(old, "db2 = -dlogits.sum(0)"))
    result = pytester.runpytest_inprocess("katas/04_training", "--impl", "mine", "-k", "test_backward")
    result.stdout.fnmatch_lines(["*lecture probe, lecture sizes · db2 | False*",
                                 "*right in every check: dC, dW1, db1, dW2, dbngain, dbnbias",
                                 "diagnosis: sign — db2*"])
    assert "· dW1 |" not in result.stdout.str()


def test_device_has_an_ini_twin_and_cpu_runs_every_check(tree):
    tree.makeini("[pytest]\nbackprop_ninja_device = cpu\n")
    tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", "reference").assert_outcomes(passed=27)


def test_a_device_that_is_not_there_is_a_usage_error_in_one_sentence(tree):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "--impl", "reference", "--device", "cuda",
                                      "-k", "dprobs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --device cuda is not usable here (*): leave out --device to check on the CPU"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("args, said", [
    (("--device", "meta"), "ERROR: --device meta holds shapes but no numbers, so no gradient can be compared on it: "
                           "use cpu or cuda"),
    (("--device", "nonsense"), "ERROR: --device nonsense is not a device torch knows: use cpu or cuda"),
    (("--impl", "x" * 5000), "ERROR: --impl xxx*…x* (5,000 characters): the operating system refuses this path "
                             "(File name too long); give a shorter, plain path"),
    (("--show", "y" * 5000), "ERROR: --show yyy*(5,000 characters): the operating system refuses this path*"),
    (("--step-timeout", "0"), "ERROR: --step-timeout 0: give the time limit per step as a number of seconds above 0*"),
])
def test_an_option_the_checks_cannot_use_is_a_usage_error_in_one_sentence(tree, args, said):
    result = tree.runpytest_inprocess("katas/01_atomic_graph", *args, "-k", "dprobs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([said])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert len([line for line in result.stderr.lines if line.strip()]) == 1


def test_an_impl_from_the_environment_the_system_refuses_is_named_as_the_variable(tree, monkeypatch):
    monkeypatch.setenv("BACKPROP_NINJA_IMPL", "z" * 5000)
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "-k", "dprobs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: $BACKPROP_NINJA_IMPL zzz*: the operating system refuses this path*"])


def test_importing_the_plugin_does_no_work():
    """No torch, no worker, no file read at import: the plugin works in pytest's hooks."""
    import subprocess
    import sys

    code = ("import sys; import backprop_ninja.plugin as p; from backprop_ninja.sandbox import client; "
            "print('torch' in sys.modules, client._WORKER is None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=None).stdout.split()
    assert out == ["False", "True"]


def test_a_kata_whose_steps_pass_but_whose_training_fails_is_never_called_done(pytester):
    """Kata 08's dwte buffer kept between calls: right on each first call, wrong once training repeats it."""
    for part in ("katas", "reference"):
        shutil.copytree(ROOT / part / "08_gpt", pytester.path / part / "08_gpt")
    mine = pytester.path / "mine" / "08_gpt"
    shutil.copytree(pytester.path / "reference" / "08_gpt", mine)
    path = mine / "gpt.py"
    path.write_text(path.read_text() + (
        "\n\nright = backward\nkept = {}\n\n\n"
        "def backward(idx, targets, params, acts):\n"
        "    grads = right(idx, targets, params, acts)\n"
        "    wte = params['wte']\n"
        "    buffer = kept.setdefault((wte.shape, wte.dtype, wte.device), torch.zeros_like(wte))\n"
        "    buffer += grads['wte']\n"
        "    grads['wte'] = buffer.clone()\n"
        "    return grads\n"))
    result = pytester.runpytest_inprocess("katas/08_gpt", "--impl", "mine")
    assert result.parseoutcomes() == {"passed": 1, "failed": 1}
    out = result.stdout.str()
    assert "is done" not in out
    result.stdout.fnmatch_lines(["every step of kata 08 passes its own test, but training does not: kept-state*"])


def test_records_cross_xdist_and_the_summary_keeps_the_katas_order(tree):
    """Each test's Record travels from an xdist worker to the summary: the counts, the first todo, the next step."""
    pytest.importorskip("xdist")
    result = tree.runpytest_subprocess("katas/01_atomic_graph", "-n", "2", "-p", "no:cacheprovider")
    assert result.parseoutcomes() == {"todo": 26, "waits": 1}
    result.stdout.fnmatch_lines(["todo  dlogprobs *", "todo  … and 25 more (pytest -v lists them)",
                                 "kata 01 (the atomic compute graph): 0/26 steps done", "next: dlogprobs — *"])
