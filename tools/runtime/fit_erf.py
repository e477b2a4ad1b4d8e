#!/usr/bin/env python3
"""Fits the rational erf approximation of Sources/AdapterCore/Runtime/FloatKernels.swift (`erf`).

erf(x) ≈ x·P(x²)/Q(x²) on [0, 4] (x is clamped to [-4, 4]; beyond, erf is ±1 in single
precision), P of degree 6 and Q of degree 4 in x², Q(0) = 1, by iteratively reweighted linear least
squares (f·Q − P = 0 weighted by 1/|Q|). Prints the coefficients and the largest error of the
single-precision Horner evaluation against double-precision erf over [-6, 6].
Needs numpy and scipy (tools only; nothing in the build runs this).
"""
import numpy as np
from scipy.special import erf

x = np.linspace(1e-6, 4, 20001)
u = x * x
f = erf(x) / x
P_TERMS, Q_TERMS = 7, 5
w = np.ones_like(x)
for _ in range(30):
    a = np.hstack([-np.vstack([u ** k for k in range(P_TERMS)]).T,
                   f[:, None] * np.vstack([u ** k for k in range(1, Q_TERMS)]).T])
    sol = np.linalg.lstsq(a * w[:, None], -f * w, rcond=None)[0]
    p, q = sol[:P_TERMS], np.concatenate([[1], sol[P_TERMS:]])
    w = 1 / np.abs(sum(q[k] * u ** k for k in range(Q_TERMS)))

xs = np.linspace(-6, 6, 2_000_001).astype(np.float32)
c = np.clip(xs, np.float32(-4), np.float32(4))
uu = c * c
pn = np.float32(0)
for coefficient in p.astype(np.float32)[::-1]:
    pn = (pn * uu + coefficient).astype(np.float32)
qn = np.float32(0)
for coefficient in q.astype(np.float32)[::-1]:
    qn = (qn * uu + coefficient).astype(np.float32)
approx = np.clip((c * pn / qn).astype(np.float32), -1, 1)
print("P (x^0, x^2, ...):", ", ".join("%.9e" % v for v in p))
print("Q (x^0, x^2, ...):", ", ".join("%.9e" % v for v in q))
print("largest |erf error| in single precision over [-6, 6]: %.2e" % np.max(np.abs(approx - erf(xs.astype(np.float64)))))
