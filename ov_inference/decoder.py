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


@dataclass(frozen=True)
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


def _vertex_offset(left: np.ndarray, centre: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Sub-cell offset in ``[-0.5, 0.5]`` of the maximum through 3 equally spaced samples.

    A parabola through the logarithms (exact for a Gaussian) where all three values are positive, else through the
    values themselves; 0 where neither is defined (map border, flat or non-finite neighbourhood).
    """
    with np.errstate(all="ignore"):
        positive = (left > _LOG_FLOOR) & (right > _LOG_FLOOR) & (centre > _LOG_FLOOR)
        ll = np.log(np.where(positive, left, 1.0))
        lc = np.log(np.where(positive, centre, 1.0))
        lr = np.log(np.where(positive, right, 1.0))
        a = np.where(positive, ll, left)
        c = np.where(positive, lc, centre)
        b = np.where(positive, lr, right)
        den = a - 2.0 * c + b
        off = 0.5 * (a - b) / den
    ok = np.isfinite(off) & (den < -1e-12)
    return np.where(ok, np.clip(off, -0.5, 0.5), 0.0).astype(np.float32)


def find_peaks(keypoint_maps: np.ndarray, threshold: float = 0.1, max_per_type: int = 100) -> Peaks:
    """Local maxima of ``keypoint_maps`` float32 ``[18, h, w]`` with sub-cell refinement (see the module doc).

    Only cells above ``threshold`` are examined, so the cost follows the signal, not the map size. NaN cells are
    never peaks and never suppress a neighbour.
    """
    k_n, h, w = keypoint_maps.shape
    with np.errstate(invalid="ignore"):
        cand = np.flatnonzero(keypoint_maps > threshold)
    if len(cand) == 0:
        empty = np.zeros(0, dtype=np.float32)
        return Peaks(np.zeros(0, dtype=np.int64), np.zeros((0, 2), np.float32), empty, np.zeros(k_n + 1, np.int64))
    padded = np.full((k_n, h + 2, w + 2), -np.inf, dtype=np.float32)
    padded[:, 1:-1, 1:-1] = keypoint_maps
    flat = padded.ravel()
    c, rem = np.divmod(cand, h * w)
    y, x = np.divmod(rem, w)
    pw = w + 2
    base = c * ((h + 2) * pw) + (y + 1) * pw + (x + 1)
    # Neighbours: 4 before the centre in raster order (ties allowed), 4 after (must be strictly lower).
    offsets = np.array([-pw - 1, -pw, -pw + 1, -1, 1, pw - 1, pw, pw + 1])
    nb = flat[base[:, None] + offsets[None, :]]
    nb[np.isnan(nb)] = -np.inf
    v = flat[base]
    is_peak = (v[:, None] >= nb[:, :4]).all(axis=1) & (v[:, None] > nb[:, 4:]).all(axis=1)
    c, y, x, v, nb = c[is_peak], y[is_peak], x[is_peak], v[is_peak], nb[is_peak]
    counts = np.bincount(c, minlength=k_n)
    if counts.max(initial=0) > max_per_type:
        order = np.lexsort((-v, c))  # by type, strongest first
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rank = np.arange(len(order)) - starts[c[order]]
        keep = np.sort(order[rank < max_per_type])
        log.debug("peaks capped at %d per type (%d found)", max_per_type, len(c))
        c, y, x, v, nb = c[keep], y[keep], x[keep], v[keep], nb[keep]
        counts = np.bincount(c, minlength=k_n)
    dx = _vertex_offset(nb[:, 3], v, nb[:, 4])
    dy = _vertex_offset(nb[:, 1], v, nb[:, 6])
    xy = np.stack([x + dx, y + dy], axis=1).astype(np.float32)
    conf = np.minimum(v, np.float32(np.finfo(np.float32).max))
    starts = np.concatenate(([0], np.cumsum(counts)))
    return Peaks(c, xy, conf.astype(np.float32), starts)


def _score_limb(pa: np.ndarray, pb: np.ndarray, paf_x: np.ndarray, paf_y: np.ndarray,
                opts: DecoderOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PAF line integral of every pair (a in ``pa``, b in ``pb``) (positions in map cells).

    Returns the accepted pairs ``(ia, ib, score)``.
    """
    h, w = paf_x.shape
    d = pb[None, :, :] - pa[:, None, :]  # [na, nb, 2]
    norm = np.sqrt((d * d).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(norm[..., None] > 1e-6, d / norm[..., None], 0.0)
    t = np.linspace(0.0, 1.0, opts.paf_samples, dtype=np.float32)
    pts = pa[:, None, None, :] + d[:, :, None, :] * t[None, None, :, None]  # [na, nb, S, 2]
    xi = np.clip(np.rint(pts[..., 0]).astype(np.intp), 0, w - 1)
    yi = np.clip(np.rint(pts[..., 1]).astype(np.intp), 0, h - 1)
    idx = yi * w + xi
    s = paf_x.ravel()[idx] * unit[..., None, 0] + paf_y.ravel()[idx] * unit[..., None, 1]  # [na, nb, S]
    with np.errstate(invalid="ignore"):
        passed = s > opts.min_paf_score
    n_pass = passed.sum(-1)
    mean = np.where(passed, s, 0.0).sum(-1) / np.maximum(n_pass, 1)
    ok = (mean > 0) & (n_pass > opts.success_ratio * opts.paf_samples)
    ia, ib = np.nonzero(ok)
    return ia, ib, mean[ia, ib].astype(np.float32)


def _greedy_match(ia: np.ndarray, ib: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one matching by decreasing score (each a and each b used at most once)."""
    if len(score) <= 1:
        return ia, ib, score
    order = np.argsort(-score, kind="stable")
    ia, ib, score = ia[order], ib[order], score[order]
    used_a, used_b, keep = set(), set(), []
    for t, (i, j) in enumerate(zip(ia.tolist(), ib.tolist())):
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            keep.append(t)
    keep = np.asarray(keep, dtype=np.intp)
    return ia[keep], ib[keep], score[keep]


class _Assembly:
    """People under construction: peak index per keypoint type (-1 = missing), running score and count."""

    def __init__(self, peaks: Peaks):
        self.peaks = peaks
        n = len(peaks.conf)
        self.members = np.full((n + 1, NUM_KEYPOINTS), -1, dtype=np.intp)  # global peak indices
        self.score = np.zeros(n + 1, dtype=np.float64)
        self.count = np.zeros(n + 1, dtype=np.intp)
        self.owner = np.full(n, -1, dtype=np.intp)  # person of each peak
        self.size = 0

    def grow(self, a: int, b: int, ga: np.ndarray, gb: np.ndarray, s: np.ndarray) -> None:
        """Tree limb a -> b: attach each matched b to the person of its a (a new person if a has none)."""
        pid = self.owner[ga]
        new = pid < 0
        if new.any():
            k = int(new.sum())
            pid[new] = np.arange(self.size, self.size + k)
            self.size += k
            self._add(pid[new], a, ga[new], 0.0)
        free = self.members[pid, b] < 0
        self._add(pid[free], b, gb[free], s[free])

    def _add(self, pid: np.ndarray, k: int, g: np.ndarray, s) -> None:
        self.members[pid, k] = g
        self.owner[g] = pid
        self.score[pid] += self.peaks.conf[g] + s
        self.count[pid] += 1

    def join(self, a: int, b: int, ga: np.ndarray, gb: np.ndarray, s: np.ndarray) -> None:
        """Non-tree limb (ear-shoulder): fill a missing end, or merge two fragments with disjoint keypoints."""
        for i, j, sc in zip(ga.tolist(), gb.tolist(), s.tolist()):
            pa, pb = int(self.owner[i]), int(self.owner[j])
            if pa >= 0 and pb < 0 and self.members[pa, b] < 0:
                self._add(np.array([pa]), b, np.array([j]), sc)
            elif pb >= 0 and pa < 0 and self.members[pb, a] < 0:
                self._add(np.array([pb]), a, np.array([i]), sc)
            elif pa >= 0 and pb >= 0 and pa != pb:
                ma, mb = self.members[pa], self.members[pb]
                if not ((ma >= 0) & (mb >= 0)).any():
                    take = mb >= 0
                    ma[take] = mb[take]
                    self.owner[mb[take]] = pa
                    self.score[pa] += self.score[pb] + sc
                    self.count[pa] += self.count[pb]
                    mb[:] = -1
                    self.score[pb] = 0.0
                    self.count[pb] = 0


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
    people = _Assembly(peaks)
    for limb in DECODE_LIMB_ORDER + EAR_SHOULDER_LIMBS:
        a, b = LIMBS[limb]
        sa, sb = peaks.of_type(a), peaks.of_type(b)
        if sa.start == sa.stop or sb.start == sb.stop:
            continue
        cx, cy = PAF_CHANNELS[limb]
        ia, ib, s = _score_limb(peaks.xy[sa], peaks.xy[sb], pf[cx], pf[cy], opts)
        if len(s) == 0:
            continue
        ia, ib, s = _greedy_match(ia, ib, s)
        ga, gb = ia + sa.start, ib + sb.start
        if limb in EAR_SHOULDER_LIMBS:
            people.join(a, b, ga, gb, s)
        else:
            people.grow(a, b, ga, gb, s)
    n = people.size
    count, score, members = people.count[:n], people.score[:n], people.members[:n]
    keep = (count >= opts.min_keypoints) & (score >= opts.min_mean_score * np.maximum(count, 1))
    keep &= count > 0
    order = np.nonzero(keep)[0]
    order = order[np.argsort(-score[order], kind="stable")]
    offset = float(cell_centers(1, stride)[0])
    result = []
    for p in order:
        kp = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float32)
        m = members[p]
        have = m >= 0
        kp[have, :2] = peaks.xy[m[have]] * stride + offset
        kp[have, 2] = np.maximum(peaks.conf[m[have]], _LOG_FLOOR)
        result.append(Pose(kp, float(score[p])))
    return result
