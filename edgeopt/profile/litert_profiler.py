"""LiteRT's own per-operator profiler, reached through the C API of the library the wheel ships.

The Python `Interpreter` of `ai_edge_litert` has no profiler, but the wheel's `libLiteRt.so` exports
LiteRT's C API (`litert/c/litert_compiled_model.h`, `litert_profiler.h`). Through it a CompiledModel
can be built with the runtime option `enable_profiling = true`: the same TFLite interpreter and
XNNPACK delegate underneath, with a profiler set, so that

- XNNPACK times each of its own operators inside a delegated partition (`XNN_FLAG_BASIC_PROFILING`:
  one clock read after each operator, whole microseconds, truncated), and
- the interpreter times each op it runs itself, outside XNNPACK (one event per op, microseconds).

This is what LiteRT's C++ `benchmark_model --enable_op_profiling` prints. Only `ctypes`: no
compiler, no TensorFlow. The structs and signatures follow the headers of LiteRT v2.2 (unchanged
since); a library without them raises `OpProfilerUnavailable`, and the caller can fall back.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass

import numpy as np

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.quiet import native_output_captured

# LiteRtProfilerEventType (litert/c/litert_profiler_event.h)
DEFAULT_EVENT = 1                 # "Invoke", "LiteRT::Run[...]", "AllocateTensors"
OPERATOR_EVENT = 2                # an op the interpreter runs itself; index = its node index
DELEGATE_PROFILED_EVENT = 8       # an operator inside a delegate; index = its place in the partition
_HW_ACCELERATOR_CPU = 1           # kLiteRtHwAcceleratorCpu
_LOCK_WRITE = 1                   # kLiteRtTensorBufferLockModeWrite
_RUNTIME_OPTIONS = b"runtime_options_string"  # LiteRtRuntimeOptionsT::Identifier(), a TOML payload
_CPU_OPTIONS = b"xnnpack"         # LrtGetCpuOptionsIdentifier(), a TOML payload
_MAX_EVENTS_PER_READ = 500_000    # the runtime's buffer holds 512 Ki events; read before it fills


class OpProfilerUnavailable(EdgeoptError):
    """This LiteRT cannot give per-operator times (no C profiler API, or it recorded nothing)."""


@dataclass(frozen=True)
class ProfilerEvent:
    """One event of LiteRT's profiler.

    Attributes:
        kind: `DEFAULT_EVENT`, `OPERATOR_EVENT`, `DELEGATE_PROFILED_EVENT`, or another
            LiteRtProfilerEventType.
        tag: The op's name ("CONV_2D"), XNNPACK's operator name ("Convolution (NHWC, QC8) IGEMM")
            or the runtime's label ("Invoke").
        index: Node index for `OPERATOR_EVENT`, operator index inside its partition for
            `DELEGATE_PROFILED_EVENT`.
        elapsed_us: Whole microseconds.
    """

    kind: int
    tag: str
    index: int
    elapsed_us: int


class _MemoryUsage(ctypes.Structure):
    _fields_ = [("total_allocated_bytes", ctypes.c_size_t), ("in_use_allocated_bytes", ctypes.c_size_t),
                ("private_footprint_bytes", ctypes.c_size_t)]


class _EventData(ctypes.Structure):  # ProfiledEventData
    _fields_ = [("tag", ctypes.c_char_p), ("event_type", ctypes.c_int), ("start_timestamp_us", ctypes.c_uint64),
                ("elapsed_time_us", ctypes.c_uint64), ("begin_mem_usage", _MemoryUsage),
                ("end_mem_usage", _MemoryUsage), ("event_metadata1", ctypes.c_uint64),
                ("event_metadata2", ctypes.c_uint64), ("event_source", ctypes.c_int)]


class _RankedTensorType(ctypes.Structure):  # LiteRtRankedTensorType = element type + LiteRtLayout
    _fields_ = [("element_type", ctypes.c_int), ("rank_bits", ctypes.c_uint),  # rank:7, has_strides:1
                ("dimensions", ctypes.c_int32 * 8), ("strides", ctypes.c_uint32 * 8)]


_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)
_SIZE = ctypes.c_size_t
# name: argument types; every function returns LiteRtStatus (0 = ok) unless listed in _VOID.
_SIGNATURES = {
    "LiteRtCreateEnvironment": (ctypes.c_int, _P, _PP),
    "LiteRtCreateModelFromBuffer": (_P, _P, _SIZE, _PP),
    "LiteRtCreateOptions": (_PP,),
    "LiteRtSetOptionsHardwareAccelerators": (_P, ctypes.c_int),
    "LiteRtCreateOpaqueOptions": (ctypes.c_char_p, _P, _P, _PP),
    "LiteRtAddOpaqueOptions": (_P, _P),
    "LiteRtCreateCompiledModel": (_P, _P, _P, _PP),
    "LiteRtCompiledModelGetProfiler": (_P, _PP),
    "LiteRtGetModelSignature": (_P, _SIZE, _PP),
    "LiteRtGetNumSignatureInputs": (_P, ctypes.POINTER(_SIZE)),
    "LiteRtGetNumSignatureOutputs": (_P, ctypes.POINTER(_SIZE)),
    "LiteRtGetSignatureInputTensorByIndex": (_P, _SIZE, _PP),
    "LiteRtGetSignatureOutputTensorByIndex": (_P, _SIZE, _PP),
    "LiteRtGetRankedTensorType": (_P, ctypes.POINTER(_RankedTensorType)),
    "LiteRtGetCompiledModelInputBufferRequirements": (_P, _SIZE, _SIZE, _PP),
    "LiteRtGetCompiledModelOutputBufferRequirements": (_P, _SIZE, _SIZE, _PP),
    "LiteRtCreateManagedTensorBufferFromRequirements": (_P, ctypes.POINTER(_RankedTensorType), _P, _PP),
    "LiteRtGetTensorBufferSize": (_P, ctypes.POINTER(_SIZE)),
    "LiteRtLockTensorBuffer": (_P, _PP, ctypes.c_int),
    "LiteRtUnlockTensorBuffer": (_P,),
    "LiteRtRunCompiledModel": (_P, _SIZE, _SIZE, _PP, _SIZE, _PP),
    "LiteRtStartProfiler": (_P,),
    "LiteRtStopProfiler": (_P,),
    "LiteRtGetNumProfilerEvents": (_P, ctypes.POINTER(ctypes.c_int)),
    "LiteRtGetProfilerEvents": (_P, ctypes.c_int, ctypes.POINTER(_EventData)),
    "LiteRtDestroyTensorBuffer": (_P,),
    "LiteRtDestroyCompiledModel": (_P,),
    "LiteRtDestroyOptions": (_P,),
    "LiteRtDestroyModel": (_P,),
    "LiteRtDestroyEnvironment": (_P,),
}
_VOID = {"LiteRtDestroyTensorBuffer", "LiteRtDestroyCompiledModel", "LiteRtDestroyOptions", "LiteRtDestroyModel",
         "LiteRtDestroyEnvironment"}
_LIBRARY = None


def _library():
    """libLiteRt.so of the installed ai_edge_litert, with argument types set; loaded once."""
    global _LIBRARY
    if _LIBRARY is not None:
        return _LIBRARY
    try:
        import ai_edge_litert
    except ImportError as err:
        raise OpProfilerUnavailable(f"per-op times need ai-edge-litert ({err}).") from err
    path = os.path.join(os.path.dirname(ai_edge_litert.__file__), "libLiteRt.so")
    try:
        lib = ctypes.CDLL(path)
    except OSError as err:
        raise OpProfilerUnavailable(f"this ai-edge-litert has no LiteRT C library ({path}: {err}).") from None
    missing = [name for name in _SIGNATURES if not hasattr(lib, name)]
    if missing:
        raise OpProfilerUnavailable(f"{path} lacks LiteRT's C profiler API ({', '.join(missing[:3])}"
                                    f"{', ...' if len(missing) > 3 else ''}); ai-edge-litert >= 2.2 has it.")
    for name, argtypes in _SIGNATURES.items():
        function = getattr(lib, name)
        function.argtypes = list(argtypes)
        function.restype = None if name in _VOID else ctypes.c_int
    _LIBRARY = lib
    return lib


def check_op_profiler() -> None:
    """Raise `OpProfilerUnavailable` now if this LiteRT has no C profiler API, before minutes are spent."""
    _library()


def _c_string(text: str) -> int:
    """A malloc'ed copy of `text` that LiteRT frees itself (it owns an opaque option's payload)."""
    libc = ctypes.CDLL(None)
    libc.strdup.restype, libc.strdup.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    return libc.strdup(text.encode())


class ProfiledModel:
    """One `.tflite` as a LiteRT CompiledModel on the CPU with profiling on, fed seeded random input.

    Args:
        flatbuffer: The model's bytes (already checked, e.g. by `read_tflite_bytes`).
        threads: CPU threads for XNNPACK and the interpreter.
        seed: Seed of the random input (integers span their dtype, floats lie in [0, 1)).

    Raises:
        OpProfilerUnavailable: The library lacks the API, or a call fails (its status is named).

    Example:
        >>> with ProfiledModel(open("model.tflite", "rb").read()) as model:  # doctest: +SKIP
        ...     model.start(); model.run(); events = model.events()
    """

    def __init__(self, flatbuffer: bytes, *, threads: int = 1, seed: int = 0):
        self._lib = _library()
        self._owned: list[tuple[str, ctypes.c_void_p]] = []  # (destroy function, handle), destroyed in reverse
        self._data = ctypes.create_string_buffer(flatbuffer, len(flatbuffer))  # must outlive the model
        try:
            with native_output_captured():  # LiteRT logs accelerator registration from C++
                self._open(threads, seed)
        except BaseException:
            self.close()
            raise

    def _call(self, name: str, *args) -> None:
        status = getattr(self._lib, name)(*args)
        if status != 0:
            raise OpProfilerUnavailable(f"LiteRT's {name} failed (LiteRtStatus {status}).")

    def _new(self, name: str, *args, destroy: str | None = None) -> ctypes.c_void_p:
        handle = ctypes.c_void_p()
        self._call(name, *args, ctypes.byref(handle))
        if destroy:
            self._owned.append((destroy, handle))
        return handle

    def _open(self, threads: int, seed: int) -> None:
        env = self._new("LiteRtCreateEnvironment", 0, None, destroy="LiteRtDestroyEnvironment")
        model = self._new("LiteRtCreateModelFromBuffer", env, self._data, ctypes.sizeof(self._data),
                          destroy="LiteRtDestroyModel")
        options = self._new("LiteRtCreateOptions", destroy="LiteRtDestroyOptions")
        self._call("LiteRtSetOptionsHardwareAccelerators", options, _HW_ACCELERATOR_CPU)
        payloads = [(_RUNTIME_OPTIONS, "enable_profiling = true\n")]
        if threads != 1:
            payloads.append((_CPU_OPTIONS, f"num_threads = {threads}\n"))
        free = ctypes.cast(ctypes.CDLL(None).free, ctypes.c_void_p)
        for identifier, toml in payloads:
            opaque = self._new("LiteRtCreateOpaqueOptions", identifier, _c_string(toml), free)
            self._call("LiteRtAddOpaqueOptions", options, opaque)  # the options own it from here
        self._compiled = self._new("LiteRtCreateCompiledModel", env, model, options,
                                   destroy="LiteRtDestroyCompiledModel")
        self._profiler = self._new("LiteRtCompiledModelGetProfiler", self._compiled)  # owned by the model
        if not self._profiler.value:
            raise OpProfilerUnavailable("this LiteRT built the model without a profiler (its runtime options "
                                        "do not take `enable_profiling`; ai-edge-litert >= 2.2 does).")
        signature = self._new("LiteRtGetModelSignature", model, 0)
        self._inputs, input_dtypes = self._buffers(env, signature, "Input")
        self._outputs, _ = self._buffers(env, signature, "Output")
        rng = np.random.default_rng(seed)
        for handle, dtype in zip(self._inputs, input_dtypes):
            self._fill(handle, dtype, rng)

    def _buffers(self, env, signature, kind: str) -> tuple[ctypes.Array, list[type]]:
        """One managed buffer per input or output of the first signature, and the inputs' dtypes."""
        count = _SIZE()
        self._call(f"LiteRtGetNumSignature{kind}s", signature, ctypes.byref(count))
        handles, dtypes = [], []
        for i in range(count.value):
            tensor = self._new(f"LiteRtGetSignature{kind}TensorByIndex", signature, i)
            tensor_type = _RankedTensorType()
            self._call("LiteRtGetRankedTensorType", tensor, ctypes.byref(tensor_type))
            rank = tensor_type.rank_bits & 0x7F
            for d in range(rank):  # a dynamic batch (-1) runs as 1, as the Interpreter does
                tensor_type.dimensions[d] = max(tensor_type.dimensions[d], 1)
            requirements = self._new(f"LiteRtGetCompiledModel{kind}BufferRequirements", self._compiled, 0, i)
            handles.append(self._new("LiteRtCreateManagedTensorBufferFromRequirements", env,
                                     ctypes.byref(tensor_type), requirements, destroy="LiteRtDestroyTensorBuffer"))
            dtypes.append(_ELEMENT_TYPES.get(tensor_type.element_type, np.uint8))
        return (ctypes.c_void_p * len(handles))(*[h.value for h in handles]), dtypes

    def _fill(self, handle, dtype, rng: np.random.Generator) -> None:
        size = _SIZE()
        self._call("LiteRtGetTensorBufferSize", handle, ctypes.byref(size))
        dtype = np.dtype(dtype)
        count = size.value // dtype.itemsize
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            values = rng.integers(info.min, info.max, size=count, endpoint=True, dtype=dtype)
        else:
            values = rng.random(size=count, dtype=np.float32).astype(dtype)
        host = ctypes.c_void_p()
        self._call("LiteRtLockTensorBuffer", handle, ctypes.byref(host), _LOCK_WRITE)
        try:
            ctypes.memmove(host, values.tobytes(), min(size.value, values.nbytes))
        finally:
            self._call("LiteRtUnlockTensorBuffer", handle)

    def run(self) -> None:
        """One inference."""
        self._call("LiteRtRunCompiledModel", self._compiled, 0, len(self._inputs), self._inputs,
                   len(self._outputs), self._outputs)

    def start(self) -> None:
        """Clear the recorded events and record from now on."""
        self._call("LiteRtStartProfiler", self._profiler)

    def stop(self) -> None:
        self._call("LiteRtStopProfiler", self._profiler)

    def events(self) -> list[ProfilerEvent]:
        """The events recorded since `start()`, in the order they were recorded."""
        count = ctypes.c_int()
        self._call("LiteRtGetNumProfilerEvents", self._profiler, ctypes.byref(count))
        if count.value == 0:
            return []
        raw = (_EventData * count.value)()
        self._call("LiteRtGetProfilerEvents", self._profiler, count.value, raw)
        return [ProfilerEvent(e.event_type, (e.tag or b"").decode("utf-8", "replace"),
                              int(e.event_metadata1), int(e.elapsed_time_us)) for e in raw]

    def close(self) -> None:
        """Release every LiteRT object, newest first; safe to call twice."""
        if not self._owned:
            return
        with native_output_captured():  # the environment logs each accelerator it destroys
            while self._owned:
                destroy, handle = self._owned.pop()
                if handle.value:
                    getattr(self._lib, destroy)(handle)

    def __enter__(self) -> "ProfiledModel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# LiteRtElementType (litert/c/litert_model_types.h): TfLiteType numbering
_ELEMENT_TYPES = {1: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_, 7: np.int16, 9: np.int8,
                  10: np.float16, 11: np.float64, 16: np.uint32, 17: np.uint16}
