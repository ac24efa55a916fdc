"""The compiled engine (`simulator/engine/_fast.pyx`), built by Cython at install time; everything else about the
package is in pyproject.toml. A machine without a C compiler still installs: the pure engine then runs alone."""

from __future__ import annotations

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """Build the compiled engine, or say why not and install without it."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure leaves the pure engine
            print(f"warning: the compiled engine was not built ({exc}); the pure engine will run", file=sys.stderr)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            print(f"warning: {ext.name} was not built ({exc}); the pure engine will run", file=sys.stderr)


def extensions() -> list[Extension]:
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("warning: Cython is missing; the compiled engine is not built", file=sys.stderr)
        return []
    # -ffp-contract=off: no fused multiply-add, so C rounds every operation as Python does (same results, same bits).
    engine = Extension("simulator.engine._fast", ["simulator/engine/_fast.pyx"],
                       extra_compile_args=["-O2", "-ffp-contract=off"])
    return cythonize([engine], compiler_directives={"language_level": "3"}, quiet=True)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
