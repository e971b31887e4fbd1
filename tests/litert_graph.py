"""Run a .tflite flatbuffer through LiteRT in tests, and see what XNNPACK's delegate took."""

from __future__ import annotations

import numpy as np


def interpreter(flatbuffer: bytes):
    """A LiteRT interpreter with its default delegate (XNNPACK), tensors allocated."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=flatbuffer)
    runner.allocate_tensors()
    return runner


def tflite_run(flatbuffer: bytes, x: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Outputs for each sample (int8 in/out (de)quantised) and the ops as "NAME:output dtype"."""
    runner = interpreter(flatbuffer)
    inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
    results = []
    for sample in x:
        sample = sample[None]
        if inp["dtype"] == np.int8:
            scale, zero = inp["quantization"]
            sample = np.clip(np.round(sample / scale + zero), -128, 127).astype(np.int8)
        runner.set_tensor(inp["index"], sample)
        runner.invoke()
        y = runner.get_tensor(out["index"])[0]
        if out["dtype"] == np.int8:
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        results.append(y)
    tensors = runner.get_tensor_details()
    ops = [f"{op['op_name']}:{','.join(tensors[i]['dtype'].__name__ for i in op['outputs'])}"
           for op in runner._get_ops_details()]
    return np.asarray(results), ops


def delegate_partitions(flatbuffer: bytes) -> tuple[int, list[str]]:
    """(XNNPACK delegate partitions, the ops left outside them as "NAME:dtype")."""
    runner = interpreter(flatbuffer)
    tensors = runner.get_tensor_details()
    ops = runner._get_ops_details()
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    producer = {t: op["index"] for op in ops if op["op_name"] != "DELEGATE" for t in op["outputs"]}
    inside: set[int] = set()
    for delegate in delegates:  # walk each partition back from its outputs to its inputs
        stack = list(delegate["outputs"])
        while stack:
            tensor = stack.pop()
            if tensor in delegate["inputs"] or tensor not in producer or producer[tensor] in inside:
                continue
            inside.add(producer[tensor])
            stack.extend(i for i in ops[producer[tensor]]["inputs"] if i >= 0)
    outside = [f"{op['op_name']}:{tensors[op['outputs'][0]]['dtype'].__name__}" for op in ops
               if op["op_name"] != "DELEGATE" and op["index"] not in inside]
    return len(delegates), outside
