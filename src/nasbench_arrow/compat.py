"""Run code that imports the original ``nasbench`` package, unchanged, on nasbench-arrow.

Pip-installed clients (HPOBench, NNI, NASLib forks, nas_benchmarks) import
``from nasbench import api`` or ``from nasbench.lib import graph_util,
model_spec, config``. Two supported ways to run them without editing them:

- from the command line, run the script or module through this one::

      python -m nasbench_arrow.compat run_experiment.py --seed 3
      python -m nasbench_arrow.compat -m hpobench.benchmarks... [args]

- from your own code, once, before the client is imported::

      import nasbench_arrow.compat
      nasbench_arrow.compat.install()
      from nasbench import api          # nasbench_arrow.api

``install()`` puts these names into ``sys.modules``:

==============================  =====================================================
``nasbench``                    a package holding ``api`` and ``lib``
``nasbench.api``                :mod:`nasbench_arrow.api` itself (``NASBench``,
                                ``ModelSpec``, ``OutOfDomainError``, op names)
``nasbench.lib.graph_util``     the original's functions from :mod:`nasbench_arrow.graph`
``nasbench.lib.model_spec``     ``ModelSpec``, ``is_upper_triangular``
``nasbench.lib.config``         ``build_config()`` (the original's defaults)
``nasbench.lib.base_ops``       op names and ``OP_MAP``'s keys; the TensorFlow layer
                                classes raise with the install hint (``train`` extra)
``nasbench.lib.model_metrics_pb2``  ``ModelMetrics`` / ``EvaluationData`` (protobuf package)
==============================  =====================================================

It never shadows a real ``nasbench`` silently: when one is importable (the
TensorFlow 1 original installed from source), ``install()`` raises
:class:`~nasbench_arrow.errors.CompatibilityError` naming where it is, unless
``replace=True`` is given, which replaces it for this process and says so on
stderr.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
import types

from .errors import CompatibilityError, MissingDependencyError

__all__ = ["MODULES", "install", "installed", "main", "shim_path"]

#: The module names ``install()`` provides.
MODULES = (
    "nasbench",
    "nasbench.api",
    "nasbench.lib",
    "nasbench.lib.graph_util",
    "nasbench.lib.model_spec",
    "nasbench.lib.config",
    "nasbench.lib.base_ops",
    "nasbench.lib.model_metrics_pb2",
)
_MARK = "__nasbench_arrow_compat__"


def installed() -> bool:
    """Whether ``nasbench`` in this process is the compatibility package."""
    module = sys.modules.get("nasbench")
    return module is not None and getattr(module, _MARK, False)


def _real_nasbench() -> str | None:
    """Where an importable ``nasbench`` that is not ours lives, or None."""
    module = sys.modules.get("nasbench")
    if module is not None:
        if getattr(module, _MARK, False):
            return None
        return getattr(module, "__file__", None) or repr(module)
    try:
        spec = importlib.util.find_spec("nasbench")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    import os

    if spec.origin and os.path.abspath(spec.origin).startswith(shim_path() + os.sep):
        return None  # our own shim (a child of the runner)
    if spec.origin in (None, "namespace"):
        # A plain directory named nasbench (where users keep the .tfrecord files) is a
        # namespace package to importlib: only one holding an api module is a real nasbench.
        locations = list(spec.submodule_search_locations or [])
        if not any(os.path.exists(os.path.join(d, "api.py")) or os.path.isdir(os.path.join(d, "api")) for d in locations):
            return None
        return ", ".join(locations)
    return spec.origin or ", ".join(spec.submodule_search_locations or []) or "an importable 'nasbench'"


def _module(name: str, doc: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name, doc)
    module.__dict__.update(attrs)
    setattr(module, _MARK, True)
    return module


def _base_ops_module() -> types.ModuleType:
    from . import constants

    def _needs_tensorflow(name: str):
        def missing(*args, **kwargs):
            msg = (
                f"nasbench.lib.base_ops.{name} is a TensorFlow layer of the original; nasbench-arrow "
                "builds networks in nasbench_arrow.train (TensorFlow 2): pip install 'nasbench-arrow[train]'"
            )
            raise MissingDependencyError(msg)

        missing.__name__ = name
        return missing

    layers = {name: _needs_tensorflow(name) for name in ("Conv3x3BnRelu", "Conv1x1BnRelu", "MaxPool3x3", "BaseOp")}
    return _module(
        "nasbench.lib.base_ops",
        "Op names of the original nasbench.lib.base_ops (its TensorFlow layers are not provided).",
        VALID_OPERATIONS=list(constants.AVAILABLE_OPS),
        OP_MAP=dict(layers, **{op: layers[cls] for op, cls in _OP_CLASSES.items()}),
        **layers,
    )


def _model_metrics_module() -> types.ModuleType:
    """``nasbench.lib.model_metrics_pb2``: ``ModelMetrics`` / ``EvaluationData`` protobuf classes.

    Built on first use from the proto2 layout of the original's
    ``model_metrics.proto`` (the ``protobuf`` package is needed for these
    classes only; nasbench-arrow decodes records without it).
    """
    module = _module(
        "nasbench.lib.model_metrics_pb2",
        "The original's ModelMetrics protobuf messages, built from their layout (needs the protobuf package).",
    )
    built: dict[str, type] = {}

    def __getattr__(name: str):
        if name not in ("ModelMetrics", "EvaluationData"):
            msg = f"module 'nasbench.lib.model_metrics_pb2' has no attribute {name!r}"
            raise AttributeError(msg)
        if not built:
            built.update(_build_metrics_classes())
        return built[name]

    module.__getattr__ = __getattr__
    return module


def _build_metrics_classes() -> dict[str, type]:
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError as exc:
        msg = (
            "nasbench.lib.model_metrics_pb2 needs the protobuf package for its message classes "
            f"({exc}); install it with: pip install protobuf"
        )
        raise MissingDependencyError(msg) from exc
    fdp = descriptor_pb2.FileDescriptorProto(name="nasbench/lib/model_metrics.proto", package="nasbench", syntax="proto2")
    field = descriptor_pb2.FieldDescriptorProto
    evaluation = fdp.message_type.add(name="EvaluationData")
    names = ("current_epoch", "training_time", "train_accuracy", "validation_accuracy", "test_accuracy")
    for number, name in enumerate(names, start=1):
        evaluation.field.add(name=name, number=number, label=field.LABEL_OPTIONAL, type=field.TYPE_DOUBLE)
    evaluation.field.add(name="checkpoint_path", number=6, label=field.LABEL_OPTIONAL, type=field.TYPE_STRING)
    metrics = fdp.message_type.add(name="ModelMetrics")
    metrics.field.add(
        name="evaluation_data",
        number=1,
        label=field.LABEL_REPEATED,
        type=field.TYPE_MESSAGE,
        type_name=".nasbench.EvaluationData",
    )
    metrics.field.add(name="trainable_parameters", number=2, label=field.LABEL_OPTIONAL, type=field.TYPE_INT32)
    metrics.field.add(name="total_time", number=3, label=field.LABEL_OPTIONAL, type=field.TYPE_DOUBLE)
    pool = descriptor_pool.DescriptorPool()  # private: never clashes with a real nasbench's pool
    pool.Add(fdp)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"nasbench.{name}"))
        for name in ("ModelMetrics", "EvaluationData")
    }


_OP_CLASSES = {"conv3x3-bn-relu": "Conv3x3BnRelu", "conv1x1-bn-relu": "Conv1x1BnRelu", "maxpool3x3": "MaxPool3x3"}


def install(*, replace: bool = False) -> None:
    """Make ``import nasbench`` / ``nasbench.api`` / ``nasbench.lib.*`` import nasbench-arrow.

    Idempotent. Call it before the client code is imported.

    Parameters
    ----------
    replace : bool, default False
        Replace a real ``nasbench`` that is importable in this environment
        (printing a line on stderr that says so) instead of refusing.

    Raises
    ------
    CompatibilityError
        A real ``nasbench`` package is importable (or already imported) and
        ``replace`` is False: the message names where it is.
    """
    if installed():
        return
    real = _real_nasbench()
    if real is not None:
        if not replace:
            msg = (
                f"a real 'nasbench' package is importable here ({real}); nasbench_arrow.compat.install() "
                "will not shadow it silently. Uninstall it, or call install(replace=True) "
                "(python -m nasbench_arrow.compat --replace ...) to use nasbench-arrow in its place"
            )
            raise CompatibilityError(msg)
        print(f"nasbench-arrow: replacing the real 'nasbench' at {real} for this process", file=sys.stderr)
        for name in [n for n in sys.modules if n == "nasbench" or n.startswith("nasbench.")]:
            del sys.modules[name]

    _install_into(None)


def _install_into(package_name: str | None) -> None:
    """Put the compatibility modules into ``sys.modules``.

    ``package_name`` is the name of an already-imported on-disk ``nasbench``
    package (the shim a child interpreter imports); None makes the package
    module too.
    """
    from . import api, constants, graph, model_spec

    graph_util = _module(
        "nasbench.lib.graph_util",
        "The original nasbench.lib.graph_util functions, from nasbench_arrow.graph.",
        gen_is_edge_fn=graph.gen_is_edge_fn,
        is_full_dag=graph.is_full_dag,
        num_edges=graph.num_edges,
        hash_module=_original_hash_module,
        permute_graph=graph.permute_graph,
        is_isomorphic=graph.is_isomorphic,
    )
    spec_module = _module(
        "nasbench.lib.model_spec",
        "The original nasbench.lib.model_spec names, from nasbench_arrow.model_spec.",
        ModelSpec=model_spec.ModelSpec,
        is_upper_triangular=graph.is_upper_triangular,
    )
    config = _module(
        "nasbench.lib.config",
        "The original nasbench.lib.config: build_config() returns the default configuration.",
        build_config=constants.default_config,
    )
    base_ops = _base_ops_module()
    model_metrics_pb2 = _model_metrics_module()
    lib = _module(
        "nasbench.lib",
        "nasbench.lib of the original, provided by nasbench-arrow.",
        graph_util=graph_util,
        model_spec=spec_module,
        config=config,
        base_ops=base_ops,
        model_metrics_pb2=model_metrics_pb2,
        __path__=[],
    )
    if package_name is None:
        package = _module(
            "nasbench",
            "The original nasbench package's names, provided by nasbench-arrow (nasbench_arrow.compat).",
            api=api,
            lib=lib,
            __path__=[],
        )
    else:
        package = sys.modules[package_name]
        package.api = api
        package.lib = lib
        setattr(package, _MARK, True)
    sys.modules.update(
        {
            "nasbench": package,
            "nasbench.api": api,
            "nasbench.lib": lib,
            "nasbench.lib.graph_util": graph_util,
            "nasbench.lib.model_spec": spec_module,
            "nasbench.lib.config": config,
            "nasbench.lib.base_ops": base_ops,
            "nasbench.lib.model_metrics_pb2": model_metrics_pb2,
        }
    )


def _original_hash_module(matrix, labeling):
    """``graph_util.hash_module`` as the original computes it, float matrices included.

    nasbench-arrow's own hash treats a 0/1 float matrix as the int one (a
    documented convenience); the original formats the float degree sums into
    its first MD5 (``'(2.0, 1.0, -1)'``), so a float matrix hashes differently.
    Code that calls ``graph_util.hash_module`` directly gets the original's value.
    """
    import numpy as np

    from . import graph

    array = np.asarray(matrix)
    if array.dtype.kind == "f" and array.ndim == 2 and array.shape[0] == array.shape[1] and np.all(np.isfinite(array)):
        return graph.hash_with_float_degrees(array, [int(x) for x in labeling])
    return graph.hash_module(matrix, labeling)


def shim_path() -> str:
    """The directory holding the on-disk ``nasbench`` shim package (for ``PYTHONPATH``)."""
    import os

    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_shim")


_USAGE = """usage: python -m nasbench_arrow.compat [--replace] SCRIPT [ARG ...]
       python -m nasbench_arrow.compat [--replace] -m MODULE [ARG ...]

Run a script or module written for the original nasbench package, unchanged:
`from nasbench import api`, `nasbench.lib.graph_util`, ... import nasbench-arrow.
--replace  use nasbench-arrow even where a real nasbench is installed
"""


def main(argv: list[str] | None = None) -> int:
    """``python -m nasbench_arrow.compat [--replace] (SCRIPT | -m MODULE) [ARG ...]``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    replace = False
    if args and args[0] == "--replace":
        replace = True
        args = args[1:]
    if not args or args[0] in ("-h", "--help"):
        stream = sys.stdout if args else sys.stderr
        stream.write(_USAGE)
        return 0 if args else 2
    try:
        install(replace=replace)
    except CompatibilityError as exc:
        print(f"nasbench_arrow.compat: error: {exc}", file=sys.stderr)
        return 1
    # Interpreters the client starts (multiprocessing spawn/forkserver workers, python
    # subprocesses) import `nasbench` from the on-disk shim and so get the same modules.
    import os

    entries = [shim_path(), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    os.environ["PYTHONPATH"] = os.pathsep.join(entries)
    # multiprocessing hands its spawned workers this process's sys.path, not PYTHONPATH.
    sys.path.insert(0, shim_path())
    if args[0] == "-m":
        if len(args) < 2:
            sys.stderr.write(_USAGE)
            return 2
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(args)
        sys.path.insert(0, _script_dir(args[0]))
        runpy.run_path(args[0], run_name="__main__")
    return 0


def _script_dir(path: str) -> str:
    import os

    return os.path.dirname(os.path.abspath(path))


if __name__ == "__main__":
    raise SystemExit(main())
