"""The package's imports point down the pipeline only (``.importlinter``'s layers contract):
errors and the IR at the bottom, then the SymPy scalar functions and the cache's files, the
front end, autodiff, codegen, runtime, and the NER workload, benchmarks and command line on
top. Function-level imports count: none may hide an upward arrow."""

from pathlib import Path

from importlinter.cli import lint_imports

CONFIG = Path(__file__).resolve().parents[1] / ".importlinter"


def test_imports_follow_the_layers():
    assert lint_imports(config_filename=str(CONFIG)) == 0
