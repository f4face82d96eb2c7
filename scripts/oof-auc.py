#!/usr/bin/env python3
# Usage: scripts/oof-auc.py FOLD.csv... (no dependencies)
#
# The out-of-fold AUC of cross-validation folds kept as prediction files (`id,label,prob`, a
# run's valid_predictions.csv), as `histoboard cv` computes it from run folders: each fold's
# AUC, their mean, and the AUC over every tile pooled (ties counted half). It lets folds trained
# in different sessions, whose run folders are gone, be judged together (BENCHMARKS.md keeps
# the best.toml folds under benchmarks/).
import csv, sys
def auc(rows):
    rows = sorted(rows, key=lambda r: r[1])
    pos = sum(y for y, _ in rows); neg = len(rows) - pos
    rank_sum, i = 0.0, 0
    while i < len(rows):
        j = i
        while j < len(rows) and rows[j][1] == rows[i][1]: j += 1
        mid = (i + j + 1) / 2  # mean 1-based rank of the tied block
        rank_sum += mid * sum(y for y, _ in rows[i:j]); i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)
pooled, per, seen = [], [], set()
for path in sys.argv[1:]:
    rows = [(int(r['label']), float(r['prob'])) for r in csv.DictReader(open(path)) if r['prob'] != 'NaN']
    ids = {r['id'] for r in csv.DictReader(open(path))}
    if ids & seen: sys.exit(f'{path}: tiles already in an earlier fold: not disjoint folds')
    seen |= ids; per.append(auc(rows)); pooled += rows
    print(f'{path}: {len(rows)} tiles, AUC {per[-1]:.4f}')
print(f'{len(per)} folds: mean AUC {sum(per) / len(per):.4f}; pooled (out-of-fold) AUC {auc(pooled):.4f} over {len(pooled)} tiles')
