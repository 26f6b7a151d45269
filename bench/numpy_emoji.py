"""The speed benchmark's numpy twin: the exact empirical denoiser on the emoji set with Euler (EDM, Karras grid),
the same computation as `iia sample --model data:emoji --solver euler --steps 20 --n 1024` in float32, timed as a
whole process. Prints one JSON line. Usage: python3 bench/numpy_emoji.py [N_SAMPLES] [STEPS] [BATCH]"""
import gzip
import json
import os
import sys
import time

t_start = time.perf_counter()
import numpy as np  # noqa: E402

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
with gzip.open(os.path.join(root, "data", "emoji-images.npy.gz"), "rb") as f:
    images = np.load(f)
Y = (images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(127.5)) - np.float32(1.0)
Yt = np.ascontiguousarray(Y.T)
Y2 = (Y * Y).sum(axis=1)

# Karras et al. 2022, eq. 5: sigma_max 80, sigma_min 0.002, rho 7, then 0.
rho, smin, smax = 7.0, 0.002, 80.0
i = np.arange(steps)
sig = (smax ** (1 / rho) + i / (steps - 1) * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
sig = np.append(sig, 0.0)

rng = np.random.default_rng(0)
denoise_s = 0.0
flops = 0.0
out = np.empty((n, Y.shape[1]), np.float32)
for start in range(0, n, batch):
    m = min(batch, n - start)
    y = (rng.standard_normal((m, Y.shape[1])) * smax).astype(np.float32)
    for k in range(steps):
        s, s_next = sig[k], sig[k + 1]
        t0 = time.perf_counter()
        # exact empirical denoiser: softmax over -|y - Y_n|^2 / (2 sigma^2), then the weighted mean of Y
        logits = (y @ Yt - 0.5 * Y2[None, :]) * np.float32(1.0 / (s * s))
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        D = logits @ Y
        denoise_s += time.perf_counter() - t0
        flops += 4.0 * m * Y.shape[0] * Y.shape[1]
        # Euler step in sigma (Karras et al. 2022, Algorithm 1 without the correction)
        y = y + np.float32(s_next - s) * (y - D) / np.float32(s)
    out[start:start + m] = y
total = time.perf_counter() - t_start
print(json.dumps({"seconds": total, "denoiser_seconds": denoise_s, "gflops": flops / denoise_s / 1e9,
                  "numpy": np.__version__, "n": n, "steps": steps, "finite": bool(np.isfinite(out).all())}))
