"""Partial derivatives of the front end's own elementwise functions, as derived by
``sympy_bridge.partial`` (``sympy.diff``, then ``sympy.simplify``), shipped so a first build
needs no ``simplify`` (whose first call imports ``sympy.physics``: 0.26 s).

Keys are ``"<srepr of the Lambda> <argument index>"``, values the ``srepr`` of the partial.
Written by ``GRADCOMP_UPDATE_PARTIALS=1 pytest tests/test_known_partials.py``, which
re-derives every entry and fails if one differs.
"""

KNOWN_PARTIALS: dict[str, str] = {
    "Lambda(Tuple(Symbol('a0', real=True)), Abs(Symbol('a0', real=True))) 0":
        "sign(Symbol('a0', real=True))",
    "Lambda(Tuple(Symbol('a0', real=True)), Add(Float('1.0', precision=53), Mul(Integer(-1), Symbol('a0', real=True)))) 0":
        'Integer(-1)',
    "Lambda(Tuple(Symbol('a0', real=True)), Add(Symbol('a0', real=True), Float('1.0', precision=53))) 0":
        'Integer(1)',
    "Lambda(Tuple(Symbol('a0', real=True)), Max(Integer(0), Symbol('a0', real=True))) 0":
        "Heaviside(Symbol('a0', real=True))",
    "Lambda(Tuple(Symbol('a0', real=True)), Mul(Float('0.01', precision=53), Symbol('a0', real=True))) 0":
        "Float('0.01', precision=53)",
    "Lambda(Tuple(Symbol('a0', real=True)), Mul(Integer(-1), Symbol('a0', real=True))) 0":
        'Integer(-1)',
    "Lambda(Tuple(Symbol('a0', real=True)), Pow(Add(Integer(1), exp(Mul(Integer(-1), Symbol('a0', real=True)))), Integer(-1))) 0":
        "Mul(Pow(Symbol('out', real=True), Integer(2)), exp(Mul(Integer(-1), Symbol('a0', real=True))))",
    "Lambda(Tuple(Symbol('a0', real=True)), Pow(Symbol('a0', real=True), Integer(2))) 0":
        "Mul(Integer(2), Symbol('a0', real=True))",
    "Lambda(Tuple(Symbol('a0', real=True)), Pow(Symbol('a0', real=True), Rational(1, 2))) 0":
        "Mul(Rational(1, 2), Pow(Symbol('out', real=True), Integer(-1)))",
    "Lambda(Tuple(Symbol('a0', real=True)), cos(Symbol('a0', real=True))) 0":
        "Mul(Integer(-1), sin(Symbol('a0', real=True)))",
    "Lambda(Tuple(Symbol('a0', real=True)), exp(Symbol('a0', real=True))) 0":
        "Symbol('out', real=True)",
    "Lambda(Tuple(Symbol('a0', real=True)), log(Symbol('a0', real=True))) 0":
        "Pow(Symbol('a0', real=True), Integer(-1))",
    "Lambda(Tuple(Symbol('a0', real=True)), sin(Symbol('a0', real=True))) 0":
        "cos(Symbol('a0', real=True))",
    "Lambda(Tuple(Symbol('a0', real=True)), tan(Symbol('a0', real=True))) 0":
        "Add(Pow(Symbol('out', real=True), Integer(2)), Integer(1))",
    "Lambda(Tuple(Symbol('a0', real=True)), tanh(Symbol('a0', real=True))) 0":
        "Add(Integer(1), Mul(Integer(-1), Pow(Symbol('out', real=True), Integer(2))))",
    "Lambda(Tuple(Symbol('a0', real=True), Symbol('a1', real=True)), Add(Symbol('a0', real=True), Mul(Integer(-1), Symbol('a1', real=True)))) 0":
        'Integer(1)',
    "Lambda(Tuple(Symbol('a0', real=True), Symbol('a1', real=True)), Add(Symbol('a0', real=True), Mul(Integer(-1), Symbol('a1', real=True)))) 1":
        'Integer(-1)',
    "Lambda(Tuple(Symbol('a0', real=True), Symbol('a1', real=True)), Add(Symbol('a0', real=True), Symbol('a1', real=True))) 0":
        'Integer(1)',
    "Lambda(Tuple(Symbol('a0', real=True), Symbol('a1', real=True)), Add(Symbol('a0', real=True), Symbol('a1', real=True))) 1":
        'Integer(1)',
    "Lambda(Tuple(Symbol('a0', real=True), Symbol('a1', real=True)), Max(Symbol('a0', real=True), Symbol('a1', real=True))) 0":
        "Heaviside(Add(Symbol('a0', real=True), Mul(Integer(-1), Symbol('a1', real=True))))",
    "Lambda(Tuple(Symbol('a0', real=True), Symbol('a1', real=True)), Max(Symbol('a0', real=True), Symbol('a1', real=True))) 1":
        "Heaviside(Add(Mul(Integer(-1), Symbol('a0', real=True)), Symbol('a1', real=True)))",
    "Lambda(Tuple(Symbol('a0', real=True), Symbol('a1', real=True)), Min(Symbol('a0', real=True), Symbol('a1', real=True))) 0":
        "Heaviside(Add(Mul(Integer(-1), Symbol('a0', real=True)), Symbol('a1', real=True)))",
    "Lambda(Tuple(Symbol('a0', real=True), Symbol('a1', real=True)), Min(Symbol('a0', real=True), Symbol('a1', real=True))) 1":
        "Heaviside(Add(Symbol('a0', real=True), Mul(Integer(-1), Symbol('a1', real=True))))",
    "Lambda(Tuple(Symbol('a0', real=True), Symbol('a1', real=True)), Mul(Symbol('a0', real=True), Pow(Symbol('a1', real=True), Integer(-1)))) 0":
        "Pow(Symbol('a1', real=True), Integer(-1))",
    "Lambda(Tuple(Symbol('a0', real=True), Symbol('a1', real=True)), Mul(Symbol('a0', real=True), Pow(Symbol('a1', real=True), Integer(-1)))) 1":
        "Mul(Integer(-1), Symbol('a0', real=True), Pow(Symbol('a1', real=True), Integer(-2)))",
    "Lambda(Tuple(Symbol('a0', real=True), Symbol('a1', real=True)), Mul(Symbol('a0', real=True), Symbol('a1', real=True))) 0":
        "Symbol('a1', real=True)",
    "Lambda(Tuple(Symbol('a0', real=True), Symbol('a1', real=True)), Mul(Symbol('a0', real=True), Symbol('a1', real=True))) 1":
        "Symbol('a0', real=True)",
}
