"""The ``nasbench`` package of ``python -m nasbench_arrow.compat``, for child interpreters.

The compatibility runner puts the directory above this one on ``PYTHONPATH``,
so that interpreters the client starts (``multiprocessing`` spawn or
forkserver workers, ``subprocess`` calls to Python) import ``nasbench`` as
nasbench-arrow too. Importing it fills ``sys.modules`` with the same modules
as :func:`nasbench_arrow.compat.install`.
"""

from nasbench_arrow.compat import _install_into

_install_into(__name__)
