"""Write PyTorch golden values for kiln's ops to tests/golden/ops.json.

Every case is one op (or, for `chain_mlp`, a short chain of ops) applied to small random inputs. For each
case the file stores the inputs, the forward output, a random `upstream` tensor of the output's shape, and
the gradient of `(output * upstream).sum()` with respect to every input marked `"grad": true`. The Rust
integration tests rebuild each case with kiln's API (by `op` + `attrs`), run it in f32 and compare.

How the numbers are made:
  * Float inputs and `upstream` are drawn with NumPy Generators seeded from the case name (so adding a
    case does not change the others) and rounded to float32, so they are exact in f32. They are written
    as f64 numbers (Python's shortest round-trip repr), which the Rust side parses and casts to f32
    without loss.
  * The forward and backward are computed by torch in float64 from those exact values, so the stored
    outputs and gradients are the exact answers for f32 inputs, to f64 precision.
  * Values are chosen away from the places where a gradient is ambiguous: no ties for max/min/maximum/
    max_pool, relu/abs/leaky_relu inputs at least 0.05 from zero, log/sqrt inputs >= 0.1, pow bases > 0.
  * Each case is also run by torch in float32 and must match the float64 answer to within
    |f32 - f64| <= 1e-6 * max(1, |f64|) (ten times tighter than the Rust tests' 1e-5); a draw that does
    not is redrawn with the next seed, and the script fails if no draw passes.

Layout of ops.json: a header line, then one case per line:
    {"name", "op", "attrs", "inputs": [{"shape", "dtype": "f32"|"i64", "data", "grad"}],
     "output": {"shape", "data"}, "upstream": {"shape", "data"}, "grads": [{"shape", "data"} | null]}
`data` is always a flat, row-major list; a scalar has shape [] and one element. Boolean conditions and
masks (`where`, `masked_fill`) are f32 0/1 inputs with grad false.

Run by hand (outside CI; the output is committed):
    pip install torch numpy
    python3 tests/golden/generate.py
Running it twice with the same torch version produces an identical file.
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from golden_common import distinct, f32, f32_error, first_passing_draw, normal, start, uniform, write_cases

OUT = Path(__file__).resolve().parent / "ops.json"


# ---------------------------------------------------------------------------------------------------------
# Inputs and the draws only these cases use


class Input:
    """One input of a case: a NumPy array of exact values, its stored dtype, and whether it needs a grad."""

    def __init__(self, data, dtype="f32", grad=True):
        assert dtype in ("f32", "i64")
        if dtype == "f32":
            data = f32(data)
        else:
            data = np.asarray(data, dtype=np.int64)
            grad = False
        self.data = data
        self.dtype = dtype
        self.grad = grad


def const(data):
    """A float input that takes no gradient (0/1 masks and conditions, bce targets)."""
    return Input(data, "f32", grad=False)


def index(data):
    return Input(data, "i64", grad=False)


def away_from_zero(rng, shape, lo=0.05, hi=2.0):
    """Random signs and magnitudes in [lo, hi]: no value within lo of zero (relu, abs, divisors)."""
    sign = rng.choice([-1.0, 1.0], size=shape)
    return f32(sign * rng.uniform(lo, hi, size=shape))


def mixed_bits(rng, shape):
    """0/1 values with at least one of each."""
    n = int(np.prod(shape))
    bits = rng.integers(0, 2, size=n)
    bits[0], bits[1] = 0, 1
    return rng.permutation(bits).astype(np.float64).reshape(shape)


def apart_from(rng, a_shape, b_shape, gap=0.05):
    """Two arrays whose broadcast elementwise differences are all at least `gap` (maximum, minimum)."""
    while True:
        a, b = normal(rng, a_shape), normal(rng, b_shape)
        if np.min(np.abs(a - b)) >= gap:
            return a, b


# ---------------------------------------------------------------------------------------------------------
# The cases. Each builder takes a NumPy Generator and returns (inputs, fn), where fn maps the torch tensors
# of the inputs, in order, to the output.

CASES = []


def case(name, op, attrs=None):
    def register(build):
        CASES.append((name, op, attrs or {}, build))
        return build

    return register


def unary(name, op, fn, draw, attrs=None):
    case(name, op, attrs)(lambda rng: ([Input(draw(rng))], fn))


# Unary ops.
unary("neg", "neg", lambda x: -x, lambda r: normal(r, [3, 4]))
unary("exp", "exp", torch.exp, lambda r: normal(r, [3, 4]))
unary("log", "log", torch.log, lambda r: uniform(r, [3, 4], 0.1, 4.0))
unary("sqrt", "sqrt", torch.sqrt, lambda r: uniform(r, [3, 4], 0.1, 4.0))
unary("abs", "abs", torch.abs, lambda r: away_from_zero(r, [3, 4]))
unary("relu", "relu", torch.relu, lambda r: away_from_zero(r, [2, 3, 4]))
unary(
    "leaky_relu",
    "leaky_relu",
    lambda x: F.leaky_relu(x, negative_slope=0.2),
    lambda r: away_from_zero(r, [3, 4]),
    {"slope": 0.2},
)
unary("sigmoid", "sigmoid", torch.sigmoid, lambda r: normal(r, [3, 4], 2.0))
unary("tanh", "tanh", torch.tanh, lambda r: normal(r, [3, 4]))


# Binary ops, same shape and broadcast.
@case("add", "add")
def _(rng):
    return [Input(normal(rng, [3, 4])), Input(normal(rng, [3, 4]))], torch.add


@case("add_broadcast_row", "add")
def _(rng):
    return [Input(normal(rng, [3, 4])), Input(normal(rng, [4]))], torch.add


@case("sub", "sub")
def _(rng):
    return [Input(normal(rng, [3, 4])), Input(normal(rng, [3, 4]))], torch.sub


@case("sub_broadcast_col", "sub")
def _(rng):
    return [Input(normal(rng, [3, 1])), Input(normal(rng, [3, 4]))], torch.sub


@case("mul", "mul")
def _(rng):
    return [Input(normal(rng, [3, 4])), Input(normal(rng, [3, 4]))], torch.mul


@case("mul_broadcast_both", "mul")
def _(rng):
    return [Input(normal(rng, [2, 3, 1])), Input(normal(rng, [1, 4]))], torch.mul


@case("div", "div")
def _(rng):
    return [Input(normal(rng, [3, 4])), Input(away_from_zero(rng, [3, 4], 0.5, 2.0))], torch.div


@case("div_broadcast_scalar", "div")
def _(rng):
    return [Input(normal(rng, [2, 3])), Input(away_from_zero(rng, [1], 0.5, 2.0))], torch.div


@case("pow", "pow")
def _(rng):
    return [Input(uniform(rng, [3, 4], 0.5, 2.0)), Input(uniform(rng, [3, 4], -2.0, 2.0))], torch.pow


@case("pow_broadcast_exponent", "pow")
def _(rng):
    return [Input(uniform(rng, [3, 4], 0.5, 2.0)), Input(uniform(rng, [4], -2.0, 2.0))], torch.pow


@case("maximum", "maximum")
def _(rng):
    a, b = apart_from(rng, [3, 4], [3, 4])
    return [Input(a), Input(b)], torch.maximum


@case("maximum_broadcast_row", "maximum")
def _(rng):
    a, b = apart_from(rng, [3, 4], [4])
    return [Input(a), Input(b)], torch.maximum


@case("minimum", "minimum")
def _(rng):
    a, b = apart_from(rng, [3, 4], [3, 4])
    return [Input(a), Input(b)], torch.minimum


# Selection.
@case("where_broadcast", "where")
def _(rng):
    cond = rng.permutation([0.0, 1.0, float(rng.integers(0, 2))]).reshape(3, 1)
    inputs = [const(cond), Input(normal(rng, [3, 4])), Input(normal(rng, [4]))]
    return inputs, lambda c, a, b: torch.where(c != 0, a, b)


@case("where", "where")
def _(rng):
    inputs = [const(mixed_bits(rng, [3, 4])), Input(normal(rng, [3, 4])), Input(normal(rng, [3, 4]))]
    return inputs, lambda c, a, b: torch.where(c != 0, a, b)


@case("masked_fill", "masked_fill", {"value": -1.5})
def _(rng):
    inputs = [Input(normal(rng, [3, 4])), const(mixed_bits(rng, [3, 4]))]
    return inputs, lambda x, m: x.masked_fill(m != 0, -1.5)


# Reductions.
def reduction(name, op, shape, axes, keepdim, fn):
    @case(name, op, {"axes": axes, "keepdim": keepdim})
    def _(rng):
        dims = tuple(axes) if axes else tuple(range(len(shape)))
        return [Input(normal(rng, shape))], lambda x: fn(x, dim=dims, keepdim=keepdim)


reduction("sum_axis1", "sum", [3, 4, 5], [1], False, torch.sum)
reduction("sum_axes02_keepdim", "sum", [3, 4, 5], [0, 2], True, torch.sum)
reduction("sum_all", "sum", [3, 4, 5], [], False, torch.sum)
reduction("mean_last_axis", "mean", [3, 4, 5], [-1], False, torch.mean)
reduction("mean_all", "mean", [3, 4, 5], [], False, torch.mean)


def arg_reduction(name, op, shape, axis, keepdim, fn):
    @case(name, op, {"axis": axis, "keepdim": keepdim})
    def _(rng):
        return [Input(distinct(rng, shape))], lambda x: fn(x, dim=axis, keepdim=keepdim).values


arg_reduction("max_axis1", "max", [3, 4, 5], 1, False, torch.max)
arg_reduction("max_last_axis_keepdim", "max", [3, 4], -1, True, torch.max)
arg_reduction("min_axis0", "min", [4, 5], 0, False, torch.min)
arg_reduction("min_last_axis_keepdim", "min", [3, 4, 5], -1, True, torch.min)


# Softmax family.
@case("softmax_last_axis", "softmax", {"axis": -1})
def _(rng):
    return [Input(normal(rng, [4, 6], 2.0))], lambda x: torch.softmax(x, dim=-1)


@case("log_softmax_middle_axis", "log_softmax", {"axis": 1})
def _(rng):
    return [Input(normal(rng, [2, 5, 3], 2.0))], lambda x: torch.log_softmax(x, dim=1)


# Matmul.
@case("matmul", "matmul")
def _(rng):
    return [Input(normal(rng, [4, 6])), Input(normal(rng, [6, 5]))], torch.matmul


@case("matmul_batched", "matmul")
def _(rng):
    return [Input(normal(rng, [3, 4, 6])), Input(normal(rng, [3, 6, 5]))], torch.matmul


@case("matmul_transpose_b", "matmul", {"transpose_b": True})
def _(rng):
    return [Input(normal(rng, [4, 6])), Input(normal(rng, [5, 6]))], lambda a, b: a @ b.T


# Convolution and pooling.
def conv2d(name, n, c, h, w, o, k, stride, padding):
    @case(name, "conv2d", {"stride": stride, "padding": padding})
    def _(rng):
        inputs = [
            Input(normal(rng, [n, c, h, w])),
            Input(normal(rng, [o, c, k, k], 0.5)),
            Input(normal(rng, [o], 0.5)),
        ]
        return inputs, lambda x, wt, b: F.conv2d(x, wt, b, stride=stride, padding=padding)


conv2d("conv2d_pad1", 2, 3, 7, 7, 4, 3, 1, 1)
conv2d("conv2d_stride2", 1, 2, 8, 6, 3, 3, 2, 0)
conv2d("conv2d_k2", 2, 1, 5, 5, 2, 2, 1, 0)


def max_pool2d(name, shape, kernel, stride):
    @case(name, "max_pool2d", {"kernel": kernel, "stride": stride})
    def _(rng):
        return [Input(distinct(rng, shape))], lambda x: F.max_pool2d(x, kernel_size=kernel, stride=stride)


max_pool2d("max_pool2d_k2s2", [2, 3, 6, 6], 2, 2)
max_pool2d("max_pool2d_k3s2_overlap", [1, 2, 7, 7], 3, 2)


# Indexing and joining.
@case("index_select_repeats", "index_select", {"axis": 0})
def _(rng):
    inputs = [Input(normal(rng, [10, 4])), index([1, 3, 3, 0, 9, 1, 1])]
    return inputs, lambda t, i: torch.index_select(t, 0, i)


@case("cat_axis1", "cat", {"axis": 1})
def _(rng):
    inputs = [Input(normal(rng, [2, 3])), Input(normal(rng, [2, 1])), Input(normal(rng, [2, 4]))]
    return inputs, lambda *xs: torch.cat(xs, dim=1)


@case("stack_axis0", "stack", {"axis": 0})
def _(rng):
    return [Input(normal(rng, [3, 2])), Input(normal(rng, [3, 2]))], lambda *xs: torch.stack(xs, dim=0)


# Views.
@case("transpose", "transpose", {"d0": 0, "d1": 2})
def _(rng):
    return [Input(normal(rng, [2, 3, 4]))], lambda x: x.transpose(0, 2)


@case("permute", "permute", {"perm": [2, 0, 1]})
def _(rng):
    return [Input(normal(rng, [2, 3, 4]))], lambda x: x.permute(2, 0, 1)


@case("narrow", "narrow", {"axis": 1, "start": 1, "len": 2})
def _(rng):
    return [Input(normal(rng, [3, 5]))], lambda x: x.narrow(1, 1, 2)


@case("reshape", "reshape", {"shape": [6, 2]})
def _(rng):
    return [Input(normal(rng, [3, 4]))], lambda x: x.reshape(6, 2)


@case("broadcast_to", "broadcast_to", {"shape": [2, 3, 4]})
def _(rng):
    return [Input(normal(rng, [3, 1]))], lambda x: x.broadcast_to(2, 3, 4)


# Losses (mean reduction, scalar output).
@case("cross_entropy", "cross_entropy")
def _(rng):
    inputs = [Input(normal(rng, [5, 7], 2.0)), index(rng.integers(0, 7, size=5))]
    return inputs, F.cross_entropy


@case("bce", "bce")
def _(rng):
    inputs = [Input(uniform(rng, [6], 0.05, 0.95)), const(mixed_bits(rng, [6]))]
    return inputs, F.binary_cross_entropy


@case("bce_with_logits", "bce_with_logits")
def _(rng):
    inputs = [Input(normal(rng, [2, 4], 2.0)), const(mixed_bits(rng, [2, 4]))]
    return inputs, F.binary_cross_entropy_with_logits


@case("mse", "mse")
def _(rng):
    return [Input(normal(rng, [3, 4])), Input(normal(rng, [3, 4]))], F.mse_loss


@case("distill_kl", "distill_kl", {"temperature": 4.0})
def _(rng):
    # Hinton et al.'s loss as PyTorch users write it: batchmean KL of the softened distributions,
    # times T^2; both logits get gradients (the student's is the one training uses).
    def distill(s, t):
        return F.kl_div(F.log_softmax(s / 4.0, dim=1), F.softmax(t / 4.0, dim=1), reduction="batchmean") * 16.0

    return [Input(normal(rng, [4, 6], 3.0)), Input(normal(rng, [4, 6], 3.0))], distill


# A composite chain: x @ w1 + b1 -> tanh -> @ w2 -> log_softmax(axis 1).
@case("chain_mlp", "chain_mlp")
def _(rng):
    inputs = [
        Input(normal(rng, [4, 5])),
        Input(normal(rng, [5, 6], 0.5)),
        Input(normal(rng, [6], 0.5)),
        Input(normal(rng, [6, 3], 0.5)),
    ]
    return inputs, lambda x, w1, b1, w2: torch.log_softmax(torch.tanh(x @ w1 + b1) @ w2, dim=1)


# ---------------------------------------------------------------------------------------------------------
# Running a case


def run(inputs, fn, upstream, dtype):
    """Forward and backward in `dtype`; returns the output and one gradient (or None) per input."""
    tensors = []
    for inp in inputs:
        if inp.dtype == "i64":
            tensors.append(torch.tensor(inp.data, dtype=torch.int64))
        else:
            tensors.append(torch.tensor(inp.data, dtype=dtype, requires_grad=inp.grad))
    out = fn(*tensors)
    wrt = [t for t, inp in zip(tensors, inputs) if inp.grad]
    up = torch.tensor(upstream, dtype=dtype).reshape(out.shape)
    grads = iter(torch.autograd.grad((out * up).sum(), wrt, allow_unused=True))
    result = []
    for t, inp in zip(tensors, inputs):
        if not inp.grad:
            result.append(None)
            continue
        g = next(grads)
        result.append(torch.zeros_like(t) if g is None else g)
    return out.detach(), result


def tensor_json(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def make_case(name, op, attrs, build):
    def attempt(rng):
        inputs, fn = build(rng)
        with torch.no_grad():
            shape = fn(*[torch.tensor(i.data) for i in inputs]).shape
        if len(shape) == 0:
            upstream = uniform(rng, [], 0.5, 1.5)
        else:
            upstream = normal(rng, list(shape))
        out, grads = run(inputs, fn, upstream, torch.float64)
        out32, grads32 = run(inputs, fn, upstream, torch.float32)
        err = f32_error(out, out32)
        for g, g32 in zip(grads, grads32):
            if g is not None:
                err = max(err, f32_error(g, g32))
        return (inputs, upstream, out, grads), err

    (inputs, upstream, out, grads), draw, err = first_passing_draw(name, attempt)
    record = {
        "name": name,
        "op": op,
        "attrs": attrs,
        "inputs": [
            {
                "shape": list(i.data.shape),
                "dtype": i.dtype,
                "data": [int(v) for v in i.data.reshape(-1)]
                if i.dtype == "i64"
                else [float(v) for v in i.data.reshape(-1)],
                "grad": i.grad,
            }
            for i in inputs
        ],
        "output": tensor_json(out),
        "upstream": {"shape": list(out.shape), "data": [float(v) for v in np.reshape(upstream, -1)]},
        "grads": [None if g is None else tensor_json(g) for g in grads],
    }
    return record, draw, err


def main():
    start()
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case name"

    records = []
    for name, op, attrs, build in CASES:
        record, draw, err = make_case(name, op, attrs, build)
        records.append(record)
        print(f"{name:28} {op:16} draw {draw}  f32 err {err:.1e}")
    write_cases(OUT, "tests/golden/generate.py", records)


if __name__ == "__main__":
    main()
