"""PyTorch yardstick for `kiln bench step`: one training step of W1 / W2 / W3 (DESIGN.md section 6).

Same shapes and the same step definition as kiln's `models/src/zoo/bench.rs`, on fixed random data:

  gan        W1: D update on 64 real + 64 fake (one forward over the 128 rows, BCE vs 1s then 0s),
             then G update on 64 fresh noise vectors (BCE of D(G(z)) vs 1s); Adam 2e-4, betas 0.5/0.999.
  cnn        W2: plain CNN, batch 64 of 3x32x32, cross-entropy (+ the accuracy count), Adam 1e-3.
  cnn-bn     W2 with BatchNorm2d after every conv and Dropout(0.5) before each linear layer (the
             `bn` accuracy variant), in training mode; otherwise as cnn.
  sentiment  W3: Embedding(20002, 128) -> BiLSTM hidden 64 -> final states (128) -> Dropout(0.2)
             -> Linear(128, 1); batch 32 x 256 tokens, all real words (no padding), BCE with logits,
             Adam 1e-3.

How it is run: `kiln bench step <workload> --compare-pytorch` pipes this file to the interpreter
named by $KILN_PYTHON (else python3) as `python - <workload> --steps N --warmup W --threads T`,
alternating with kiln's own runs. It can also be run by hand:

    python benches/pytorch/workloads.py cnn --steps 20 --warmup 3 --threads 2

With `--device cuda` the models and data live on the GPU (`kiln bench step --device cuda
--compare-pytorch` passes it on); inputs are drawn on the host from the same generator either way.
Each step ends in `.item()`, which waits for the GPU, so wall-clock step times are complete.

With `--flush-denormal` it runs under `torch.set_flush_denormal(True)` (what kiln does by default);
`kiln bench step --compare-pytorch` times PyTorch both ways and divides by the faster.

It prints one JSON line: {"workload", "median_ms", "min_ms", "steps", "threads", "torch",
"flush_denormal", "times_ms"}.
"""

import argparse
import json
import statistics
import time

import torch
from torch import nn
import torch.nn.functional as F

VOCAB_SIZE = 20_000 + 2  # words + PAD (0) + OOV (1)
SEQ_LEN = 256


def gan_step(gen, dev):
    noise_dim, batch = 100, 64
    g = nn.Sequential(
        nn.Linear(noise_dim, 256), nn.LeakyReLU(0.2),
        nn.Linear(256, 512), nn.LeakyReLU(0.2),
        nn.Linear(512, 784), nn.Tanh(),
    )
    d = nn.Sequential(
        nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Dropout(0.5),
        nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Dropout(0.5),
        nn.Linear(256, 1), nn.Sigmoid(),
    )
    g, d = g.to(dev), d.to(dev)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = (torch.rand(batch, 784, generator=gen) * 2 - 1).to(dev)
    d_targets = torch.cat([torch.ones(batch), torch.zeros(batch)]).to(dev)
    ones = torch.ones(batch).to(dev)

    def step():
        fake = g(torch.randn(batch, noise_dim, generator=gen).to(dev))
        d_out = d(torch.cat([real, fake.detach()])).reshape(2 * batch)
        d_loss = F.binary_cross_entropy(d_out, d_targets)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()

        fake = g(torch.randn(batch, noise_dim, generator=gen).to(dev))
        g_loss = F.binary_cross_entropy(d(fake).reshape(batch), ones)
        # As in kiln, the gradient also reaches D's parameters; only G's optimizer applies it.
        opt_g.zero_grad()
        opt_d.zero_grad()
        g_loss.backward()
        opt_g.step()
        return d_loss.item(), g_loss.item()

    return step


def cnn_step(gen, dev, bn=False):
    batch = 64
    layers = []
    for cin, cout in [(3, 32), (32, 64), (64, 128)]:
        layers += [nn.Conv2d(cin, cout, 3)] + ([nn.BatchNorm2d(cout)] if bn else []) + [nn.ReLU(), nn.MaxPool2d(2)]
    drop = [nn.Dropout(0.5)] if bn else []
    head = [nn.Flatten(), *drop, nn.Linear(512, 512), nn.ReLU(), *drop, nn.Linear(512, 10)]
    net = nn.Sequential(*layers, *head).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, 32, 32, generator=gen).to(dev)
    y = torch.randint(0, 10, (batch,), generator=gen).to(dev)

    def step():
        logits = net(x)
        loss = F.cross_entropy(logits, y)
        correct = (logits.argmax(1) == y).sum().item()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item(), correct

    return step


class SentimentNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB_SIZE, 128, padding_idx=0)
        self.lstm = nn.LSTM(128, 64, num_layers=1, bidirectional=True, batch_first=True)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(128, 1)

    def forward(self, ids):
        # Every sequence is full length, so no packing is needed: the backward direction starts
        # at the last token just as kiln's masked LSTM does.
        _, (h_n, _) = self.lstm(self.embedding(ids))
        h = torch.cat([h_n[0], h_n[1]], dim=1)
        return self.fc(self.dropout(h))


def sentiment_step(gen, dev):
    batch = 32
    net = SentimentNet().to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    ids = torch.randint(2, VOCAB_SIZE, (batch, SEQ_LEN), generator=gen).to(dev)
    y = torch.randint(0, 2, (batch,), generator=gen).float().to(dev)

    def step():
        logits = net(ids).reshape(batch)
        loss = F.binary_cross_entropy_with_logits(logits, y)
        correct = ((logits > 0) == (y > 0.5)).sum().item()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item(), correct

    return step


def cnn_bn_step(gen, dev):
    return cnn_step(gen, dev, bn=True)


WORKLOADS = {"gan": gan_step, "cnn": cnn_step, "sentiment": sentiment_step, "cnn-bn": cnn_bn_step}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--flush-denormal", action="store_true",
                        help="torch.set_flush_denormal(True): subnormals flushed to zero, as kiln does by default")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    # On Intel CPUs every FMA on a subnormal takes a microcode assist; W3's backward through 256
    # steps produces them, so this setting decides PyTorch's W3 speed there (638 vs 92 ms seen).
    flushed = torch.set_flush_denormal(True) if args.flush_denormal else False
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    step = WORKLOADS[args.workload](gen, torch.device(args.device))

    for _ in range(args.warmup):
        step()
    times_ms = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times_ms.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({
        "workload": args.workload,
        "median_ms": statistics.median(times_ms),
        "min_ms": min(times_ms),
        "steps": args.steps,
        "threads": torch.get_num_threads(),
        "device": args.device,
        "torch": torch.__version__,
        "flush_denormal": flushed,
        "times_ms": times_ms,
    }))


if __name__ == "__main__":
    main()
