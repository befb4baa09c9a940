"""The partials shipped in ``gradcomp/known_partials.py`` are what SymPy derives today.

Every loss of the models, the zoo, the compile benchmark and the front end's ops is
differentiated with a recorder on the partials autodiff asks for; each recorded partial is
derived afresh (``sympy.diff`` and ``simplify``, sharing nothing with the table) and must be
in the table with exactly that expression, and the table must hold nothing else.
``GRADCOMP_UPDATE_PARTIALS=1`` rewrites the table from the derivations.
"""

import importlib
import os
import sys
from pathlib import Path

import sympy

import gradcomp as gc
from gradcomp import sympy_bridge
from gradcomp.autodiff import rules
from gradcomp.autodiff.reverse import gradients, resolve_wrt
from gradcomp.known_partials import KNOWN_PARTIALS
from gradcomp.models import window_classifier_loss
from gradcomp.models.window import ACTIVATIONS, LOSSES

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the examples beside the tests

from examples.zoo import MODELS


def _losses():
    for activation in sorted(ACTIVATIONS):
        for loss in LOSSES:
            yield window_classifier_loss(2, 4, 6, 3, activation, loss)
    for name in MODELS:
        yield importlib.import_module(f"examples.zoo.{name}").loss()
    x, y, z = gc.scalars("x y z")
    yield (x + y) * gc.maximum(y, z)  # the lecture example
    a, b = gc.tensor("a", ("B", 4)), gc.tensor("b", ("B", 4))
    for op in (gc.exp, gc.log, gc.tanh, gc.sigmoid, gc.relu, gc.abs, gc.sqrt, gc.sin, gc.cos,
               gc.tan, gc.logsumexp, gc.log_softmax, gc.softmax):
        yield gc.sum(op(a))
    for combined in (a + b, a - b, a * b, a / b, a ** 2, gc.maximum(a, b), gc.minimum(a, b)):
        yield gc.mean(combined)
    v = x1 = gc.tensor("x", (64,))  # the compile benchmark's chain
    for k in range(8):
        v = [gc.sin(v), gc.tanh(v), v * x1, v + x1][k % 4]
    yield gc.sum(v)


def _asked_for(monkeypatch):
    asked = {}
    original = rules.partial

    def record(fn, index):
        asked[f"{sympy.srepr(fn)} {index}"] = (fn, index)
        return original(fn, index)

    monkeypatch.setattr(rules, "partial", record)
    rules._local_body.cache_clear()
    for loss in _losses():
        gradients(loss, resolve_wrt(loss, None))
    rules._local_body.cache_clear()
    return asked


def test_shipped_partials_are_what_sympy_derives(monkeypatch):
    asked = _asked_for(monkeypatch)
    derived = {key: sympy_bridge._derive_partial(fn, index)
               for key, (fn, index) in asked.items()}
    if os.environ.get("GRADCOMP_UPDATE_PARTIALS"):
        path = ROOT / "gradcomp" / "known_partials.py"
        head = path.read_text().split("KNOWN_PARTIALS")[0]
        entries = "".join(f"    {k!r}:\n        {sympy.srepr(v)!r},\n"
                          for k, v in sorted(derived.items()))
        path.write_text(head + "KNOWN_PARTIALS: dict[str, str] = {\n" + entries + "}\n")
        return
    assert set(KNOWN_PARTIALS) == set(derived), "the table and the derivations differ"
    for key, expr in derived.items():
        assert sympy.sympify(KNOWN_PARTIALS[key]) == expr, key


def test_a_function_outside_the_table_is_derived():
    fn = sympy.Lambda(sympy_bridge.arg_symbols(1), sympy.sinh(sympy_bridge.arg_symbols(1)[0]))
    assert f"{sympy.srepr(fn)} 0" not in KNOWN_PARTIALS
    x = sympy_bridge.arg_symbols(1)[0]
    assert sympy.simplify(sympy_bridge.partial(fn, 0) - sympy.cosh(x)) == 0


def test_a_power_of_an_int_and_of_a_float_are_different_functions():
    """(2 == 2.0 must not make ``a ** 2.0`` the cached ``a ** 2``, or the other way round.)"""
    a = gc.tensor("a", (3,))
    float_first, int_then = (a ** 2.0).attr("fn"), (a ** 2).attr("fn")
    assert float_first != int_then
    assert (a ** 2.0).attr("fn") == float_first and (a ** 2).attr("fn") == int_then
