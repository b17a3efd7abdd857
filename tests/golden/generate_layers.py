"""Write PyTorch golden values for kiln's layers and optimizers to tests/golden/layers.json.

Two kinds of case:

  * "layer": one torch.nn module (Linear, Conv2d, MaxPool2d, Embedding, LSTM, BatchNorm2d, LayerNorm,
    Dropout) with its parameters and buffers set to random values, run forward on random inputs in
    train or eval mode, then backward of `sum_k (outputs[k] * upstream[k]).sum()`. The file stores the
    parameters and buffers by their state_dict names, the inputs, every output with its upstream, the
    gradients of the inputs and the parameters, and the buffers after the forward (BatchNorm2d's
    updated running statistics). An LSTM has three outputs: `output`, `h_n` and `c_n`.
  * "optimizer": torch.optim.SGD / Adam / AdamW over two parameters (`weight` [3, 4], `bias` [4]) fed
    the same sequence of three gradients (in the `*_bias_skips_step_1` cases `bias` has none in the first
    step). The file stores the parameters and the optimizer state
    (`<param>.momentum_buffer`, `<param>.exp_avg`, `<param>.exp_avg_sq`: kiln's `Optimizer::state`
    names) after each step.

The Rust test `tests/golden_layers.rs` builds the kiln module or optimizer from `module`/`config` or
`optimizer`/`hparams`, overwrites its parameters and buffers with the stored values, repeats the run in
f32 and compares everything with `|got - want| <= 1e-5 * max(1, |want|)`.

How the numbers are made:
  * Parameters, buffers, float inputs, upstreams and optimizer gradients are drawn with NumPy Generators
    seeded from the case name (adding a case does not change the others) and rounded to float32, so
    they are exact in f32. They are written as f64 numbers (Python's shortest round-trip repr).
  * Torch computes everything in float64 from those values, so the stored results are the exact
    answers for f32 inputs (to f64 precision). Hyperparameters (lr 0.1, ...) are used as given; kiln's
    f32 rounding of them moves results by about 1e-8 relative.
  * Max-pool inputs have no ties; running variances are >= 0.25.
  * Each case is also run by torch in float32 and must match the float64 answer within
    |f32 - f64| <= 1e-6 * max(1, |f64|) (ten times tighter than the Rust test); a draw that does not is
    redrawn with the next seed, and the script fails if no draw passes.

Layout of layers.json: a header line, then one case per line:
    layer:     {"name", "kind": "layer", "module", "config", "training",
                "params": [T], "buffers": [T], "inputs": [{"name", "shape", "dtype": "f32"|"i64", "data",
                "grad"}], "outputs": [{"name", "shape", "data", "upstream"}], "input_grads": [T],
                "param_grads": [T], "buffers_after": [T]}
    optimizer: {"name", "kind": "optimizer", "optimizer": "sgd"|"adam"|"adamw", "hparams",
                "params": [T], "steps": [{"grads": [T], "params": [T], "state": [T]}]}
               (a parameter absent from a step's `grads` has no gradient in that step, and its state
               entries are absent until PyTorch creates them)
where T is {"name", "shape", "data"}, `data` (and `upstream`) a flat row-major list. BatchNorm2d's
`num_batches_tracked` buffer is left out (kiln keeps no such counter; with a fixed momentum it is unused).

Run by hand (outside CI; the output is committed):
    pip install torch numpy
    python3 tests/golden/generate_layers.py
Running it twice with the same torch version produces an identical file.
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from golden_common import distinct, f32, f32_error, first_passing_draw, normal, start, uniform, write_cases

OUT = Path(__file__).resolve().parent / "layers.json"


# ---------------------------------------------------------------------------------------------------------
# Records


def flat(a):
    return [float(v) for v in np.reshape(np.asarray(a, dtype=np.float64), -1)]


def named(name, a):
    a = a.detach().double().numpy() if torch.is_tensor(a) else np.asarray(a)
    return {"name": name, "shape": list(a.shape), "data": flat(a)}


# ---------------------------------------------------------------------------------------------------------
# Layer cases. A builder takes a Generator and returns a Layer: the kiln-side description (module name and
# config), a factory for the torch module, the parameter and buffer values by state_dict name, the inputs
# and a function from (module, input tensors) to the list of named outputs.


class Layer:
    def __init__(self, module, config, make, params, inputs, forward, training, buffers=None):
        self.module = module
        self.config = config
        self.make = make
        self.params = params  # {state_dict name: array}, every parameter of the module
        self.buffers = buffers or {}  # {state_dict name: array}
        self.inputs = inputs  # [(name, array, "f32"|"i64", grad)]
        self.forward = forward
        self.training = training


LAYER_CASES = []


def layer_case(name):
    def register(build):
        LAYER_CASES.append((name, build))
        return build

    return register


def single(m, x):
    return [("output", m(x))]


def linear(name, in_f, out_f, bias, x_shape):
    @layer_case(name)
    def _(rng):
        params = {"weight": normal(rng, [out_f, in_f], 0.5)}
        if bias:
            params["bias"] = normal(rng, [out_f], 0.5)
        config = {"in_features": in_f, "out_features": out_f, "bias": bias}
        return Layer(
            "linear",
            config,
            lambda: nn.Linear(in_f, out_f, bias=bias),
            params,
            [("x", normal(rng, x_shape), "f32", True)],
            single,
            training=True,
        )


linear("linear", 5, 4, True, [3, 5])
linear("linear_3d_input_no_bias", 5, 4, False, [2, 3, 5])


def conv2d(name, x_shape, out_ch, kernel, stride, padding, bias):
    @layer_case(name)
    def _(rng):
        in_ch = x_shape[1]
        params = {"weight": normal(rng, [out_ch, in_ch, kernel, kernel], 0.5)}
        if bias:
            params["bias"] = normal(rng, [out_ch], 0.5)
        config = {
            "in_channels": in_ch,
            "out_channels": out_ch,
            "kernel": kernel,
            "stride": stride,
            "padding": padding,
            "bias": bias,
        }
        return Layer(
            "conv2d",
            config,
            lambda: nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=bias),
            params,
            [("x", normal(rng, x_shape), "f32", True)],
            single,
            training=True,
        )


conv2d("conv2d_k3_pad1", [2, 2, 5, 5], 3, 3, 1, 1, True)
conv2d("conv2d_k3_stride2_pad1", [2, 2, 6, 6], 3, 3, 2, 1, True)
conv2d("conv2d_k2_stride2_no_bias", [1, 3, 6, 4], 2, 2, 2, 0, False)


def max_pool2d(name, x_shape, kernel, stride):
    @layer_case(name)
    def _(rng):
        return Layer(
            "max_pool2d",
            {"kernel": kernel, "stride": stride},
            lambda: nn.MaxPool2d(kernel, stride=stride),
            {},
            [("x", distinct(rng, x_shape), "f32", True)],
            single,
            training=True,
        )


max_pool2d("max_pool2d_k2", [2, 3, 6, 6], 2, 2)
max_pool2d("max_pool2d_k3_stride2_overlap", [1, 2, 7, 7], 3, 2)


def embedding(name, num, dim, padding_idx, ids, zero_padding_row):
    @layer_case(name)
    def _(rng):
        weight = normal(rng, [num, dim])
        if padding_idx is not None and zero_padding_row:
            weight[padding_idx] = 0.0
        return Layer(
            "embedding",
            {"num_embeddings": num, "dim": dim, "padding_idx": padding_idx},
            lambda: nn.Embedding(num, dim, padding_idx=padding_idx),
            {"weight": weight},
            [("ids", np.asarray(ids, dtype=np.int64), "i64", False)],
            single,
            training=True,
        )


EMBEDDING_IDS = [[3, 2, 7, 2, 0], [9, 3, 3, 2, 5]]
embedding("embedding", 10, 4, None, EMBEDDING_IDS, False)
# The padding row as nn.Embedding initialises it (zero): the row stays out of the gradient.
embedding("embedding_padding_idx", 10, 4, 2, EMBEDDING_IDS, True)
# A loaded table whose padding row is not zero (e.g. nn.Embedding.from_pretrained(..., padding_idx=2)):
# PyTorch's forward returns the row as stored; only its gradient is zero.
embedding("embedding_padding_idx_nonzero_row", 10, 4, 2, EMBEDDING_IDS, False)


def lstm(name, batch, steps, input_size, hidden, layers, bidirectional, lengths=None):
    @layer_case(name)
    def _(rng):
        dirs = 2 if bidirectional else 1
        params = {}
        for k in range(layers):
            for suffix in ["", "_reverse"][:dirs]:
                fan = input_size if k == 0 else hidden * dirs
                params[f"weight_ih_l{k}{suffix}"] = normal(rng, [4 * hidden, fan], 0.5)
                params[f"weight_hh_l{k}{suffix}"] = normal(rng, [4 * hidden, hidden], 0.5)
                params[f"bias_ih_l{k}{suffix}"] = normal(rng, [4 * hidden], 0.5)
                params[f"bias_hh_l{k}{suffix}"] = normal(rng, [4 * hidden], 0.5)

        def forward(m, x):
            if lengths is None:
                out, (h_n, c_n) = m(x)
            else:
                packed = nn.utils.rnn.pack_padded_sequence(
                    x, torch.tensor(lengths), batch_first=True, enforce_sorted=False
                )
                out, (h_n, c_n) = m(packed)
                out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=steps)
            return [("output", out), ("h_n", h_n), ("c_n", c_n)]

        config = {
            "input_size": input_size,
            "hidden_size": hidden,
            "num_layers": layers,
            "bidirectional": bidirectional,
            "lengths": lengths,
        }
        return Layer(
            "lstm",
            config,
            lambda: nn.LSTM(input_size, hidden, num_layers=layers, bidirectional=bidirectional, batch_first=True),
            params,
            [("x", normal(rng, [batch, steps, input_size]), "f32", True)],
            forward,
            training=True,
        )


lstm("lstm_bidirectional", 2, 6, 4, 3, 1, True)
lstm("lstm_bidirectional_2_layers", 2, 5, 3, 3, 2, True)
lstm("lstm_2_layers", 3, 5, 3, 4, 2, False)
# Per-sequence lengths, as pack_padded_sequence / pad_packed_sequence give them.
lstm("lstm_bidirectional_lengths", 3, 5, 3, 3, 1, True, lengths=[5, 2, 4])


def batch_norm2d(name, x_shape, training, relu=False):
    """BatchNorm2d; with `relu`, nn.Sequential(BatchNorm2d, ReLU) as W2-BN has it, which kiln runs as
    its fused op (state_dict names then carry the `0.` prefix)."""

    @layer_case(name)
    def _(rng):
        c = x_shape[1]
        p = "0." if relu else ""
        params = {p + "weight": normal(rng, [c], 0.5) + f32(1.0), p + "bias": normal(rng, [c], 0.5)}
        buffers = {p + "running_mean": normal(rng, [c], 0.5), p + "running_var": uniform(rng, [c], 0.25, 2.0)}
        x = f32(normal(rng, x_shape) * uniform(rng, [1, c, 1, 1], 0.5, 2.0) + normal(rng, [1, c, 1, 1]))
        return Layer(
            "batch_norm2d_relu" if relu else "batch_norm2d",
            {"channels": c},
            (lambda: nn.Sequential(nn.BatchNorm2d(c), nn.ReLU())) if relu else (lambda: nn.BatchNorm2d(c)),
            params,
            [("x", x, "f32", True)],
            single,
            training=training,
            buffers=buffers,
        )


batch_norm2d("batch_norm2d_train", [2, 3, 3, 3], True)
batch_norm2d("batch_norm2d_eval", [2, 3, 3, 3], False)
# Planes longer than the fused kernels' 16 partial sums, an odd channel count.
batch_norm2d("batch_norm2d_train_wide", [3, 5, 6, 7], True)
batch_norm2d("batch_norm2d_relu_train", [3, 5, 6, 7], True, relu=True)
batch_norm2d("batch_norm2d_relu_eval", [2, 4, 3, 5], False, relu=True)


def layer_norm(name, dim, x_shape):
    @layer_case(name)
    def _(rng):
        return Layer(
            "layer_norm",
            {"dim": dim},
            lambda: nn.LayerNorm(dim),
            {"weight": normal(rng, [dim], 0.5) + f32(1.0), "bias": normal(rng, [dim], 0.5)},
            [("x", f32(normal(rng, x_shape, 2.0) + 0.5), "f32", True)],
            single,
            training=True,
        )


layer_norm("layer_norm", 6, [2, 3, 6])
layer_norm("layer_norm_wide", 37, [5, 37])


@layer_case("dropout_eval")
def _(rng):
    return Layer(
        "dropout",
        {"p": 0.3},
        lambda: nn.Dropout(0.3),
        {},
        [("x", normal(rng, [3, 4]), "f32", True)],
        single,
        training=False,
    )


def run_layer(layer, upstreams, dtype):
    """Forward and backward in `dtype`: (outputs, input grads, param grads, buffers after), all named."""
    m = layer.make().to(dtype)
    with torch.no_grad():
        state = dict(m.named_parameters())
        assert set(state) == set(layer.params), f"parameters {sorted(state)} != {sorted(layer.params)}"
        for n, v in layer.params.items():
            assert list(state[n].shape) == list(v.shape), n
            state[n].copy_(torch.tensor(v, dtype=dtype))
        bufs = dict(m.named_buffers())
        for n, v in layer.buffers.items():
            bufs[n].copy_(torch.tensor(v, dtype=dtype))
    m.train(layer.training)
    xs = [
        torch.tensor(a, dtype=torch.int64) if dt == "i64" else torch.tensor(a, dtype=dtype, requires_grad=g)
        for _, a, dt, g in layer.inputs
    ]
    outs = layer.forward(m, *xs)
    if upstreams is None:
        return outs
    loss = sum((o * torch.tensor(upstreams[n], dtype=dtype)).sum() for n, o in outs)
    grad_inputs = [(n, x) for x, (n, _, _, g) in zip(xs, layer.inputs) if g]
    params = [p for _, p in m.named_parameters()]
    grads = torch.autograd.grad(loss, [x for _, x in grad_inputs] + params)
    input_grads = [(n, g) for (n, _), g in zip(grad_inputs, grads)]
    param_grads = [(n, g) for (n, _), g in zip(m.named_parameters(), grads[len(grad_inputs) :])]
    buffers_after = [(n, b.detach()) for n, b in m.named_buffers() if n in layer.buffers]
    return [(n, o.detach()) for n, o in outs], input_grads, param_grads, buffers_after


def make_layer_case(name, build):
    def attempt(rng):
        layer = build(rng)
        with torch.no_grad():
            shapes = [(n, o.shape) for n, o in run_layer(layer, None, torch.float64)]
        upstreams = {n: normal(rng, list(s)) for n, s in shapes}
        want = run_layer(layer, upstreams, torch.float64)
        got = run_layer(layer, upstreams, torch.float32)
        err = max(f32_error(w, g) for ws, gs in zip(want, got) for (_, w), (_, g) in zip(ws, gs))
        return (layer, upstreams, want), err

    (layer, upstreams, want), draw, err = first_passing_draw(name, attempt)
    outs, input_grads, param_grads, buffers_after = want
    record = {
        "name": name,
        "kind": "layer",
        "module": layer.module,
        "config": layer.config,
        "training": layer.training,
        "params": [named(n, v) for n, v in layer.params.items()],
        "buffers": [named(n, v) for n, v in layer.buffers.items()],
        "inputs": [
            {
                "name": n,
                "shape": list(a.shape),
                "dtype": dt,
                "data": [int(v) for v in a.reshape(-1)] if dt == "i64" else flat(a),
                "grad": g,
            }
            for n, a, dt, g in layer.inputs
        ],
        "outputs": [dict(named(n, o), upstream=flat(upstreams[n])) for n, o in outs],
        "input_grads": [named(n, g) for n, g in input_grads],
        "param_grads": [named(n, g) for n, g in param_grads],
        "buffers_after": [named(n, b) for n, b in buffers_after],
    }
    return record, draw, err


# ---------------------------------------------------------------------------------------------------------
# Optimizer cases: the same params and gradient sequence through one torch optimizer.

OPTIM_CASES = [
    ("sgd_plain", "sgd", {"lr": 0.1, "momentum": 0.0, "weight_decay": 0.0, "nesterov": False}),
    ("sgd_momentum", "sgd", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0, "nesterov": False}),
    ("sgd_momentum_weight_decay", "sgd", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.05, "nesterov": False}),
    ("sgd_nesterov", "sgd", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0, "nesterov": True}),
    ("sgd_nesterov_weight_decay", "sgd", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.1, "nesterov": True}),
    ("adam", "adam", {"lr": 0.01, "betas": [0.9, 0.999], "weight_decay": 0.0}),
    ("adam_l2_weight_decay", "adam", {"lr": 0.01, "betas": [0.8, 0.99], "weight_decay": 0.1}),
    ("adamw", "adamw", {"lr": 0.01, "betas": [0.9, 0.999], "weight_decay": 0.01}),
    ("adamw_strong_decay", "adamw", {"lr": 0.05, "betas": [0.8, 0.99], "weight_decay": 0.5}),
]
# Cases where `bias` has no gradient in the first step (a parameter outside that step's graph): PyTorch
# skips it, and its state (momentum buffer, moments and its own step count) starts at the next step.
OPTIM_CASES += [
    (name + "_bias_skips_step_1", kind, hp)
    for name, kind, hp in OPTIM_CASES
    if name in ("sgd_momentum_weight_decay", "adam", "adamw")
]
# (step index, parameter name) pairs left without a gradient, by case-name suffix.
SKIPPED = {"_bias_skips_step_1": {(0, "bias")}}
OPTIM_PARAMS = [("weight", [3, 4]), ("bias", [4])]
OPTIM_STEPS = 3
STATE_NAMES = {"sgd": ["momentum_buffer"], "adam": ["exp_avg", "exp_avg_sq"], "adamw": ["exp_avg", "exp_avg_sq"]}


def make_optimizer(kind, hp, params):
    if kind == "sgd":
        return torch.optim.SGD(
            params,
            lr=hp["lr"],
            momentum=hp["momentum"],
            weight_decay=hp["weight_decay"],
            nesterov=hp["nesterov"],
            foreach=False,
        )
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return cls(params, lr=hp["lr"], betas=tuple(hp["betas"]), eps=1e-8, weight_decay=hp["weight_decay"], foreach=False)


def run_optimizer(kind, hp, init, grads, dtype):
    """Returns, per step, ([(name, param)], [(state name, tensor)]). A parameter missing from a step's
    grads has no gradient in that step."""
    params = [torch.tensor(init[n], dtype=dtype, requires_grad=True) for n, _ in OPTIM_PARAMS]
    opt = make_optimizer(kind, hp, params)
    steps = []
    for step_grads in grads:
        for p, (n, _) in zip(params, OPTIM_PARAMS):
            p.grad = torch.tensor(step_grads[n], dtype=dtype) if n in step_grads else None
        opt.step()
        state = []
        for p, (n, _) in zip(params, OPTIM_PARAMS):
            for s in STATE_NAMES[kind]:
                if opt.state[p].get(s) is not None:
                    state.append((f"{n}.{s}", opt.state[p][s].detach().clone()))
        steps.append(([(n, p.detach().clone()) for p, (n, _) in zip(params, OPTIM_PARAMS)], state))
    return steps


def make_optim_case(name, kind, hp):
    def attempt(rng):
        init = {n: normal(rng, s) for n, s in OPTIM_PARAMS}
        grads = [{n: normal(rng, s) for n, s in OPTIM_PARAMS} for _ in range(OPTIM_STEPS)]
        skipped = next((v for suffix, v in SKIPPED.items() if name.endswith(suffix)), set())
        grads = [{n: g for n, g in gs.items() if (k, n) not in skipped} for k, gs in enumerate(grads)]
        want = run_optimizer(kind, hp, init, grads, torch.float64)
        got = run_optimizer(kind, hp, init, grads, torch.float32)
        err = 0.0
        for (wp, ws), (gp, gs) in zip(want, got):
            for (_, w), (_, g) in zip(wp + ws, gp + gs):
                err = max(err, f32_error(w, g))
        return (init, grads, want), err

    (init, grads, want), draw, err = first_passing_draw(name, attempt)

    record = {
        "name": name,
        "kind": "optimizer",
        "optimizer": kind,
        "hparams": hp,
        "params": [named(n, init[n]) for n, _ in OPTIM_PARAMS],
        "steps": [
            {
                "grads": [named(n, g[n]) for n, _ in OPTIM_PARAMS if n in g],
                "params": [named(n, p) for n, p in ps],
                "state": [named(n, s) for n, s in ss],
            }
            for g, (ps, ss) in zip(grads, want)
        ],
    }
    return record, draw, err


def main():
    start()
    names = [c[0] for c in LAYER_CASES] + [c[0] for c in OPTIM_CASES]
    assert len(names) == len(set(names)), "duplicate case name"

    records = []
    for name, build in LAYER_CASES:
        record, draw, err = make_layer_case(name, build)
        records.append(record)
        print(f"{name:44} {record['module']:14} draw {draw}  f32 err {err:.1e}")
    for name, kind, hp in OPTIM_CASES:
        record, draw, err = make_optim_case(name, kind, hp)
        records.append(record)
        print(f"{name:44} {kind:14} draw {draw}  f32 err {err:.1e}")
    write_cases(OUT, "tests/golden/generate_layers.py", records)


if __name__ == "__main__":
    main()
