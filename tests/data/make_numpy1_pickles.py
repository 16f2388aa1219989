"""Writes numpy1_pickles.json: array pickles as numpy 1.x writes them, for tests/test_mnist.py.

Run with numpy 1.x (the file was made with numpy 1.26.4 on Python 3.11):
    python -m venv /tmp/np1 && /tmp/np1/bin/pip install numpy==1.26.4
    /tmp/np1/bin/python tests/data/make_numpy1_pickles.py
Each entry is the pickle of `np.arange(6, dtype=dtype).reshape(2, 3)` (C order, or Fortran order where
the name says so) at one protocol, base64-encoded.
"""

import base64
import json
import pickle
import platform
from pathlib import Path

import numpy as np

pickles = {}
for dtype in ("uint8", "int64", "float32", "float64"):
    for protocol in (2, 3, 4, 5):
        for order in ("C", "F"):
            array = np.arange(6, dtype=dtype).reshape(2, 3)
            array = np.asfortranarray(array) if order == "F" else array
            pickles[f"{dtype}-{order}-p{protocol}"] = base64.b64encode(pickle.dumps(array, protocol=protocol)).decode()
out = {"numpy": np.__version__, "python": platform.python_version(), "pickles": pickles}
Path(__file__).with_name("numpy1_pickles.json").write_text(json.dumps(out, indent=1) + "\n")
