"""Fast multi-person decoding of Lightweight OpenPose outputs (keypoint heatmaps + part affinity fields).

Everything happens at map resolution (stride 8), vectorized in NumPy (and one ``cv2.dilate``):

1. **Peaks**: cells above ``peak_threshold`` equal to their 3x3 maximum and greater than the neighbours that follow
   them in raster order (a plateau yields one peak); at most ``max_peaks_per_type`` per keypoint type (the
   strongest), which bounds the time on a broken model's noise.
2. **Sub-cell refinement**: the vertex of a parabola through the logarithms of the peak and its two neighbours along
   x and along y (exact for a Gaussian blob, what the network is trained to output); on the map border, a one-sided
   fit with the training target's Gaussian width. Clipped to half a cell.
3. **Limb scoring**: all candidate pairs of all limbs at once: the PAF is sampled at ``paf_samples`` points along
   each segment (nearest cell) and projected on the segment's unit vector; a pair is kept when the mean of the
   samples above ``min_paf_score`` is positive and more than ``success_ratio`` of the samples pass. Pairs are first
   probed at just enough inner samples that failing all of them already fails the ratio (exact, and cheap).
4. **Matching**: per limb, greedy one-to-one matching by decreasing limb score.
5. **Assembly**: people grow from the neck outward in :data:`pose_format.DECODE_LIMB_ORDER` (a forest: each
   keypoint type is reached by one limb); the ear-shoulder limbs (:data:`pose_format.EAR_SHOULDER_LIMBS`) only
   join two parts with disjoint keypoints (a missing ear or shoulder, or a person whose neck was not found).

Coordinates: map cell ``(i, j)`` is centred on network-input pixel ``(8 i + 3.5, 8 j + 3.5)``
(:func:`pose_format.cell_centers`); returned keypoints are in network-input pixels.
"""
from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass, fields, replace
from functools import lru_cache

import cv2
import numpy as np

from pose_format import (
    DECODE_LIMB_ORDER,
    EAR_SHOULDER_LIMBS,
    HEATMAP_SIGMA,
    LIMBS,
    NUM_HEATMAPS,
    NUM_KEYPOINTS,
    NUM_PAFS,
    PAF_CHANNELS,
    STRIDE,
    cell_centers,
    is_whole_number,
)
from ov_inference.pose import Pose

__all__ = ["DecoderOptions", "Peaks", "decode_poses", "find_peaks"]

log = logging.getLogger(__name__)

#: PAF channel of the x component of each limb; the sampling code reads the y component from the next channel.
_PAF_BASE = np.array([cx for cx, _ in PAF_CHANNELS], dtype=np.int32)
if any(cy != cx + 1 for cx, cy in PAF_CHANNELS):  # pragma: no cover - guards a format change
    raise RuntimeError("decoder expects each limb's PAF y channel right after its x channel")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
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

    The counts (``max_peaks_per_type``, ``paf_samples``, ``min_keypoints``) are whole numbers (``TypeError``
    otherwise); out-of-range values raise ``ValueError``.
    """

    peak_threshold: float = 0.1
    max_peaks_per_type: int = 64
    paf_samples: int = 10
    min_paf_score: float = 0.05
    success_ratio: float = 0.8
    min_keypoints: int = 3
    min_mean_score: float = 0.2

    def __post_init__(self) -> None:
        for name in ("max_peaks_per_type", "paf_samples", "min_keypoints"):
            value = getattr(self, name)
            if not is_whole_number(value):
                raise TypeError(f"{name} must be a whole number, got {value!r}")
        for name in ("peak_threshold", "min_paf_score", "min_mean_score"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)}")
        if self.min_keypoints < 0:
            raise ValueError(f"min_keypoints must be >= 0, got {self.min_keypoints}")
        if self.max_peaks_per_type < 1:
            raise ValueError(f"max_peaks_per_type must be >= 1, got {self.max_peaks_per_type}")
        if self.paf_samples < 2:
            raise ValueError(f"paf_samples must be >= 2, got {self.paf_samples}")
        if not 0.0 <= self.success_ratio < 1.0:
            raise ValueError(f"success_ratio must be in [0, 1), got {self.success_ratio}")

    @classmethod
    def from_kwargs(cls, **options) -> "DecoderOptions":
        """Build options from keyword arguments, rejecting unknown names with the list of valid ones."""
        if not options:
            return _DEFAULT_OPTIONS
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise TypeError(f"unknown decoder option(s) {unknown}; valid options: {sorted(names)}")
        return replace(cls(), **options)

    @classmethod
    def resolve(cls, decoder_options: "DecoderOptions | None" = None, **options) -> "DecoderOptions":
        """``decoder_options`` (``None``: the defaults) with the fields named in ``options`` overridden; a
        ``decoder_options`` that is not a :class:`DecoderOptions` (e.g. a dict) raises ``TypeError``."""
        if decoder_options is None:
            return cls.from_kwargs(**options)
        if not isinstance(decoder_options, cls):
            raise TypeError(f"decoder_options must be a DecoderOptions or None, got {type(decoder_options).__name__}"
                            " (DecoderOptions(**mapping) builds one)")
        cls.from_kwargs(**options)  # names the valid options on a typo
        return replace(decoder_options, **options) if options else decoder_options


_DEFAULT_OPTIONS = DecoderOptions()


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
    if not all(np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating) for a in (hm, pf)):
        raise ValueError(f"heatmaps and pafs must be arrays of real numbers, got {hm.dtype} and {pf.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):  # float64 beyond float32: inf, which the decoder handles
        return hm[:NUM_KEYPOINTS].astype(np.float32, copy=False), pf.astype(np.float32, copy=False)


def _vertex_offset(samples: np.ndarray, sigma: float) -> np.ndarray:
    """Sub-cell offsets in ``[-0.5, 0.5]`` of maxima from 3 samples ``[3, ...]`` (left, centre, right) 1 cell apart.

    With both neighbours positive: the vertex of the parabola through the logarithms (exact for a Gaussian, whatever
    its width). With one neighbour missing (map border, -inf) or not positive: the position that a Gaussian of
    width ``sigma`` cells (the training target's) through the two remaining samples implies. Otherwise 0.
    """
    valid = samples > _LOG_FLOOR  # False for -inf and NaN
    lg = np.log(np.clip(samples, _LOG_FLOOR, _FLOAT32_MAX))
    left, centre, right = lg
    both = valid[0] & valid[2]
    den = left + right - 2.0 * centre
    den[~both | (den > -1e-9)] = -np.inf  # no maximum through three points: offset 0
    off = 0.5 * (left - right) / den
    s2 = sigma * sigma
    np.copyto(off, 0.5 - s2 * (centre - right), where=valid[2] & ~valid[0])
    np.copyto(off, s2 * (centre - left) - 0.5, where=valid[0] & ~valid[2])
    off[np.isnan(off)] = 0.0
    return np.clip(off, -0.5, 0.5, out=off)


def find_peaks(keypoint_maps: np.ndarray, threshold: float = 0.1, max_per_type: int = 64,
               sigma: float = HEATMAP_SIGMA / STRIDE) -> Peaks:
    """Local maxima of ``keypoint_maps`` float32 ``[18, h, w]`` with sub-cell refinement (see the module doc).

    A peak is above ``threshold``, >= its 8 neighbours and > the 4 of them that follow it in raster order (so a
    plateau gives one peak); at most ``max_per_type`` (the strongest) per keypoint type. NaN cells are never peaks
    and never suppress a neighbour. ``sigma``: the Gaussian width of a keypoint blob in cells, used only to refine
    peaks on the map border.
    """
    k_n, h, w = keypoint_maps.shape
    pw = w + 2
    padded = np.full((k_n, h + 2, pw), -np.inf, dtype=np.float32)
    padded[:, 1:-1, 1:-1] = keypoint_maps
    with np.errstate(over="ignore", invalid="ignore"):  # a broken model's huge values overflow the sum: just NaN
        finite = np.isfinite(keypoint_maps.sum())
    if not finite:  # NaN, inf or overflow somewhere: NaN -> -inf
        np.copyto(padded, -np.inf, where=np.isnan(padded))
    rows = padded.reshape(-1, pw)  # channels stacked vertically, separated by their -inf border rows
    flat = padded.reshape(-1)
    cand = np.flatnonzero((rows > threshold) & (rows == cv2.dilate(rows, None)))  # 3x3 maximum
    v = flat[cand]
    after = flat[np.array([1, pw - 1, pw, pw + 1])[:, None] + cand]
    cand = cand[(after < v).all(axis=0)]
    v = flat[cand]
    c, rem = np.divmod(cand, (h + 2) * pw)
    counts = np.bincount(c, minlength=k_n)
    if counts.max(initial=0) > max_per_type:
        order = np.lexsort((-v, c))  # by type, strongest first
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rank = np.arange(len(order)) - starts[c[order]]
        keep = np.sort(order[rank < max_per_type])
        log.debug("peaks capped at %d per type (%d found)", max_per_type, len(c))
        cand, c, rem, v = cand[keep], c[keep], rem[keep], v[keep]
        counts = np.bincount(c, minlength=k_n)
    y, x = np.divmod(rem, pw)
    # (left, centre, right) along x and (up, centre, down) along y: [3, 2, N].
    nb = flat[np.array([-1, -pw, 0, 0, 1, pw])[:, None] + cand].reshape(3, 2, -1)
    off = _vertex_offset(nb, sigma)
    xy = np.empty((len(v), 2), dtype=np.float32)
    xy[:, 0] = x - 1 + off[0]
    xy[:, 1] = y - 1 + off[1]
    conf = np.minimum(v, _FLOAT32_MAX)
    return Peaks(c, xy, conf, np.concatenate(([0], np.cumsum(counts))))


def _limb_pairs(peaks: Peaks, limbs: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every candidate (from, to) peak pair of every limb in ``limbs``: ``(limb, ga, gb)`` with global peak indices.

    Pairs are laid out limb by limb, then by a-peak (a block of all b-peaks each), without any division.
    """
    ends = np.array([LIMBS[limb] for limb in limbs])
    sa, sb = peaks.starts[ends[:, 0]], peaks.starts[ends[:, 1]]
    na, nb = peaks.starts[ends[:, 0] + 1] - sa, peaks.starts[ends[:, 1] + 1] - sb
    # One block per (limb, a-peak).
    blk_limb = np.repeat(np.arange(len(limbs)), na)
    blk_a = np.arange(len(blk_limb)) - np.repeat(np.cumsum(na) - na, na) + sa[blk_limb]
    blk_len = nb[blk_limb]
    blk_start = np.cumsum(blk_len) - blk_len
    ga = np.repeat(blk_a, blk_len)
    gb = np.arange(int(blk_len.sum())) + np.repeat(sb[blk_limb] - blk_start, blk_len)
    return np.repeat(np.asarray(limbs)[blk_limb], blk_len), ga, gb


@lru_cache(maxsize=8)
def _sample_steps(n: int) -> np.ndarray:
    """``n`` evenly spaced fractions from 0 to 1 (float32, read-only)."""
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)
    t.flags.writeable = False
    return t


@lru_cache(maxsize=8)
def _sampling_plan(n_samples: int, success_ratio: float) -> tuple[int, np.ndarray, np.ndarray]:
    """``(min_pass, probe, rest)``: the least number of passing samples a limb needs (> ``success_ratio`` of them),
    and the sample fractions split into inner probes (failing all of them already fails the limb) and the rest;
    ``probe`` is empty when probing would not save work."""
    steps = _sample_steps(n_samples)
    min_pass = int(np.floor(success_ratio * n_samples)) + 1
    n_probe = n_samples - min_pass + 1
    if 2 * n_probe > n_samples:
        return min_pass, steps[:0], steps
    probe = np.round(np.linspace(0, n_samples - 1, n_probe + 2)[1:-1]).astype(np.intp)
    rest = np.setdiff1d(np.arange(n_samples), probe)
    return min_pass, steps[probe], steps[rest]


def _paf_projection(pos: np.ndarray, base: np.ndarray, ga: np.ndarray, gb: np.ndarray, t: np.ndarray,
                    pafs: np.ndarray) -> np.ndarray:
    """``[len(t), n]``: the PAF at fractions ``t`` of each segment a -> b, projected on its unit vector (0 for a
    zero-length segment). ``pos``: peak positions in cells plus 0.5, inside the map; ``base``: flat offset of each
    pair's x-component channel (the y component is the next channel, :data:`pose_format.PAF_CHANNELS`)."""
    _, h, w = pafs.shape
    ax, ay = pos[ga, 0], pos[ga, 1]
    dx, dy = pos[gb, 0] - ax, pos[gb, 1] - ay
    norm = np.sqrt(dx * dx + dy * dy)
    inv = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 1e-6)
    t = t[:, None]
    idx = (ay + dy * t).astype(np.int32)  # truncating pos = position + 0.5 gives the nearest cell
    idx *= w
    idx += (ax + dx * t).astype(np.int32)
    idx += base
    flat = pafs.reshape(-1)
    return flat[idx] * (dx * inv) + flat[idx + h * w] * (dy * inv)


def _score_pairs(xy: np.ndarray, limb: np.ndarray, ga: np.ndarray, gb: np.ndarray, pafs: np.ndarray,
                 opts: DecoderOptions) -> tuple[np.ndarray, np.ndarray]:
    """PAF line integral of candidate pairs (positions ``xy`` in map cells): ``(accepted indices, their scores)``.

    The PAF of the pair's limb is sampled at ``paf_samples`` evenly spaced points of the segment (nearest cell) and
    projected on the segment's unit vector; the score is the mean of the samples above ``min_paf_score``; a pair
    is accepted when its score is positive and more than ``success_ratio`` of its samples pass. Pairs are first
    probed at just enough inner samples that failing them all means too many failures (exact, and it rejects
    most wrong pairs of a crowd at a fraction of the cost).
    """
    _, h, w = pafs.shape
    n_samples = opts.paf_samples
    pos = np.clip(xy + 0.5, 0.0, np.array([w - 1e-3, h - 1e-3], dtype=np.float32))
    min_pass, probe, rest = _sampling_plan(n_samples, opts.success_ratio)
    base = _PAF_BASE[limb] * (h * w)
    alive = np.arange(len(limb))
    if len(limb) > 64 and len(probe):
        s_probe = _paf_projection(pos, base, ga, gb, probe, pafs)
        alive = np.flatnonzero((s_probe > opts.min_paf_score).any(axis=0))
        s = np.concatenate([s_probe[:, alive], _paf_projection(pos, base[alive], ga[alive], gb[alive], rest, pafs)])
    else:
        s = _paf_projection(pos, base, ga, gb, _sample_steps(n_samples), pafs)
    passed = (s > opts.min_paf_score) & (s < np.inf)  # NaN and inf samples fail (a broken model's maps)
    n_pass = passed.sum(axis=0)
    score = s.sum(axis=0, where=passed) / np.maximum(n_pass, 1)
    ok = np.flatnonzero((score > 0) & (n_pass >= min_pass))
    return alive[ok], score[ok]


def _greedy_match(limb: np.ndarray, ga: np.ndarray, gb: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of a one-to-one matching per limb, chosen greedily by decreasing score (each peak once per limb).

    Vectorized in rounds: a pair that scores best among the remaining pairs of both its peaks is taken (sequential
    greedy would take it too), pairs sharing a peak with it are dropped, and so on until none remain. The pairs are
    kept grouped by peak (sorted once), so each round is a linear pass.
    """
    n = len(score)
    if n <= 1:
        return np.arange(n)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-score)] = np.arange(n)  # 0 = best (any order of ties is a valid greedy order)
    m = int(max(ga.max(), gb.max())) + 1
    key_a, key_b = limb * m + ga, limb * m + gb
    by_a = np.argsort(key_a * n + rank)  # pairs grouped by their a-peak, best first within a group
    by_b = np.argsort(key_b * n + rank)
    taken = np.zeros(n, dtype=bool)
    best_a = np.zeros(n, dtype=bool)
    while len(by_a):
        ka, kb = key_a[by_a], key_b[by_b]
        best_a[:] = False
        best_a[by_a[np.concatenate(([True], ka[1:] != ka[:-1]))]] = True
        first_b = by_b[np.concatenate(([True], kb[1:] != kb[:-1]))]
        new = first_b[best_a[first_b]]  # best of both its peaks
        taken[new] = True
        used_a = np.zeros(int(key_a.max()) + 1, dtype=bool)
        used_b = np.zeros(int(key_b.max()) + 1, dtype=bool)
        used_a[key_a[new]] = True
        used_b[key_b[new]] = True
        by_a = by_a[~(used_a[ka] | used_b[key_b[by_a]])]
        by_b = by_b[~(used_a[key_a[by_b]] | used_b[kb])]
    return np.flatnonzero(taken)


def _roots(parent: np.ndarray) -> np.ndarray:
    """Root of every node of a forest given by ``parent`` (a root is its own parent), by pointer jumping."""
    root = parent
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            return root
        root = nxt


def _assemble(peaks: Peaks, limb: np.ndarray, ga: np.ndarray, gb: np.ndarray, score: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group matched limbs into people: ``(members [P, 18] peak index or -1, score [P], used [L])``, ``used``
    marking the limbs whose score went into a person's score.

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
    idx = np.flatnonzero(extra & (person[ga] != person[gb]))  # the others are already inside one person
    used = tree.copy()
    if len(idx):
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
            used[i] = True
    return members, total, used


def _drop_outside(peaks: Peaks, members: np.ndarray, total: np.ndarray, limb_a: np.ndarray, limb_b: np.ndarray,
                  limb_score: np.ndarray, valid_size: tuple[float, float], stride: int) -> None:
    """(In place.) Remove from ``members`` the keypoints more than half a cell outside ``valid_size`` (input
    pixels), and take their confidence and the scores of the limbs that attached them out of ``total``, so a
    dropped keypoint counts exactly as a missing one."""
    width, height = valid_size
    tol = stride / 2
    xy = peaks.xy * stride + cell_centers(1, stride)[0]
    outside = ((xy[:, 0] < -0.5 - tol) | (xy[:, 0] > width - 0.5 + tol)
               | (xy[:, 1] < -0.5 - tol) | (xy[:, 1] > height - 0.5 + tol))
    if not outside.any():
        return
    owner = np.full(len(outside), -1, dtype=np.intp)
    rows, _ = np.nonzero(members >= 0)
    owner[members[members >= 0]] = rows
    gone = outside & (owner >= 0)
    total -= np.bincount(owner[gone], weights=peaks.conf[gone], minlength=len(total))
    cut = (outside[limb_a] | outside[limb_b]) & (owner[limb_a] >= 0)
    total -= np.bincount(owner[limb_a[cut]], weights=limb_score[cut], minlength=len(total))
    members[(members >= 0) & outside[members]] = -1


def _check_valid_size(valid_size: object) -> tuple[float, float]:
    """``valid_size`` as ``(width, height)`` floats when it is a pair of finite positive numbers of input pixels,
    else ``TypeError`` (not a pair of numbers: a bare int gave "cannot unpack") or ``ValueError`` (NaN, inf, zero or
    negative, which were accepted) stating that form."""
    expected = "valid_size must be a (width, height) pair of finite positive numbers of input pixels"
    try:
        width, height = valid_size
    except (TypeError, ValueError):
        raise TypeError(f"{expected}, got {valid_size!r}") from None
    if not all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in (width, height)):
        raise TypeError(f"{expected}, got {valid_size!r}")
    if not (np.isfinite(width) and np.isfinite(height) and width > 0 and height > 0):
        raise ValueError(f"{expected}, got {valid_size!r}")
    return float(width), float(height)


def decode_poses(heatmaps: np.ndarray, pafs: np.ndarray, stride: int = STRIDE, *,
                 decoder_options: DecoderOptions | None = None, valid_size: tuple[float, float] | None = None,
                 **options) -> list[Pose]:
    """Decode people from one image's network outputs.

    ``heatmaps``: float32 ``[18 or 19, h, w]`` (a background channel is ignored), ``pafs``: float32 ``[38, h, w]``,
    both at network-output resolution in the channel order of ``pose_format``; a leading batch axis of 1 is
    accepted. ``stride``: input pixels per map cell, a positive integer (``TypeError`` otherwise). ``options``:
    fields of :class:`DecoderOptions`, overriding those of ``decoder_options`` (default: :class:`DecoderOptions`'
    defaults).

    ``valid_size``: ``(width, height)`` in input pixels of the image inside a letterboxed input (the rest is
    padding). Keypoints more than half a cell (``stride / 2`` pixels) outside ``[-0.5, width - 0.5] x
    [-0.5, height - 0.5]`` are then dropped after people are assembled (so a person stays whole): they become
    missing (confidence 0), their confidence and the scores of their limbs leave the person's score, and the
    ``min_keypoints`` / ``min_mean_score`` filters see the person without them. ``None``: no such check. Anything
    but ``None`` or a pair of finite positive numbers raises ``TypeError`` / ``ValueError``.

    Returns people sorted by decreasing ``score`` (sum of their keypoint confidences and limb scores), keypoints
    in network-input pixels (cell ``i`` centred on ``stride * i + stride / 2 - 0.5``). Raises ``ValueError``
    naming the expected shapes for maps of the wrong shape.
    """
    opts = DecoderOptions.resolve(decoder_options, **options)
    if not is_whole_number(stride):
        raise TypeError(f"stride must be a whole number of input pixels per map cell, got {stride!r}")
    if stride <= 0:
        raise ValueError(f"stride must be positive, got {stride}")
    if valid_size is not None:
        valid_size = _check_valid_size(valid_size)
    hm, pf = _check_maps(heatmaps, pafs)
    peaks = find_peaks(hm, opts.peak_threshold, opts.max_peaks_per_type, HEATMAP_SIGMA / stride)
    if len(peaks.conf) == 0:
        return []
    limb, ga, gb = _limb_pairs(peaks, DECODE_LIMB_ORDER + EAR_SHOULDER_LIMBS)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN / inf PAF samples (a broken model) just fail
        ok, score = _score_pairs(peaks.xy, limb, ga, gb, pf, opts)
    limb, ga, gb = limb[ok], ga[ok], gb[ok]
    keep = _greedy_match(limb, ga, gb, score)
    limb, ga, gb, score = limb[keep], ga[keep], gb[keep], score[keep]
    members, total, used = _assemble(peaks, limb, ga, gb, score)
    if valid_size is not None:
        _drop_outside(peaks, members, total, ga[used], gb[used], score[used], valid_size, stride)
    count = (members >= 0).sum(axis=1)
    good = np.nonzero((count >= max(opts.min_keypoints, 1)) & (total >= opts.min_mean_score * count))[0]
    good = good[np.argsort(-total[good], kind="stable")]
    members = members[good]
    have = members >= 0
    kp = np.zeros((len(good), NUM_KEYPOINTS, 3), dtype=np.float32)
    kp[have, :2] = peaks.xy[members[have]] * stride + cell_centers(1, stride)[0]
    kp[have, 2] = np.maximum(peaks.conf[members[have]], _LOG_FLOOR)
    return [Pose(k, s) for k, s in zip(kp, total[good].tolist())]
