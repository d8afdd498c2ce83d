"""Multi-source bundles: every family's mask from one pass; a query is a weighting of the families.

A multi-source separator graph (``separator.families`` in the manifest) also outputs each source's
complex mask (``family_re``, ``family_im`` [B, S, T, F]: the families, then "other") and the router's
weights for its condition (``routes`` [Bc, K]). Its contract outputs (mask, cos, sin) are the routed
sum of the family masks, so any runtime can use it as a plain separator; this module lets ours run
the graph once per segment for any number of queries: a query becomes a weight vector over the
sources (``FamilyHead.weights``), and its mask is the weighted sum of the family masks.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from .errors import BundleError

FAMILY_OUTPUTS = ("family_re", "family_im")
ROUTES_OUTPUT = "routes"
OTHER = "other"
PHASE_FLOOR = 1e-10


def families_of(raw_manifest: dict) -> List[str]:
    """The manifest's family names ([] for a separator without a family head)."""
    fams = (raw_manifest.get("separator") or {}).get("families")
    if fams is None:
        return []
    if not isinstance(fams, list) or not fams or not all(isinstance(f, str) and f.strip() for f in fams):
        raise BundleError("manifest 'separator.families' must be a non-empty list of family names")
    if len(set(fams)) != len(fams) or OTHER in fams:
        raise BundleError("manifest 'separator.families' must name each family once, and not 'other'")
    return list(fams)


class FamilyHead:
    """Turns conditions into source weights and weights into masks, for one multi-source bundle."""

    def __init__(self, core, families: Sequence[str]):
        self.core = core
        self.families = list(families)
        self.sources = self.families + [OTHER]

    def routes(self, emb: np.ndarray) -> np.ndarray:
        """Sentence embeddings [Q, D] -> the router's family weights [Q, K] in [0, 1]."""
        core = self.core
        mag = np.ones((1, 1, core.time_multiple, core.fb), np.float32)
        sess = core.bundle.separator_session
        (routes,) = sess.run([ROUTES_OUTPUT], {"magnitude": mag, "condition": np.asarray(emb, np.float32)})
        if routes.shape != (len(emb), len(self.families)):
            raise BundleError(f"{core.bundle.path}: the router gives {routes.shape[1:]} weights per query, "
                              f"the manifest names {len(self.families)} families")
        return routes.astype(np.float32)

    def weights(self, emb: np.ndarray) -> np.ndarray:
        """Embeddings [Q, D] -> weights over every source [Q, S] ("other" gets 0)."""
        r = self.routes(emb)
        return np.concatenate([r, np.zeros((len(r), 1), np.float32)], axis=1)

    def selectors(self, names: Sequence[str]) -> np.ndarray:
        """One-hot weights [len(names), S] that pick the named sources (families or "other")."""
        out = np.zeros((len(names), len(self.sources)), np.float32)
        for i, n in enumerate(names):
            out[i, self.sources.index(n)] = 1.0
        return out

    def family_masks(self, mag: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """mag [B, 1, T, F] -> complex masks of every source as (re, im), each [B, S, T, F]."""
        core = self.core
        sess = core.bundle.separator_session
        cond = np.zeros((1, core.cond_dim), np.float32)
        re, im = core.run_batched(sess, mag, lambda i, j: {"magnitude": mag[i:j], "condition": cond},
                                  outputs=FAMILY_OUTPUTS)
        return re, im

    def masks(self, mag: np.ndarray, weights: np.ndarray):
        """mag [B,1,T,F] x weights [Q,S] -> (mask, cos, sin) [Q*B,1,T,F], query-major (one graph pass)."""
        re, im = self.family_masks(mag)
        w = np.asarray(weights, np.float32)
        if np.all(np.count_nonzero(w, axis=1) == 1) and np.all(w.max(axis=1) == 1.0):  # selectors (a split)
            idx = w.argmax(axis=1)
            q_re, q_im = re[:, idx].transpose(1, 0, 2, 3), im[:, idx].transpose(1, 0, 2, 3)
        else:
            q_re = np.einsum("qs,bstf->qbtf", w, re, optimize=True)
            q_im = np.einsum("qs,bstf->qbtf", w, im, optimize=True)
        mag_q = np.sqrt(np.maximum(q_re * q_re + q_im * q_im, np.float32(PHASE_FLOOR ** 2)))
        shape = (w.shape[0] * mag.shape[0], 1) + mag.shape[2:]
        return (mag_q.reshape(shape), (q_re / mag_q).reshape(shape), (q_im / mag_q).reshape(shape))
