"""Fast multi-person decoding of Lightweight OpenPose outputs (keypoint heatmaps + part affinity fields).

Everything happens at map resolution (stride 8), vectorized in NumPy:

1. **Peaks**: cells above ``peak_threshold`` that are a local maximum of their 3x3 neighbourhood (ties broken in
   raster order so a plateau yields one peak), at most ``max_peaks_per_type`` per keypoint type (the strongest).
2. **Sub-cell refinement**: a parabola through the logarithms of the 3 values along x and along y (exact for a
   Gaussian blob, which is what the network is trained to output), clipped to half a cell.
3. **Limb scoring**: for every limb, all candidate pairs at once: the PAF is sampled at ``paf_samples`` points along
   each segment (nearest cell) and projected on the segment's unit vector; a pair is kept when the mean of the
   samples above ``min_paf_score`` is positive and more than ``success_ratio`` of the samples pass.
4. **Matching**: per limb, greedy one-to-one matching by decreasing limb score.
5. **Assembly**: people grow from the neck outward in :data:`pose_format.DECODE_LIMB_ORDER`; the ear-shoulder limbs
   (:data:`pose_format.EAR_SHOULDER_LIMBS`) only fill missing keypoints or join two fragments with disjoint keypoints.

Coordinates: map cell ``(i, j)`` is centred on network-input pixel ``(8 i + 3.5, 8 j + 3.5)``
(:func:`pose_format.cell_centers`); returned keypoints are in network-input pixels.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from functools import lru_cache

import numpy as np

from pose_format import (
    DECODE_LIMB_ORDER,
    EAR_SHOULDER_LIMBS,
    LIMBS,
    NUM_HEATMAPS,
    NUM_KEYPOINTS,
    NUM_PAFS,
    PAF_CHANNELS,
    STRIDE,
    cell_centers,
)
from ov_inference.pose import Pose

__all__ = ["DecoderOptions", "Peaks", "decode_poses", "find_peaks"]

log = logging.getLogger(__name__)

#: PAF channel of the x and y component of each limb.
_PAF_X = np.array([cx for cx, _ in PAF_CHANNELS], dtype=np.intp)
_PAF_Y = np.array([cy for _, cy in PAF_CHANNELS], dtype=np.intp)
#: Values at or below this are treated as "no signal" in the logarithmic sub-cell fit.
_LOG_FLOOR = 1e-6


@dataclass(frozen=True)
class DecoderOptions:
    """Tuning knobs of :func:`decode_poses` (defaults follow the original decoder where it has one).

    - ``peak_threshold``: minimum heatmap value of a keypoint peak.
    - ``max_peaks_per_type``: the strongest peaks kept per keypoint type (bounds the time on noisy maps).
    - ``paf_samples``: points sampled along each candidate limb.
    - ``min_paf_score``: a sample passes when the PAF projected on the limb direction exceeds this.
    - ``success_ratio``: a limb needs more than this fraction of passing samples.
    - ``min_keypoints``: people with fewer keypoints are dropped.
    - ``min_mean_score``: people whose ``score / num_keypoints`` is below this are dropped.
    """

    peak_threshold: float = 0.1
    max_peaks_per_type: int = 100
    paf_samples: int = 10
    min_paf_score: float = 0.05
    success_ratio: float = 0.8
    min_keypoints: int = 3
    min_mean_score: float = 0.2

    def __post_init__(self) -> None:
        if self.max_peaks_per_type < 1:
            raise ValueError(f"max_peaks_per_type must be >= 1, got {self.max_peaks_per_type}")
        if self.paf_samples < 2:
            raise ValueError(f"paf_samples must be >= 2, got {self.paf_samples}")
        if not 0.0 <= self.success_ratio < 1.0:
            raise ValueError(f"success_ratio must be in [0, 1), got {self.success_ratio}")

    @classmethod
    def from_kwargs(cls, **options) -> "DecoderOptions":
        """Build options from keyword arguments, rejecting unknown names with the list of valid ones."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise TypeError(f"unknown decoder option(s) {unknown}; valid options: {sorted(names)}")
        return replace(cls(), **options)


@dataclass
class Peaks:
    """Keypoint candidates of all types, sorted by type.

    ``types`` int ``[N]``; ``xy`` float32 ``[N, 2]`` refined positions in *map cells* (cell ``(i, j)`` at ``(i, j)``);
    ``conf`` float32 ``[N]`` heatmap values; ``starts`` int ``[19]``: peaks of type ``k`` are ``starts[k]:starts[k+1]``.
    """

    types: np.ndarray
    xy: np.ndarray
    conf: np.ndarray
    starts: np.ndarray

    def of_type(self, k: int) -> slice:
        return slice(int(self.starts[k]), int(self.starts[k + 1]))


def _check_maps(heatmaps, pafs) -> tuple[np.ndarray, np.ndarray]:
    hm = np.asarray(heatmaps)
    pf = np.asarray(pafs)
    if hm.ndim == 4 and hm.shape[0] == 1:
        hm = hm[0]
    if pf.ndim == 4 and pf.shape[0] == 1:
        pf = pf[0]
    expected = (f"expected heatmaps [{NUM_KEYPOINTS} or {NUM_HEATMAPS}, h, w] and pafs [{NUM_PAFS}, h, w] "
                f"with the same h, w >= 1")
    if hm.ndim != 3 or hm.shape[0] not in (NUM_KEYPOINTS, NUM_HEATMAPS):
        raise ValueError(f"{expected}; got heatmaps of shape {hm.shape}")
    if pf.ndim != 3 or pf.shape[0] != NUM_PAFS:
        raise ValueError(f"{expected}; got pafs of shape {pf.shape}")
    if hm.shape[1:] != pf.shape[1:] or min(hm.shape[1:]) < 1:
        raise ValueError(f"{expected}; got heatmaps {hm.shape} and pafs {pf.shape}")
    if not (np.issubdtype(hm.dtype, np.number) and np.issubdtype(pf.dtype, np.number)):
        raise ValueError(f"heatmaps and pafs must be numeric arrays, got {hm.dtype} and {pf.dtype}")
    return hm[:NUM_KEYPOINTS].astype(np.float32, copy=False), pf.astype(np.float32, copy=False)


def _vertex_offset(samples: np.ndarray) -> np.ndarray:
    """Sub-cell offsets in ``[-0.5, 0.5]`` of maxima through 3 equally spaced samples ``[3, ...]`` (left, centre, right).

    A parabola through the logarithms (exact for a Gaussian) where all three values are positive, else through the
    values themselves where they are finite; 0 where a neighbour is missing (``-inf``: map border) or the fit is
    not a maximum.
    """
    positive = (samples > _LOG_FLOOR).all(axis=0)
    finite = np.isfinite(samples).all(axis=0)
    fit = np.log(np.maximum(samples, _LOG_FLOOR))
    np.copyto(fit, samples, where=~positive & finite)
    fit[:, ~finite] = 0.0
    den = fit[0] + fit[2] - 2.0 * fit[1]
    den[den > -1e-9] = -np.inf  # not a maximum: offset 0
    off = (fit[0] - fit[2]) / den
    off *= 0.5
    return np.clip(off, -0.5, 0.5, out=off)


@lru_cache(maxsize=16)
def _padded_index(k_n: int, h: int, w: int) -> np.ndarray:
    """Flat index in a ``[k_n, h + 2, w + 2]`` padded copy of each cell of a ``[k_n, h, w]`` map."""
    return np.arange(k_n * (h + 2) * (w + 2)).reshape(k_n, h + 2, w + 2)[:, 1:-1, 1:-1].ravel()


def find_peaks(keypoint_maps: np.ndarray, threshold: float = 0.1, max_per_type: int = 100) -> Peaks:
    """Local maxima of ``keypoint_maps`` float32 ``[18, h, w]`` with sub-cell refinement (see the module doc).

    Only cells above ``threshold`` are examined, so the cost follows the signal, not the map size. NaN cells are
    never peaks and never suppress a neighbour.
    """
    k_n, h, w = keypoint_maps.shape
    cand = np.flatnonzero(keypoint_maps > threshold)
    if len(cand) == 0:
        return Peaks(np.zeros(0, np.intp), np.zeros((0, 2), np.float32), np.zeros(0, np.float32),
                     np.zeros(k_n + 1, np.intp))
    pw = w + 2
    padded = np.full((k_n, h + 2, pw), -np.inf, dtype=np.float32)
    padded[:, 1:-1, 1:-1] = keypoint_maps
    flat = padded.ravel()
    base = _padded_index(k_n, h, w)[cand]
    # Rows: left, up, centre, centre, right, down, then the diagonals up-left, up-right, down-left, down-right.
    # A NaN neighbour compares False both ways, so it is replaced by -inf.
    nb = flat[np.array([-1, -pw, 0, 0, 1, pw, -pw - 1, -pw + 1, pw - 1, pw + 1])[:, None] + base]
    np.copyto(nb, -np.inf, where=np.isnan(nb))
    v = nb[2]
    # Ties: a cell must be >= its neighbours before it in raster order and > those after, so a plateau gives one peak.
    before = np.maximum(np.maximum(nb[0], nb[1]), np.maximum(nb[6], nb[7]))
    after = np.maximum(np.maximum(nb[4], nb[5]), np.maximum(nb[8], nb[9]))
    sel = np.flatnonzero((before <= v) & (after < v))
    cand, nb = cand[sel], nb[:6, sel]
    v = nb[2]
    c, rem = np.divmod(cand, h * w)
    counts = np.bincount(c, minlength=k_n)
    if counts.max(initial=0) > max_per_type:
        order = np.lexsort((-v, c))  # by type, strongest first
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rank = np.arange(len(order)) - starts[c[order]]
        keep = np.sort(order[rank < max_per_type])
        log.debug("peaks capped at %d per type (%d found)", max_per_type, len(c))
        c, rem, nb = c[keep], rem[keep], nb[:, keep]
        v = nb[2]
        counts = np.bincount(c, minlength=k_n)
    y, x = np.divmod(rem, w)
    # (left, centre, right) along x and (up, centre, down) along y: [3, 2, N].
    off = _vertex_offset(nb.reshape(3, 2, -1))
    xy = np.empty((len(v), 2), dtype=np.float32)
    xy[:, 0] = x + off[0]
    xy[:, 1] = y + off[1]
    conf = np.minimum(v, np.finfo(np.float32).max)
    return Peaks(c, xy, conf, np.concatenate(([0], np.cumsum(counts))))


def _limb_pairs(peaks: Peaks, limbs: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every candidate (from, to) peak pair of every limb in ``limbs``: ``(limb, ga, gb)`` with global peak indices."""
    ends = np.array([LIMBS[limb] for limb in limbs])
    sa, sb = peaks.starts[ends[:, 0]], peaks.starts[ends[:, 1]]
    na, nb = peaks.starts[ends[:, 0] + 1] - sa, peaks.starts[ends[:, 1] + 1] - sb
    n_pairs = na * nb
    total = int(n_pairs.sum())
    which = np.repeat(np.arange(len(limbs)), n_pairs)
    local = np.arange(total) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs)
    nb_w = nb[which]
    return np.asarray(limbs)[which], sa[which] + local // nb_w, sb[which] + local % nb_w


@lru_cache(maxsize=8)
def _sample_steps(n: int) -> np.ndarray:
    """``n`` evenly spaced fractions from 0 to 1 (float32, read-only)."""
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)
    t.flags.writeable = False
    return t


def _score_pairs(xy: np.ndarray, limb: np.ndarray, ga: np.ndarray, gb: np.ndarray, pafs: np.ndarray,
                 opts: DecoderOptions) -> tuple[np.ndarray, np.ndarray]:
    """PAF line integral of candidate pairs (positions ``xy`` in map cells): ``(accepted mask, score)``.

    The PAF of the pair's limb is sampled at ``paf_samples`` evenly spaced points of the segment (nearest cell) and
    projected on the segment's unit vector; the score is the mean of the samples above ``min_paf_score``.
    """
    _, h, w = pafs.shape
    # Sample positions + 0.5, kept inside [0, size) so that truncation gives the nearest cell, in bounds.
    pos = np.clip(xy + 0.5, 0.0, np.array([w - 1e-3, h - 1e-3], dtype=np.float32))
    ax, ay = pos[ga, 0], pos[ga, 1]
    dx, dy = pos[gb, 0] - ax, pos[gb, 1] - ay
    norm = np.sqrt(dx * dx + dy * dy)
    inv = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 1e-6)
    t = _sample_steps(opts.paf_samples)[:, None]
    # [S, n] flat cell index of each sample.
    idx = (ay + dy * t).astype(np.intp)
    idx *= w
    idx += (ax + dx * t).astype(np.intp)
    flat = pafs.reshape(-1)
    s = flat[idx + _PAF_X[limb] * (h * w)] * (dx * inv) + flat[idx + _PAF_Y[limb] * (h * w)] * (dy * inv)
    passed = s > opts.min_paf_score  # NaN samples fail
    n_pass = passed.sum(axis=0)
    np.copyto(s, 0.0, where=~passed)
    score = s.sum(axis=0) / np.maximum(n_pass, 1)
    return (score > 0) & (n_pass > opts.success_ratio * opts.paf_samples), score


def _greedy_match(limb: np.ndarray, ga: np.ndarray, gb: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of a one-to-one matching per limb, chosen greedily by decreasing score (each peak once per limb)."""
    order = np.lexsort((-score, limb))
    used_a, used_b, keep = set(), set(), []
    for t, l, i, j in zip(order.tolist(), limb[order].tolist(), ga[order].tolist(), gb[order].tolist()):
        if (l, i) not in used_a and (l, j) not in used_b:
            used_a.add((l, i))
            used_b.add((l, j))
            keep.append(t)
    return np.asarray(keep, dtype=np.intp)


def _roots(parent: np.ndarray) -> np.ndarray:
    """Root of every node of a forest given by ``parent`` (a root is its own parent), by pointer jumping."""
    root = parent
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            return root
        root = nxt


def _assemble(peaks: Peaks, limb: np.ndarray, ga: np.ndarray, gb: np.ndarray, score: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Group matched limbs into people: ``(members [P, 18] peak index or -1, score [P])``.

    Tree limbs (:data:`DECODE_LIMB_ORDER`, every keypoint type reached by one limb from the neck) make a forest in
    which every peak has at most one parent; the people are its trees, exactly as growing them limb by limb from
    the neck outward gives. Ear-shoulder limbs then join two people whose keypoint types are disjoint (filling a
    missing ear or shoulder, or re-uniting a person whose neck was not found), strongest first. A person's score
    is the sum of its keypoint confidences and of the scores of the limbs that joined it.
    """
    n = len(peaks.conf)
    extra = (limb == EAR_SHOULDER_LIMBS[0]) | (limb == EAR_SHOULDER_LIMBS[1])
    tree = ~extra
    parent = np.arange(n)
    parent[gb[tree]] = ga[tree]
    root = _roots(parent)
    is_root = root == np.arange(n)
    person = (np.cumsum(is_root) - 1)[root]
    n_people = int(is_root.sum())
    members = np.full((n_people, NUM_KEYPOINTS), -1, dtype=np.intp)
    members[person, peaks.types] = np.arange(n)
    total = np.bincount(person, weights=peaks.conf, minlength=n_people)
    total += np.bincount(person[gb[tree]], weights=score[tree], minlength=n_people)
    if extra.any():
        idx = np.flatnonzero(extra)
        for i in idx[np.argsort(-score[idx], kind="stable")].tolist():
            pa, pb = person[ga[i]], person[gb[i]]
            if pa == pb:
                continue
            ma, mb = members[pa], members[pb]
            if ((ma >= 0) & (mb >= 0)).any():
                continue
            np.maximum(ma, mb, out=ma)
            person[mb[mb >= 0]] = pa
            mb[:] = -1
            total[pa] += total[pb] + score[i]
            total[pb] = 0.0
    return members, total


def decode_poses(heatmaps: np.ndarray, pafs: np.ndarray, stride: int = STRIDE, **options) -> list[Pose]:
    """Decode people from one image's network outputs.

    ``heatmaps``: float32 ``[18 or 19, h, w]`` (a background channel is ignored), ``pafs``: float32 ``[38, h, w]``,
    both at network-output resolution in the channel order of ``pose_format``; a leading batch axis of 1 is
    accepted. ``stride``: input pixels per map cell. ``options``: fields of :class:`DecoderOptions`.

    Returns people sorted by decreasing ``score`` (sum of their keypoint confidences and limb scores), keypoints
    in network-input pixels (cell ``i`` centred on ``stride * i + stride / 2 - 0.5``). Raises ``ValueError``
    naming the expected shapes for maps of the wrong shape.
    """
    opts = DecoderOptions.from_kwargs(**options)
    if stride <= 0:
        raise ValueError(f"stride must be positive, got {stride}")
    hm, pf = _check_maps(heatmaps, pafs)
    peaks = find_peaks(hm, opts.peak_threshold, opts.max_peaks_per_type)
    if len(peaks.conf) == 0:
        return []
    limb, ga, gb = _limb_pairs(peaks, DECODE_LIMB_ORDER + EAR_SHOULDER_LIMBS)
    ok, score = _score_pairs(peaks.xy, limb, ga, gb, pf, opts)
    limb, ga, gb, score = limb[ok], ga[ok], gb[ok], score[ok]
    keep = _greedy_match(limb, ga, gb, score)
    members, total = _assemble(peaks, limb[keep], ga[keep], gb[keep], score[keep])
    count = (members >= 0).sum(axis=1)
    good = np.nonzero((count >= max(opts.min_keypoints, 1)) & (total >= opts.min_mean_score * count))[0]
    good = good[np.argsort(-total[good], kind="stable")]
    offset = float(cell_centers(1, stride)[0])
    result = []
    for p in good.tolist():
        kp = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float32)
        m = members[p]
        have = m >= 0
        kp[have, :2] = peaks.xy[m[have]] * stride + offset
        kp[have, 2] = np.maximum(peaks.conf[m[have]], _LOG_FLOOR)
        result.append(Pose(kp, float(total[p])))
    return result
