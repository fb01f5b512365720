#!/usr/bin/python3
"""The engine's loss + image-gradient evaluation in PyTorch, as the bench's reference.

Same network (SqueezeNet v1.1, BVLC GoogLeNet or VGG16, read from the same
converted `weights.json` + `weights.bin`), same layers and losses, same images
(preprocessed float32 files the bench writes), so the loss printed here must
equal Restyle's. Usage (the bench calls it):

    /usr/bin/python3 bench/reference/gatys.py SPEC.json

SPEC.json: {"network", "weights": DIR, "size", "repeat", "inputs": {"x", "content",
"style"} (raw little-endian float32 NHWC files), "contentLayers", "styleLayers",
"contentWeight", "styleWeight", "tvWeight", "normalize"}, and optionally "pooling"
(the stride-2 pools: max, avg or blur; default max) and "padding" (zero or reflect;
default zero), as the engine's network options, and "shapes":
{"x", "content", "style"} ([height, width] each; default size x size). Prints one
JSON line: {"ms": median milliseconds, "loss": value, "threads", "torch"}.

With "serve": true it evaluates once (warm-up), prints {"ready", "loss", "threads",
"torch"}, then times one evaluation per "eval" line on stdin and prints {"ms"}
for each, so that the bench can interleave it with Restyle's (A B A B ...).

With "optimize": {"maxfun", "m", "lower", "upper"} (the bounds per channel, in
the preprocessed space) it instead minimises the loss from "x" with SciPy's
L-BFGS-B (`scipy.optimize.minimize`, jac=True, the bounds on every pixel,
ftol = gtol = 0 so that only maxfun stops it), in float64: L-BFGS-B's first
step on a boxed problem is x - ∇f, which for Restyle's normalised losses
(|∇f| ~ 1e-3) changes f by less than float32 resolves, and in float32 its
line search never leaves the start. It prints one JSON line:
{"losses": the loss at every evaluation in order, "nit", "nfev", "message",
"scipy", "torch"}.
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def load_weights(directory):
    """name -> tensor, kernels HWIO -> OIHW."""
    with open(f"{directory}/weights.json") as f:
        manifest = json.load(f)["weights"]
    raw = np.fromfile(f"{directory}/weights.bin", dtype="<f4")
    out, offset = {}, 0
    for entry in manifest:
        count = int(np.prod(entry["shape"]))
        t = torch.from_numpy(raw[offset:offset + count].reshape(entry["shape"]).copy())
        offset += count
        if t.dim() == 4:
            t = t.permute(3, 2, 0, 1).contiguous()
        out[entry["name"]] = t
    return out


def window_pool(x, k, s, floor, binomial):
    """Caffe's ceil-mode average pool (pad 0) as `src/ops/layer_op.ts` defines it: a box or
    the binomial [1,2,1]x[1,2,1]/16 window, an overhanging window divided by its weight inside."""
    h, w = x.shape[2:]

    def axis(n):
        used = (n - k) // s * s + k if floor else n
        out = -(-(used - k) // s) + 1
        return used, max(0, (out - 1) * s + k - used)

    (uh, eh), (uw, ew) = axis(h), axis(w)
    x = x[:, :, :uh, :uw]

    # PyTorch's own pooling kernels, as the engine's tfjs path does: a grouped convolution is a
    # slow path in Debian's build (no MKL), which would time the reference, not the method.
    # The binomial 3x3 stride-2 window is a 2x2 box at stride 1, then at stride 2.
    def pool(t):
        if binomial:
            return F.avg_pool2d(F.avg_pool2d(t, 2, 1), 2, 2)
        return F.avg_pool2d(t, k, s)

    y = pool(F.pad(x, (0, ew, 0, eh)))
    if eh or ew:
        ones = F.pad(torch.ones(1, 1, uh, uw, dtype=x.dtype), (0, ew, 0, eh))
        y = y / pool(ones)
    return y


class Graph:
    """Named blobs in forward order, as `src/net/graph.ts` lays them out. `pooling` is
    the downsampling (stride-2) pools' kind (max, avg or blur), `padding` the
    convolutions' (zero or reflect), as the engine's network options set them."""

    def __init__(self, w, pooling="max", padding="zero"):
        self.w = w
        self.pooling = pooling
        self.padding = padding
        self.layers = []  # (name, inputs, fn)

    def conv(self, name, inp, stride=1, pad=0):
        k, b = self.w[f"{name}/kernel"], self.w[f"{name}/bias"]

        def fn(x):
            if self.padding == "reflect" and 0 < pad < min(x.shape[2], x.shape[3]):
                return F.relu(F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), k, b, stride))
            return F.relu(F.conv2d(x, k, b, stride, pad))

        self.layers.append((name, [inp], fn))

    def pool(self, name, inp, kernel, stride, pad=0, ceil=True):
        kind = self.pooling if stride == 2 else "max"
        if kind == "max":
            fn = lambda x: F.max_pool2d(x, kernel, stride, pad, ceil_mode=ceil)
        else:
            binomial = kind == "blur" and kernel == 3
            fn = lambda x: window_pool(x, kernel, stride, not ceil, binomial)
        self.layers.append((name, [inp], fn))

    def lrn(self, name, inp):
        self.layers.append((name, [inp], lambda x: F.local_response_norm(x, 5, 1e-4, 0.75, 1.0)))

    def concat(self, name, inputs):
        self.layers.append((name, inputs, lambda *xs: torch.cat(xs, 1)))

    def fire(self, m, inp):
        self.conv(f"{m}/squeeze1x1", inp)
        self.conv(f"{m}/expand1x1", f"{m}/squeeze1x1")
        self.conv(f"{m}/expand3x3", f"{m}/squeeze1x1", pad=1)
        self.concat(f"{m}/concat", [f"{m}/expand1x1", f"{m}/expand3x3"])

    def inception(self, m, inp):
        self.conv(f"{m}/1x1", inp)
        self.conv(f"{m}/3x3_reduce", inp)
        self.conv(f"{m}/3x3", f"{m}/3x3_reduce", pad=1)
        self.conv(f"{m}/5x5_reduce", inp)
        self.conv(f"{m}/5x5", f"{m}/5x5_reduce", pad=2)
        self.pool(f"{m}/pool", inp, 3, 1, 1)
        self.conv(f"{m}/pool_proj", f"{m}/pool")
        self.concat(f"{m}/output", [f"{m}/1x1", f"{m}/3x3", f"{m}/5x5", f"{m}/pool_proj"])

    def features(self, x, wanted):
        last = max(i for i, (name, _, _) in enumerate(self.layers) if name in wanted)
        blobs = {"data": x}
        for name, inputs, fn in self.layers[: last + 1]:
            blobs[name] = fn(*[blobs[i] for i in inputs])
        return {name: blobs[name] for name in wanted}


def squeezenet(w, **options):
    g = Graph(w, **options)
    g.conv("conv1", "data", stride=2)
    g.pool("pool1", "conv1", 3, 2)
    g.fire("fire2", "pool1")
    g.fire("fire3", "fire2/concat")
    g.pool("pool3", "fire3/concat", 3, 2)
    g.fire("fire4", "pool3")
    g.fire("fire5", "fire4/concat")
    g.pool("pool5", "fire5/concat", 3, 2)
    for i in range(6, 10):
        g.fire(f"fire{i}", f"fire{i - 1}/concat" if i > 6 else "pool5")
    g.conv("conv10", "fire9/concat")
    return g


def googlenet(w, **options):
    g = Graph(w, **options)
    g.conv("conv1/7x7_s2", "data", stride=2, pad=3)
    g.pool("pool1/3x3_s2", "conv1/7x7_s2", 3, 2)
    g.lrn("pool1/norm1", "pool1/3x3_s2")
    g.conv("conv2/3x3_reduce", "pool1/norm1")
    g.conv("conv2/3x3", "conv2/3x3_reduce", pad=1)
    g.lrn("conv2/norm2", "conv2/3x3")
    g.pool("pool2/3x3_s2", "conv2/norm2", 3, 2)
    g.inception("inception_3a", "pool2/3x3_s2")
    g.inception("inception_3b", "inception_3a/output")
    g.pool("pool3/3x3_s2", "inception_3b/output", 3, 2)
    prev = "pool3/3x3_s2"
    for m in "abcde":
        g.inception(f"inception_4{m}", prev)
        prev = f"inception_4{m}/output"
    g.pool("pool4/3x3_s2", prev, 3, 2)
    g.inception("inception_5a", "pool4/3x3_s2")
    g.inception("inception_5b", "inception_5a/output")
    return g


def vgg16(w, **options):
    g = Graph(w, **options)
    prev = "data"
    for b, n in enumerate([2, 2, 3, 3, 3], start=1):
        for c in range(1, n + 1):
            g.conv(f"block{b}_conv{c}", prev, pad=1)
            prev = f"block{b}_conv{c}"
        g.pool(f"block{b}_pool", prev, 2, 2, ceil=False)
        prev = f"block{b}_pool"
    return g


NETWORKS = {"squeezenet": squeezenet, "googlenet": googlenet, "vgg16": vgg16}


def read_image(path, shape):
    """NHWC float32 file of [height, width] -> NCHW tensor."""
    h, w = shape
    return torch.from_numpy(np.fromfile(path, dtype="<f4").reshape(1, h, w, 3)).permute(0, 3, 1, 2).contiguous()


def gram(f):
    _, c, h, w = f.shape
    m = f.reshape(c, h * w)
    return m @ m.t() / (h * w * c)


def mse(a, b):
    return torch.mean((a - b) ** 2)


def tv(x):
    return torch.mean((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2) + torch.mean((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2)


def minimize_lbfgsb(evaluate, x, settings):
    """SciPy's L-BFGS-B on `evaluate` from `x`; the loss at every evaluation, in order."""
    import scipy
    from scipy.optimize import Bounds, minimize

    losses = []
    shape = x.shape

    def fun(flat):
        with torch.no_grad():
            x.copy_(torch.from_numpy(flat).reshape(shape))
        loss = evaluate()
        losses.append(loss)
        return loss, x.grad.detach().numpy().ravel().copy()

    # Bounds per channel (NCHW), broadcast to every pixel.
    lower = np.broadcast_to(np.array(settings["lower"], dtype=np.float64).reshape(1, 3, 1, 1), shape).ravel()
    upper = np.broadcast_to(np.array(settings["upper"], dtype=np.float64).reshape(1, 3, 1, 1), shape).ravel()
    result = minimize(
        fun,
        x.detach().numpy().astype(np.float64).ravel(),
        jac=True,
        method="L-BFGS-B",
        bounds=Bounds(lower, upper),
        options={"maxfun": settings["maxfun"], "maxcor": settings["m"], "maxiter": 10**6, "ftol": 0, "gtol": 0},
    )
    return {
        "losses": losses,
        "nit": int(result.nit),
        "nfev": int(result.nfev),
        "message": str(result.message),
        "scipy": scipy.__version__,
        "torch": torch.__version__,
    }


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    # As many threads as Restyle's backends use (Debian's build starts with one on some machines).
    torch.set_num_threads(os.cpu_count() or 1)
    size = spec["size"]
    shapes = {name: spec.get("shapes", {}).get(name, [size, size]) for name in ("x", "content", "style")}
    dtype = torch.float64 if "optimize" in spec else torch.float32
    options = {"pooling": spec.get("pooling", "max"), "padding": spec.get("padding", "zero")}
    weights = {k: v.to(dtype) for k, v in load_weights(spec["weights"]).items()}
    net = NETWORKS[spec["network"]](weights, **options)
    content_layers, style_layers = spec["contentLayers"], spec["styleLayers"]
    layers = list(dict.fromkeys([*content_layers, *style_layers]))
    with torch.no_grad():
        content = net.features(read_image(spec["inputs"]["content"], shapes["content"]).to(dtype), list(content_layers))
        style = net.features(read_image(spec["inputs"]["style"], shapes["style"]).to(dtype), list(style_layers))
        grams = {name: gram(style[name]) for name in style_layers}
        scale = (lambda t: 1 / max(torch.mean(t * t).item(), 1e-12)) if spec["normalize"] else (lambda t: 1.0)
        content_scales = {name: scale(t) for name, t in content.items()}
        style_scales = {name: scale(t) for name, t in grams.items()}
    x = read_image(spec["inputs"]["x"], shapes["x"]).to(dtype).requires_grad_(True)

    def evaluate():
        x.grad = None
        feats = net.features(x, layers)
        c = sum(w * content_scales[n] * mse(feats[n], content[n]) for n, w in content_layers.items())
        s = sum(w * style_scales[n] * mse(gram(feats[n]), grams[n]) for n, w in style_layers.items())
        total = spec["contentWeight"] * c + spec["styleWeight"] * s + spec["tvWeight"] * tv(x)
        total.backward()
        return total.item()

    if "optimize" in spec:
        print(json.dumps(minimize_lbfgsb(evaluate, x, spec["optimize"])))
        return

    loss = evaluate()  # warm-up
    if spec.get("serve"):
        # Interleaved with Restyle by the bench: one timed evaluation per "eval" line.
        print(json.dumps({"ready": True, "loss": loss, "threads": torch.get_num_threads(),
                          "torch": torch.__version__}), flush=True)
        for line in sys.stdin:
            if line.strip() != "eval":
                break
            start = time.perf_counter()
            evaluate()
            print(json.dumps({"ms": (time.perf_counter() - start) * 1000}), flush=True)
        return
    times = []
    for _ in range(spec.get("repeat", 3)):
        start = time.perf_counter()
        evaluate()
        times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({
        "ms": statistics.median(times),
        "loss": loss,
        "gradAbsMax": x.grad.abs().max().item(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
