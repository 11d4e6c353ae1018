"""Times Debian's python3-sklearn learning the same samples online, for scripts/bench.

Reads the frames `kms-bench train --export FILE` wrote (msgpack maps, concatenated) and, as the
trainer does, decodes each one and feeds it, one sample at a time, to two
SGDRegressor.partial_fit models: core (cpu_cycles, cpu_instructions, cpu_time + architecture
one-hot -> core watts) and dram (cache_misses, resident_memory + one-hot -> dram watts).
SGD needs standardized inputs; the scaling is computed up front, outside the timing, which
favours scikit-learn.

Prints one line: samples=<n> seconds=<s> samples_per_s=<rate> core_r2=<fit> dram_r2=<fit>.
"""
import sys
import time

import msgpack
import numpy as np
from sklearn.linear_model import SGDRegressor
from sklearn.metrics import r2_score

MODELS = {
    "core": ["cpu_cycles", "cpu_instructions", "cpu_time"],
    "dram": ["cache_misses", "resident_memory"],
}


def rows(sample, archs):
    """The design rows of one decoded sample: {model: (x, y)}."""
    onehot = [1.0 if sample["arch"] == a else 0.0 for a in archs]
    feats, targets = sample["features"], sample["targets"]
    return {m: ([feats[f] for f in names] + onehot, targets[m]) for m, names in MODELS.items()}


def unpacker(data):
    u = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=len(data) + 1)
    u.feed(data)
    return u


def main(path, limit):
    with open(path, "rb") as f:
        data = f.read()
    samples = list(unpacker(data))
    samples = samples[:limit] if limit else samples
    archs = sorted({s["arch"] for s in samples})
    scale = {}
    for m in MODELS:
        x = np.array([rows(s, archs)[m][0] for s in samples])
        mean, std = x.mean(axis=0), x.std(axis=0)
        scale[m] = (mean, np.where(std > 0, std, 1.0))
    models = {m: SGDRegressor(learning_rate="invscaling", eta0=0.01, random_state=0) for m in MODELS}

    start = time.perf_counter()
    n = 0
    for sample in unpacker(data):
        if n == len(samples):
            break
        for m, (x, y) in rows(sample, archs).items():
            mean, std = scale[m]
            models[m].partial_fit(((np.array(x) - mean) / std).reshape(1, -1), [y])
        n += 1
    elapsed = time.perf_counter() - start

    fit = []
    for m in MODELS:
        x = np.array([rows(s, archs)[m][0] for s in samples])
        y = np.array([rows(s, archs)[m][1] for s in samples])
        mean, std = scale[m]
        fit.append(f"{m}_r2={r2_score(y, models[m].predict((x - mean) / std)):.4f}")
    print(f"samples={n} seconds={elapsed:.3f} samples_per_s={n / elapsed:.0f} {' '.join(fit)}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
