"""The pytest line a report prints runs from wherever the learner stands."""

import pytest

from backprop_ninja.models.paths import check_command

STEPS = ("dcounts_sum", "dcounts", "dprobs")


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "katas" / "01_atomic_graph").mkdir(parents=True)
    (tmp_path / "katas" / "02_cross_entropy").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize(("where", "expected"), [
    ("", "pytest katas/01_atomic_graph/test_atomic_graph.py::test_dcounts"),
    ("katas/01_atomic_graph", "pytest test_atomic_graph.py::test_dcounts"),
    ("katas/02_cross_entropy", "pytest ../01_atomic_graph/test_atomic_graph.py::test_dcounts"),
    ("katas", "pytest 01_atomic_graph/test_atomic_graph.py::test_dcounts"),
])
def test_the_pytest_line_of_a_step_is_a_path_from_the_current_directory(repo, monkeypatch, where, expected):
    monkeypatch.chdir(repo / where)
    assert check_command("01_atomic_graph", STEPS, "dcounts") == expected


def test_from_inside_the_kata_folder_a_step_with_a_unique_name_is_selected_with_k(repo, monkeypatch):
    monkeypatch.chdir(repo / "katas" / "01_atomic_graph")
    assert check_command("01_atomic_graph", STEPS, "dprobs") == "pytest . -k dprobs"


def test_outside_any_repository_the_line_names_katas_as_pytest_would_from_the_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert check_command("01_atomic_graph", STEPS, "dprobs") == "pytest katas/01_atomic_graph -k dprobs"
