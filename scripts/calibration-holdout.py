#!/usr/bin/env python3
# Usage: scripts/calibration-holdout.py RUN/valid_predictions.csv (no dependencies).
#
# Independent check of `histoboard calibrate`: ECE (15 bins, (k/15,(k+1)/15]) and the NLL-optimal
# temperature in pure Python, on the full file and fitted on one half / measured on the other.
import csv, math, sys
rows = [(int(r['label']), float(r['prob'])) for r in csv.DictReader(open(sys.argv[1])) if r['prob'] != 'NaN']
def logit(p):
    p = min(max(p, 5e-7), 1 - 5e-7); return math.log(p / (1 - p))
def scale(p, t):
    if p <= 0 or p >= 1: return p
    return 1 / (1 + math.exp(-math.log(p / (1 - p)) / t))
def ece(rs, t=1.0):
    bins = [[0, 0.0, 0] for _ in range(15)]
    for y, p in rs:
        q = min(max(scale(p, t), 0.0), 1.0)
        k = min(max(math.ceil(q * 15), 1), 15) - 1
        bins[k][0] += 1; bins[k][1] += q; bins[k][2] += y
    return sum(c / len(rs) * abs(pos / c - s / c) for c, s, pos in bins if c)
def nll(rs, t):
    tot = 0.0
    for y, p in rs:
        x = -(1 if y else -1) * logit(p) / t
        tot += max(x, 0) + math.log1p(math.exp(-abs(x)))
    return tot / len(rs)
def fit(rs):
    a, b = math.log(0.01), math.log(100); g = (5 ** 0.5 - 1) / 2
    for _ in range(200):
        c, d = b - g * (b - a), a + g * (b - a)
        if nll(rs, math.exp(c)) < nll(rs, math.exp(d)): b = d
        else: a = c
    return math.exp((a + b) / 2)
t = fit(rows)
print(f"all {len(rows)}: T {t:.4f}  NLL {nll(rows,1):.4f} -> {nll(rows,t):.4f}  ECE {ece(rows):.4f} -> {ece(rows,t):.4f}")
halves = [rows[0::2], rows[1::2]]
for i in (0, 1):
    fit_on, test = halves[i], halves[1 - i]
    th = fit(fit_on)
    print(f"fit on half {i} ({len(fit_on)}), measured on the other ({len(test)}): T {th:.4f}  NLL {nll(test,1):.4f} -> {nll(test,th):.4f}  ECE {ece(test):.4f} -> {ece(test,th):.4f}")
