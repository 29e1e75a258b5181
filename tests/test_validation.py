"""mnlab.validation: the one check for integer and real arguments (NumPy numbers accepted, bools,
NaN and infinities refused), and the layering rule that lets every layer use it."""

import numpy as np
import pytest

import mnlab.validation
from mnlab.validation import check_int, check_real, is_int


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_integers_python_or_numpy(value):
    assert check_int(value, "n", at_least=1) == 3 and type(check_int(value, "n")) is int


@pytest.mark.parametrize("value", [True, np.bool_(True), 3.0, np.float64(3), "3", None, [3]])
def test_not_integers(value):
    assert not is_int(value)
    with pytest.raises(ValueError, match=r"^n must be an integer, got"):
        check_int(value, "n")


@pytest.mark.parametrize("value,kwargs,message", [
    (0, dict(at_least=1), "n must be an integer >= 1, got 0"),
    (17, dict(at_least=2, at_most=16), r"n must be an integer in \[2, 16\], got 17"),
    (5, dict(at_most=4, note=" (the hidden width)"), r"n must be an integer <= 4 \(the hidden width\), got 5"),
])
def test_integer_bounds_are_in_the_message(value, kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_int(value, "n", **kwargs)


@pytest.mark.parametrize("value", [0.5, np.float32(0.5), np.float64(0.5)])
def test_reals_python_or_numpy(value):
    assert check_real(value, "x", above=0) == 0.5 and type(check_real(value, "x")) is float


@pytest.mark.parametrize("value", [float("inf"), -float("inf"), float("nan"), np.inf, 10**400, True, "1", None])
def test_not_finite_reals(value):
    with pytest.raises(ValueError, match=r"^x must be a finite number, got"):
        check_real(value, "x")


@pytest.mark.parametrize("value,kwargs,message", [
    (0, dict(above=0), "x must be a finite number > 0, got 0"),
    (0.5, dict(at_least=1), "x must be a finite number >= 1, got 0.5"),
    (2000, dict(above=0, at_most=1000), r"x must be a finite number in \(0, 1000\], got 2000"),
    (-1, dict(at_least=0, at_most=1), r"x must be a finite number in \[0, 1\], got -1"),
    (1, dict(above=0, below=1), r"x must be a finite number in \(0, 1\), got 1"),
    (3, dict(below=2), r"x must be a finite number < 2, got 3"),
])
def test_real_bounds_are_in_the_message(value, kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_real(value, "x", **kwargs)


def test_no_hand_written_integer_checks_are_left():
    import pathlib
    root = pathlib.Path(mnlab.validation.__file__).parent
    offenders = [str(p) for p in root.rglob("*.py")
                 if "isinstance(" in p.read_text() and ", bool) or not isinstance(" in p.read_text()]
    assert offenders == []
