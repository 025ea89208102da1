"""Interop between moegrad's safetensors code and the reference implementation (PyPI `safetensors`).

Run by tests/nn/test_safetensors.cpp with the venv's Python (tools/python_venv.sh creates it):

  safetensors_interop.py check FILE   FILE was written by moegrad; check every name, dtype, shape,
                                      value and the metadata against what the C++ test wrote
  safetensors_interop.py write FILE   write FILE with safetensors.numpy.save_file, for moegrad to load
  safetensors_interop.py write_dtypes FILE   the same with F16, BOOL, U8, I8, I16, I32 tensors, which
                                      moegrad loads converted (numpy has no bfloat16)

Exits 0 when all is well, 1 with a message naming each mismatch otherwise.
"""
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file


def expected_from_moegrad():
    # Mirrors the C++ test "a file moegrad writes loads in Python's safetensors ...".
    return {
        "encoder.layers.0.w": np.arange(6, dtype=np.float32).reshape(2, 3) * np.float32(0.5),
        "encoder.layers.0.b": np.array([-1.5, 0.25, 3.0e300], dtype=np.float64),
        "token_ids": np.array([[-(2**40), -1], [0, 2**40 + 3]], dtype=np.int64),
        "scale": np.array(2.5, dtype=np.float64),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }, {"format": "pt", "note": "written by moegrad"}


def written_for_moegrad():
    # Mirrors the C++ test "a file Python's safetensors writes loads in moegrad ...".
    return {
        "python.f32": np.arange(12, dtype=np.float32).reshape(3, 4) / np.float32(4),
        "python.f64": np.arange(5, dtype=np.float64) * 0.1,
        "python.i64": np.array([-(2**40), -1, 0, 7, 2**40 + 3], dtype=np.int64),
        "python.layers.0.w": np.array([[1, 2], [3, 4]], dtype=np.float32),
        "python.scalar": np.array(3.25, dtype=np.float64),
        "python.empty": np.zeros((2, 0), dtype=np.float32),
    }, {"source": "python", "answer": "42"}


def check(path):
    expected, expected_metadata = expected_from_moegrad()
    loaded = load_file(path)
    problems = []
    if sorted(loaded) != sorted(expected):
        problems.append(f"names: got {sorted(loaded)}, expected {sorted(expected)}")
    for name, want in expected.items():
        got = loaded.get(name)
        if got is None:
            continue
        if got.dtype != want.dtype or got.shape != want.shape:
            problems.append(f"{name}: got {got.dtype}{got.shape}, expected {want.dtype}{want.shape}")
        elif not np.array_equal(got, want):
            problems.append(f"{name}: got values {got.tolist()}, expected {want.tolist()}")
    with safe_open(path, framework="numpy") as file:
        metadata = file.metadata()
    if metadata != expected_metadata:
        problems.append(f"metadata: got {metadata}, expected {expected_metadata}")
    return problems


def write(path):
    tensors, metadata = written_for_moegrad()
    save_file(tensors, path, metadata=metadata)
    return []


def write_dtypes(path):
    # Mirrors the C++ test "F16, BOOL and small integers written by Python's safetensors ...".
    save_file({
        "f16": np.array([1.0, -2.5, 65504.0, 2.0**-24], dtype=np.float16),
        "bool": np.array([True, False, True], dtype=np.bool_),
        "u8": np.array([0, 255], dtype=np.uint8),
        "i8": np.array([-128, 127], dtype=np.int8),
        "i16": np.array([-32768, 32767], dtype=np.int16),
        "i32": np.array([[-(2**31), 2**31 - 1]], dtype=np.int32),
    }, path)
    return []


def main():
    modes = {"check": check, "write": write, "write_dtypes": write_dtypes}
    if len(sys.argv) != 3 or sys.argv[1] not in modes:
        print(f"usage: {sys.argv[0]} check|write|write_dtypes FILE", file=sys.stderr)
        return 2
    problems = modes[sys.argv[1]](sys.argv[2])
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{sys.argv[1]} {sys.argv[2]}: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
