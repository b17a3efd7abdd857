"""What both golden generators share: exact-in-f32 random draws, the f32 check every case must pass
when torch itself runs it in f32, the draw loop that finds a passing draw, and the file layout.

Imported by generate.py (ops.json) and generate_layers.py (layers.json), which are run as scripts from
any directory (Python puts the script's own folder first on the import path). Must not hold anything
specific to one of the two files.
"""

import json
import zlib

import numpy as np
import torch

# The bound every case must meet when torch itself runs it in f32: max |f32 - f64| / max(1, |f64|).
F32_CHECK_TOL = 1e-6
MAX_DRAWS = 50


# ---------------------------------------------------------------------------------------------------------
# Random draws (all exact in f32)


def f32(a):
    """Round to the nearest float32 and hold the result exactly in float64."""
    return np.asarray(a, dtype=np.float64).astype(np.float32).astype(np.float64)


def normal(rng, shape, scale=1.0):
    return f32(rng.normal(0.0, scale, size=shape))


def uniform(rng, shape, lo, hi):
    return f32(rng.uniform(lo, hi, size=shape))


def distinct(rng, shape, span=6.0):
    """Values all distinct, at least span / (2n) apart, in random order over about [-span/2, span/2]
    (no ties for max-pool and the arg reductions)."""
    n = int(np.prod(shape))
    step = span / n
    grid = (rng.permutation(n) - (n - 1) / 2.0) * step
    return f32((grid + rng.uniform(-0.25 * step, 0.25 * step, size=n)).reshape(shape))


# ---------------------------------------------------------------------------------------------------------
# The f32 check and the draw loop


def f32_error(want, got):
    """max |got - want| / max(1, |want|), the form of the Rust tests' tolerance."""
    want, got = want.double(), got.double()
    return float(((got - want).abs() / want.abs().clamp(min=1.0)).max()) if want.numel() else 0.0


def first_passing_draw(name, attempt):
    """Calls `attempt(rng)` -> (result, f32 error) with Generators seeded by (crc32(name), draw) for draw
    = 0, 1, ... and returns (result, draw, error) for the first draw whose error is within
    F32_CHECK_TOL. The seed depends only on the case's name, so adding a case changes no other."""
    for draw in range(MAX_DRAWS):
        rng = np.random.default_rng([zlib.crc32(name.encode()), draw])
        result, err = attempt(rng)
        if err <= F32_CHECK_TOL:
            return result, draw, err
    raise RuntimeError(f"{name}: no draw in {MAX_DRAWS} met the f32 check (last error {err:.2e})")


# ---------------------------------------------------------------------------------------------------------
# The output file


def start():
    """Settings every generator runs under."""
    torch.manual_seed(0)  # anything drawn from torch's RNG is overwritten; values come from NumPy Generators
    torch.set_num_threads(1)  # same summation order on every run


def write_cases(out, generator, records):
    """A header object with the generator and torch version, then one case per line (diff-friendly)."""
    lines = [json.dumps(r, separators=(",", ":"), allow_nan=False) for r in records]
    header = {"generator": generator, "torch_version": torch.__version__}
    text = json.dumps(header)[:-1] + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n"
    out.write_text(text)
    print(f"wrote {len(lines)} cases to {out} ({len(text)} bytes)")
