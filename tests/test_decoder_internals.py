"""The decoder's vectorized steps agree with their plain sequential definitions."""
import numpy as np
import pytest

from ov_inference.decoder import (_PAF_BASE, DecoderOptions, _greedy_match, _paf_projection, _sample_steps,
                                  _score_pairs)


def sequential_greedy(limb, ga, gb, score):
    """Pairs in decreasing score; a pair is taken when neither of its peaks is used yet for that limb."""
    used, keep = set(), []
    for t in sorted(range(len(score)), key=lambda t: -score[t]):
        a, b = (limb[t], "a", ga[t]), (limb[t], "b", gb[t])
        if a not in used and b not in used:
            used |= {a, b}
            keep.append(t)
    return sorted(keep)


@pytest.mark.parametrize("seed", range(20))
def test_vectorized_greedy_equals_sequential_greedy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    limb = rng.integers(0, 3, n)
    ga, gb = rng.integers(0, 12, n), rng.integers(12, 30, n)
    score = rng.random(n).astype(np.float32)
    pairs = {}
    for i in range(n):  # candidate pairs are unique
        pairs.setdefault((limb[i], ga[i], gb[i]), i)
    idx = np.array(sorted(pairs.values()))
    limb, ga, gb, score = limb[idx], ga[idx], gb[idx], score[idx]
    assert sorted(_greedy_match(limb, ga, gb, score).tolist()) == sequential_greedy(limb, ga, gb, score)


@pytest.mark.parametrize("seed", range(5))
def test_probing_is_exact(seed):
    """_score_pairs (probe first, then the rest) accepts exactly the pairs that the full rule accepts."""
    rng = np.random.default_rng(seed)
    h, w = 20, 30
    pafs = rng.uniform(-0.3, 1.0, (38, h, w)).astype(np.float32)
    xy = np.stack([rng.uniform(-0.5, w - 0.5, 60), rng.uniform(-0.5, h - 0.5, 60)], axis=1).astype(np.float32)
    n = 500
    limb, ga, gb = rng.integers(0, 19, n), rng.integers(0, 30, n), rng.integers(30, 60, n)
    opts = DecoderOptions()
    ok, score = _score_pairs(xy, limb, ga, gb, pafs, opts)
    pos = np.clip(xy + 0.5, 0.0, np.array([w - 1e-3, h - 1e-3], dtype=np.float32))
    s = _paf_projection(pos, _PAF_BASE[limb] * (h * w), ga, gb, _sample_steps(opts.paf_samples), pafs)
    passed = s > opts.min_paf_score
    mean = np.where(passed, s, 0).sum(0) / np.maximum(passed.sum(0), 1)
    expected = np.flatnonzero((mean > 0) & (passed.sum(0) > opts.success_ratio * opts.paf_samples))
    assert 0 < len(expected) < n
    assert sorted(ok.tolist()) == expected.tolist()
    np.testing.assert_allclose(score[np.argsort(ok)], mean[expected], rtol=1e-5)


def test_samples_read_the_nearest_cell_of_the_limb_channels():
    h, w = 6, 9
    pafs = np.zeros((38, h, w), np.float32)
    pafs[2 * 4] = np.arange(h * w, dtype=np.float32).reshape(h, w)  # limb 4, x channel: the cell's flat index
    xy = np.array([[1.2, 2.7], [5.9, 2.7]], np.float32)  # a horizontal segment: unit vector (1, 0)
    t = _sample_steps(10)
    pos = np.clip(xy + 0.5, 0.0, np.array([w - 1e-3, h - 1e-3], dtype=np.float32))
    base = _PAF_BASE[[4]] * (h * w)
    s = _paf_projection(pos, base, np.array([0]), np.array([1]), t, pafs)[:, 0]
    x = np.floor(1.2 + 4.7 * t + 0.5)
    np.testing.assert_allclose(s, 3 * w + x)  # row round(2.7) = 3
    assert np.all(_paf_projection(pos, _PAF_BASE[[5]] * (h * w), np.array([0]), np.array([1]), t, pafs) == 0)


def test_limb_pairs_enumerates_every_pair_once():
    from ov_inference.decoder import Peaks, _limb_pairs
    from pose_format import LIMBS

    counts = np.array([3, 0, 2, 5, 1, 4, 2, 0, 1, 3, 2, 2, 1, 0, 2, 2, 1, 1])
    starts = np.concatenate(([0], np.cumsum(counts)))
    types = np.repeat(np.arange(18), counts)
    peaks = Peaks(types, np.zeros((len(types), 2), np.float32), np.ones(len(types), np.float32), starts)
    limbs = (6, 0, 13, 18)
    limb, ga, gb = _limb_pairs(peaks, limbs)
    got = sorted(zip(limb.tolist(), ga.tolist(), gb.tolist()))
    expected = sorted((l, i, j) for l in limbs
                      for i in range(starts[LIMBS[l][0]], starts[LIMBS[l][0] + 1])
                      for j in range(starts[LIMBS[l][1]], starts[LIMBS[l][1] + 1]))
    assert got == expected and len(expected) > 0
