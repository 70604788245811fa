"""Synthetic people: a COCO-keypoints dataset of articulated humanoid figures, deterministic for a seed.

``python -m train.synthetic --out DIR --images N --seed S [--width W --height H --max-people P]`` writes
``DIR/images/NNNNNN.jpg`` and ``DIR/annotations.json`` (COCO keypoints format: category ``person`` with the 17 COCO
keypoint names and skeleton; per person all 17 keypoints with visibility 2 = visible, 1 = occluded by another person
or by the figure itself, 0 = outside the image (then x = y = 0); segmentation polygons along the pixel edges of
the visible silhouette (holes filled), their area and the bbox, ``iscrowd`` 0).

Each figure is posed from a kinematic skeleton with joint limits: torso lean, a yaw (facing the camera, turned,
profile or from the back; shoulders, hips and the face are projected from 3D offsets, so turned figures show one
ear and hide the far eye), shoulder / elbow / hip / knee angles, then drawn as textured capsules (shirt, trousers,
skin, shoes, hair) in depth order, figures far-to-near. Backgrounds are gradients or noise with distractor shapes,
including limb-like sticks. People are large (45-95 % of the image height by default) with clear limbs so that a
small network learns them in minutes, yet poses, occlusion, clutter and left/right cues keep the task non-trivial.
Coordinates are image pixels (x right, y down, pixel centres at integers).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from pose_format import COCO17_NAMES, dumps_strict, inside_image, write_text_atomic
from train.hyperparams import WEIGHT_DECAY

log = logging.getLogger(__name__)

__all__ = ["COCO17_SKELETON", "SyntheticConfig", "SyntheticRecipe", "SYNTHETIC_RECIPE", "SyntheticPerson",
           "render_scene", "person_category", "generate_dataset", "main"]

#: COCO's person skeleton (1-based COCO-17 keypoint ids), as in person_keypoints_*.json.
COCO17_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
                   [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
_K = {name: i for i, name in enumerate(COCO17_NAMES)}

# Body parts: name -> the COCO-17 keypoints it carries (a keypoint is visible when the top-most surface at its
# pixel is one of its own parts).
_PARTS = ("torso", "head", "l_upper_arm", "l_forearm", "r_upper_arm", "r_forearm", "l_thigh", "l_shin",
          "r_thigh", "r_shin", "l_hand", "r_hand")
_PART_ID = {p: i + 1 for i, p in enumerate(_PARTS)}
_OWNERS: dict[str, tuple[str, ...]] = {
    "nose": ("head",), "left_eye": ("head",), "right_eye": ("head",), "left_ear": ("head",), "right_ear": ("head",),
    "left_shoulder": ("torso", "l_upper_arm"), "right_shoulder": ("torso", "r_upper_arm"),
    "left_elbow": ("l_upper_arm", "l_forearm"), "right_elbow": ("r_upper_arm", "r_forearm"),
    "left_wrist": ("l_forearm", "l_hand"), "right_wrist": ("r_forearm", "r_hand"),
    "left_hip": ("torso", "l_thigh"), "right_hip": ("torso", "r_thigh"),
    "left_knee": ("l_thigh", "l_shin"), "right_knee": ("r_thigh", "r_shin"),
    "left_ankle": ("l_shin",), "right_ankle": ("r_shin",),
}
_SKIN = np.array([[60, 80, 120], [80, 110, 160], [110, 150, 200], [140, 180, 225], [40, 55, 85], [100, 130, 190]],
                 dtype=np.float32)  # BGR


@dataclass(frozen=True)
class SyntheticConfig:
    """Scene parameters. Sizes in image pixels; ``height_range`` is the figure height as a fraction of the image."""

    width: int = 320
    height: int = 256
    max_people: int = 3
    min_people: int = 1
    height_range: tuple[float, float] = (0.45, 0.95)
    distractors: tuple[int, int] = (4, 12)

    def __post_init__(self) -> None:
        if not (64 <= self.width <= 8192 and 64 <= self.height <= 8192):
            raise ValueError(f"images must be 64 to 8192 pixels wide and high, got {self.width}x{self.height}")
        if not 1 <= self.min_people <= self.max_people:
            raise ValueError(f"need 1 <= min_people <= max_people, got {self.min_people}, {self.max_people}")
        if not 0 <= self.distractors[0] <= self.distractors[1]:
            raise ValueError(f"need 0 <= min <= max distractors, got {self.distractors}")


@dataclass(frozen=True)
class SyntheticRecipe:
    """The training recipe for synthetic people (from scratch, on this project's 2-core CPU budget).

    ``scene``: the generator settings of its train and held-out images. Sizes in pixels: the figures fill 45-95 %
    of ``scene.height``-pixel images and are learned at the scale of ``crop_size`` crops (``target_dist``: person
    height / crop), so AP and demos run at ``eval_height``. ``lr`` is Adam's base rate for every group, reached after
    ``warmup_iters`` (10-minute runs on this project's CPU, AP on the held-out images: 2e-3 without warm-up 0.376,
    3e-3 0.405, 4e-3 0.424, 6e-3 0.428-0.435; 1e-2 collapsed to AP 0 after 2000 iterations; with the linear
    decay, 400 held-out images, seeds 0 / 1: 5e-3 0.500 / -, 6e-3 0.519 / 0.493, 8e-3 0.531 / 0.509; those at
    batch 8 and with a refinement stage; at batch 16 with the initial stage only 1.1e-2), then decays
    linearly to zero at the end of the time budget (``lr_schedule``). AP is measured on ``val_images`` held-out
    images: 40 of them disagreed with 800 by up to 0.05 AP for one model.
    ``benchmarks/bench_train.py`` and the quickstart both train with it.
    """

    scene: SyntheticConfig = SyntheticConfig()
    train_images: int = 800
    val_images: int = 400
    crop_size: int = 128
    #: 16 crops a step: 18 ms per crop instead of 21 at batch 8 on the slower machine, and more AP per crop (10
    #: minutes there, initial stage only: 0.543 after 2224 steps of 16 at lr 1.1e-2, 200 warm-up steps; batch 8
    #: at 8e-3: 0.475 after 3191 steps; batch 4 was behind batch 8)
    batch_size: int = 16
    lr: float = 1.1e-2
    #: the paper's x2 / x4 / x8 group multipliers were tuned for a pretrained backbone; from scratch every group at
    #: ``lr`` learns faster (AP 0.326 vs 0.304 after 10 minutes, same data)
    lr_multipliers: bool = False
    warmup_iters: int = 200
    target_dist: float = 0.8
    #: the crop-centre person's height is ``target_dist * crop_size`` times a factor uniform in these bounds:
    #: 82-184 px in 128 crops, the held-out figures' 86-182 px at ``eval_height`` 192 (0.7-1.5 trained smaller
    #: people than it tested: AP 0.418 vs 0.431 after 10 minutes on the slower machine)
    scale_min: float = 0.8
    scale_max: float = 1.8
    #: crop-centre jitter, crop pixels: the paper's 40 px of a 368 crop, scaled to ``crop_size``
    center_jitter: float = 14.0
    #: random rotation bound of the crops, degrees: the figures themselves lean <= 15 degrees, and the paper's 40
    #: (for COCO) spent the budget on poses the held-out images never show (10 minutes on the slower machine: AP
    #: 0.355 at 40, 0.418 at 15, 0.408 at 5)
    max_rotation: float = 15.0
    #: extra loss weight of the heatmap cells around keypoints (:func:`train.loss.heatmap_weights`): AP 0.376 vs
    #: 0.370 at the end of a 10-minute run, ahead by 0.02-0.03 from iteration 2250 to 4250
    foreground_weight: float = 8.0
    eval_height: int = 192
    #: bf16 autocast when the CPU computes bf16 natively (:func:`train.trainer.native_bf16`): ~2x faster steps.
    amp: bool = True
    #: with ``lr_schedule="step"``: lr x 0.333 after these epochs (an epoch: one crop per person of the
    #: ``train_images``, ~200 iterations at batch 8, ~100 at 16): three steps, the first at about 35 % of a
    #: 10-minute run with bf16 steps at batch 8, so that slower machines still decay within the budget (9, 14, 19
    #: and 11, 17 ended level at 6e-3: 0.435 and 0.428).
    milestones: tuple[int, ...] = (9, 14, 19)
    #: ``linear``: decay to zero at the end of the time budget (:func:`train.optim.budget_factor`); ``step``:
    #: MultiStepLR at ``milestones``. Same data, 10 minutes, mean AP over 800 held-out images: 0.509 vs 0.455.
    lr_schedule: str = "linear"
    #: Adam's L2 weight decay of the conv weights (the paper's 5e-4; depthwise, BN and biases are never decayed)
    weight_decay: float = WEIGHT_DECAY
    #: Adam's second-moment decay: 0.99 instead of PyTorch's (and the paper's) 0.999 lets the step sizes follow the
    #: gradients as they shrink over a run this short (10 minutes on the slower machine: AP 0.447 vs 0.395-0.397 the
    #: evening before; 0.95: 0.442; 0.99 with lr 1.2e-2: 0.449; over 5100 fixed iterations level: 0.559 vs 0.570)
    adam_beta2: float = 0.99
    #: decay of an exponential moving average of the weights, evaluated and saved instead of them (0: off)
    ema_decay: float = 0.0
    #: refinement stages of the trained network. 0 (the initial stage only; the paper's default is 1): a step costs
    #: two thirds (0.147 vs 0.215 s at batch 8 on the slower machine) and the AP per step is the same over such a
    #: short run (0.186 / 0.365 at 1000 / 2000 steps against 0.200 / 0.384), so 10 minutes reach 0.475 instead of
    #: 0.447; the IRs are 1.5x faster too (INT8 74.8 vs 50.2 FPS at 256x456), with INT8 1.73x bf16 instead of 1.82x
    #: (the refinement stage's dense convolutions are where INT8 gains most)
    num_refinement_stages: int = 0


#: The default synthetic recipe.
SYNTHETIC_RECIPE = SyntheticRecipe()


@dataclass
class SyntheticPerson:
    """One rendered figure: COCO-17 ``keypoints [17, 3]`` (x, y, v) and its visible silhouette ``mask [H, W]``."""

    keypoints: np.ndarray
    mask: np.ndarray
    depth_rank: int

    def coco_annotation(self, ann_id: int, image_id: int) -> dict:
        """The COCO annotation dict (polygons of the visible mask; ``v = 0`` keypoints written as 0, 0, 0)."""
        kp = self.keypoints.copy()
        kp[kp[:, 2] == 0, :2] = 0
        polys = _edge_polygons(self.mask)
        h_img, w_img = self.mask.shape
        area = float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(polys, h_img, w_img))))
        x, y, w, h = cv2.boundingRect(self.mask.astype(np.uint8))
        return {
            "id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
            "keypoints": [round(float(v), 2) for v in kp.reshape(-1)],
            "num_keypoints": int((kp[:, 2] > 0).sum()),
            "segmentation": polys, "area": area, "bbox": [float(x), float(y), float(w), float(h)],
        }


def _edge_polygons(mask: np.ndarray) -> list[list[float]]:
    """COCO polygons (``[x0, y0, x1, y1, ...]``, image pixels) along the pixel edges of ``mask [H, W]``'s outlines.

    pycocotools reads polygon vertices as pixel edges (pixel ``i`` spans ``[i, i + 1)``), so the outline is traced
    on the mask upsampled 2x, whose boundary pixels ``2i`` / ``2i + 1`` lie at original pixel ``i``'s left / right
    edge: ``ceil(u / 2)`` maps them there. The polygons decode to exactly the mask with its holes filled (COCO
    polygons are unioned and hold no holes).
    """
    up = np.kron(mask.astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for contour in contours:
        pts = (contour.reshape(-1, 2) + 1) // 2
        pts = pts[np.any(pts != np.roll(pts, 1, axis=0), axis=1)]  # diagonal steps map two vertices onto one
        if len(pts) >= 3:
            polys.append(pts.reshape(-1).astype(float).tolist())
    return polys


def person_category() -> dict:
    """COCO ``categories`` entry for people: id 1, the 17 keypoint names and the skeleton."""
    return {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO17_NAMES),
            "skeleton": COCO17_SKELETON}


# ----------------------------------------------------------------------------------------------------- drawing
def _texture(rng: np.random.Generator, h: int, w: int, color: np.ndarray) -> np.ndarray:
    """A full-frame ``[h, w, 3]`` float32 texture around ``color``: plain, stripes, checks or noise."""
    kind = rng.integers(4)
    base = np.broadcast_to(color, (h, w, 3)).astype(np.float32)
    if kind == 0:
        return base.copy()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    other = np.clip(color + rng.uniform(-90, 90, 3), 0, 255).astype(np.float32)
    period = rng.uniform(4, 14)
    if kind == 1:
        angle = rng.uniform(0, math.pi)
        t = (xx * math.cos(angle) + yy * math.sin(angle)) / period
        sel = (np.floor(t) % 2).astype(bool)
    elif kind == 2:
        sel = ((np.floor(xx / period) + np.floor(yy / period)) % 2).astype(bool)
    else:
        noise = rng.normal(0, 25, (h, w, 1)).astype(np.float32)
        return np.clip(base + noise, 0, 255)
    out = base.copy()
    out[sel] = other
    return out


def _background(rng: np.random.Generator, cfg: SyntheticConfig) -> np.ndarray:
    h, w = cfg.height, cfg.width
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    kind = rng.integers(3)
    if kind == 0:  # gradient
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        img = c0 * (1 - t) + c1 * t
        img = np.broadcast_to(img, (h, w, 3)).copy()
    elif kind == 1:  # blurred noise
        small = rng.uniform(0, 255, (max(2, h // 16), max(2, w // 16), 3)).astype(np.float32)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    else:  # floor and wall
        horizon = int(rng.uniform(0.4, 0.8) * h)
        img = np.empty((h, w, 3), np.float32)
        img[:horizon] = c0
        img[horizon:] = c1
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(cfg.distractors[0], cfg.distractors[1] + 1)):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(5)
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        size = int(rng.uniform(0.04, 0.3) * min(h, w))
        if kind == 0:
            cv2.rectangle(img, (cx, cy), (cx + size, cy + int(size * rng.uniform(0.3, 2))), color, -1)
        elif kind == 1:
            cv2.circle(img, (cx, cy), max(2, size // 2), color, -1, cv2.LINE_AA)
        elif kind == 2:
            axes = (max(2, size // 2), max(2, int(size * rng.uniform(0.2, 0.6))))
            cv2.ellipse(img, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, color, -1, cv2.LINE_AA)
        elif kind == 3:  # limb-like stick, sometimes bent
            pts = [(cx, cy)]
            for _ in range(rng.integers(1, 3)):
                a = rng.uniform(0, 2 * math.pi)
                pts.append((int(pts[-1][0] + size * math.cos(a)), int(pts[-1][1] + size * math.sin(a))))
            cv2.polylines(img, [np.array(pts, np.int32)], False, color, int(rng.integers(3, 12)), cv2.LINE_AA)
        else:
            tri = np.array([[cx, cy], [cx + size, cy + int(rng.integers(-size, size + 1))],
                            [cx + int(rng.integers(-size, size + 1)), cy + size]], np.int32)
            cv2.fillPoly(img, [tri], color, cv2.LINE_AA)
    return img


def _rot(v: np.ndarray, deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def _pose(rng: np.random.Generator, body_h: float, feet: np.ndarray) -> dict:
    """Sample a pose: COCO-17 keypoints ``[17, 2]``, per-keypoint depth toward the camera, limb widths, yaw.

    The skeleton has fixed proportions of the figure height ``body_h`` (head top to soles) and joint limits:
    torso lean within 15 degrees, upper arms from 30 degrees inward to 170 degrees outward, elbows bend up to 145,
    thighs from 20 inward to 55 outward, knees up to 110. ``feet`` is the point between the soles.
    """
    u = body_h
    yaw = float(rng.choice([0.0, rng.uniform(-50, 50), rng.uniform(-100, -70), rng.uniform(70, 100),
                            rng.uniform(150, 210)], p=[0.35, 0.35, 0.1, 0.1, 0.1]))
    cy, sy = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))

    def project(lat: float, fwd: float) -> tuple[float, float]:  # person-left lateral, forward -> image x, depth
        return lat * cy + fwd * sy, -lat * sy + fwd * cy

    lean = rng.uniform(-15, 15)
    down = _rot(np.array([0.0, 1.0]), lean)  # torso axis, neck -> pelvis
    side = np.array([down[1], -down[0]])  # image direction of lateral +1 (person-left; image +x when facing us)
    k = np.zeros((17, 2))
    depth = np.zeros(17)
    leg_len = 0.47 * u
    torso_len = 0.30 * u
    pelvis = feet - np.array([0, leg_len * rng.uniform(0.88, 1.0)])
    neck = pelvis - down * torso_len
    sw, hw = rng.uniform(0.10, 0.13) * u, rng.uniform(0.07, 0.09) * u
    for name, lat, centre in (("left_shoulder", sw, neck), ("right_shoulder", -sw, neck),
                              ("left_hip", hw, pelvis), ("right_hip", -hw, pelvis)):
        x, z = project(lat, 0.0)
        k[_K[name]] = centre + side * x
        depth[_K[name]] = z
    # Head: centre above the neck, face features from 3D offsets on a sphere of radius r.
    r = rng.uniform(0.06, 0.072) * u
    head = neck - down * (0.11 * u)
    for name, lat, fwd, up in (("nose", 0.0, 1.0, -0.15), ("left_eye", 0.38, 0.85, 0.2),
                               ("right_eye", -0.38, 0.85, 0.2), ("left_ear", 0.97, 0.0, 0.05),
                               ("right_ear", -0.97, 0.0, 0.05)):
        x, z = project(lat * r, fwd * r)
        k[_K[name]] = head + side * x - down * (up * r)
        depth[_K[name]] = z / r  # relative to the head centre, in head radii
    # Limbs: 2D chains with joint limits; outward = away from the body's midline in the image.
    upper_arm, forearm, thigh, shin = 0.17 * u, 0.15 * u, 0.235 * u, 0.225 * u
    for s, prefix in ((1, "left"), (-1, "right")):
        sh, hip = k[_K[f"{prefix}_shoulder"]], k[_K[f"{prefix}_hip"]]
        outward = np.sign((sh - neck) @ side) or (1.0 if s > 0 else -1.0)
        if abs(cy) < 0.5:  # profile: arms swing forward/back rather than out
            outward = rng.choice([-1.0, 1.0])
        a1 = rng.uniform(-30, 170) if rng.random() < 0.6 else rng.uniform(-20, 60)
        d1 = _rot(down, -outward * a1 * (1 if down[1] > 0 else -1))
        elbow = sh + d1 * upper_arm
        bend = rng.uniform(0, 145) * rng.choice([-1.0, 1.0])
        wrist = elbow + _rot(d1, bend) * forearm
        h1 = rng.uniform(-20, 55) if rng.random() < 0.7 else rng.uniform(-10, 20)
        leg_out = np.sign((hip - pelvis) @ side) or (1.0 if s > 0 else -1.0)
        d2 = _rot(down, -leg_out * h1)
        knee = hip + d2 * thigh
        kbend = rng.uniform(0, 110) * (rng.choice([-1.0, 1.0]) if rng.random() < 0.5 else 0.3)
        ankle = knee + _rot(d2, kbend) * shin
        k[_K[f"{prefix}_elbow"]], k[_K[f"{prefix}_wrist"]] = elbow, wrist
        k[_K[f"{prefix}_knee"]], k[_K[f"{prefix}_ankle"]] = knee, ankle
        depth[[_K[f"{prefix}_elbow"], _K[f"{prefix}_wrist"]]] = depth[_K[f"{prefix}_shoulder"]]
        depth[[_K[f"{prefix}_knee"], _K[f"{prefix}_ankle"]]] = depth[_K[f"{prefix}_hip"]]
    widths = {
        "arm": rng.uniform(0.045, 0.065) * u, "forearm": rng.uniform(0.035, 0.05) * u,
        "thigh": rng.uniform(0.065, 0.09) * u, "shin": rng.uniform(0.05, 0.07) * u,
    }
    return {"k": k, "depth": depth, "yaw": yaw, "r": r, "head": head, "neck": neck, "pelvis": pelvis,
            "down": down, "side": side, "widths": widths, "cos_yaw": cy, "u": u}


def _capsule(mask: np.ndarray, a: np.ndarray, b: np.ndarray, width: float) -> None:
    cv2.line(mask, tuple(int(round(v)) for v in a), tuple(int(round(v)) for v in b), 1, max(2, int(round(width))))


def _draw_person(canvas: np.ndarray, owner: np.ndarray, pid: int, pose: dict, rng: np.random.Generator) -> np.ndarray:
    """Draw one figure onto ``canvas`` (in place) and stamp ``owner`` with ``pid * 16 + part``; returns its mask."""
    h, w = canvas.shape[:2]
    k, depth, wd = pose["k"], pose["depth"], pose["widths"]
    skin = _SKIN[rng.integers(len(_SKIN))] + rng.uniform(-15, 15, 3)
    shirt = _texture(rng, h, w, rng.uniform(0, 255, 3))
    trousers = _texture(rng, h, w, rng.uniform(0, 255, 3))
    sleeves_long = rng.random() < 0.5
    shorts = rng.random() < 0.3
    skin_img = np.broadcast_to(skin.astype(np.float32), (h, w, 3))
    hand_img = np.broadcast_to((skin * rng.uniform(0.78, 0.9)).astype(np.float32), (h, w, 3))

    def part(_name: str) -> np.ndarray:
        return np.zeros((h, w), np.uint8)

    masks: dict[str, np.ndarray] = {}
    fills: dict[str, np.ndarray] = {}
    torso = np.array([k[_K["left_shoulder"]], k[_K["right_shoulder"]], k[_K["right_hip"]], k[_K["left_hip"]]])
    centre = torso.mean(axis=0)
    torso = centre + (torso - centre) * np.array([1.12, 1.0])  # a little wider than the joints
    m = part("torso")
    cv2.fillConvexPoly(m, np.round(torso).astype(np.int32), 1)
    _capsule(m, k[_K["left_shoulder"]], k[_K["right_shoulder"]], wd["arm"])
    _capsule(m, k[_K["left_hip"]], k[_K["right_hip"]], wd["thigh"] * 0.8)
    _capsule(m, pose["neck"], pose["head"], pose["r"] * 0.8)  # neck
    masks["torso"], fills["torso"] = m, shirt
    for prefix, p in (("left", "l"), ("right", "r")):
        m = part("ua")
        _capsule(m, k[_K[f"{prefix}_shoulder"]], k[_K[f"{prefix}_elbow"]], wd["arm"])
        masks[f"{p}_upper_arm"], fills[f"{p}_upper_arm"] = m, shirt
        m = part("fa")
        _capsule(m, k[_K[f"{prefix}_elbow"]], k[_K[f"{prefix}_wrist"]], wd["forearm"])
        masks[f"{p}_forearm"], fills[f"{p}_forearm"] = m, (shirt if sleeves_long else skin_img)
        # Hand, drawn over the forearm: a palm that starts narrow at the wrist and is 1.6 forearm widths across at
        # ~0.05 figure heights past it, a thumb, and its own tone. The wrist is where the arm narrows and the tone
        # changes, as on a real arm (a bare forearm ending in a hand of its width and colour hid the wrist: wrists
        # were the worst-localised keypoints, their errors pointing back along the forearm).
        wrist, elbow = k[_K[f"{prefix}_wrist"]], k[_K[f"{prefix}_elbow"]]
        fdir = (wrist - elbow) / max(float(np.linalg.norm(wrist - elbow)), 1e-6)
        thumb_side = np.array([-fdir[1], fdir[0]]) * rng.choice([-1.0, 1.0])
        m = part("hand")
        cv2.ellipse(m, tuple(int(round(v)) for v in wrist + fdir * 0.05 * pose["u"]),
                    (max(2, int(round(0.05 * pose["u"]))), max(2, int(round(wd["forearm"] * 0.8)))),
                    float(np.degrees(math.atan2(fdir[1], fdir[0]))), 0, 360, 1, -1)
        _capsule(m, wrist + fdir * 0.02 * pose["u"] + thumb_side * 0.5 * wd["forearm"],
                 wrist + fdir * 0.055 * pose["u"] + thumb_side * 1.0 * wd["forearm"], wd["forearm"] * 0.4)
        masks[f"{p}_hand"], fills[f"{p}_hand"] = m, hand_img
        m = part("th")
        _capsule(m, k[_K[f"{prefix}_hip"]], k[_K[f"{prefix}_knee"]], wd["thigh"])
        masks[f"{p}_thigh"], fills[f"{p}_thigh"] = m, trousers
        m = part("sh")
        _capsule(m, k[_K[f"{prefix}_knee"]], k[_K[f"{prefix}_ankle"]], wd["shin"])
        ankle = k[_K[f"{prefix}_ankle"]]
        foot_dir = np.sign(pose["side"][0] * math.sin(math.radians(pose["yaw"]))) or rng.choice([-1.0, 1.0])
        cv2.ellipse(m, tuple(int(round(v)) for v in ankle + np.array([foot_dir * wd["shin"] * 0.5, wd["shin"] * 0.4])),
                    (max(2, int(wd["shin"] * 0.9)), max(1, int(wd["shin"] * 0.45))), 0, 0, 360, 1, -1)
        masks[f"{p}_shin"], fills[f"{p}_shin"] = m, (skin_img if shorts else trousers)
    m = part("head")
    r = pose["r"]
    hc = tuple(int(round(v)) for v in pose["head"])
    cv2.ellipse(m, hc, (max(2, int(r)), max(2, int(r * 1.15))),
                float(np.degrees(math.atan2(pose["down"][0], pose["down"][1])) * -1),
                0, 360, 1, -1)
    masks["head"], fills["head"] = m, skin_img
    # Depth order within the figure: far limbs, torso, near limbs, head.
    d = pose["depth"]
    order = sorted(_PARTS, key=lambda n: {
        "torso": 0.0, "head": 10.0,
        "l_upper_arm": d[_K["left_shoulder"]] + 0.02, "l_forearm": d[_K["left_shoulder"]] + 0.03,
        "r_upper_arm": d[_K["right_shoulder"]] + 0.02, "r_forearm": d[_K["right_shoulder"]] + 0.03,
        "l_hand": d[_K["left_shoulder"]] + 0.035, "r_hand": d[_K["right_shoulder"]] + 0.035,
        "l_thigh": d[_K["left_hip"]] - 0.02, "l_shin": d[_K["left_hip"]] - 0.01,
        "r_thigh": d[_K["right_hip"]] - 0.02, "r_shin": d[_K["right_hip"]] - 0.01,
    }[n])
    shade = rng.uniform(0.75, 0.95)
    full = np.zeros((h, w), bool)
    for name in order:
        sel = masks[name].astype(bool)
        if not sel.any():
            continue
        fill = fills[name][sel]
        if name not in ("torso", "head"):
            if d[_K["left_shoulder" if name[0] == "l" else "right_shoulder"]] < -0.01:
                fill = fill * shade  # far side a little darker
        canvas[sel] = np.clip(fill, 0, 255).astype(np.uint8)
        owner[sel] = pid * 16 + _PART_ID[name]
        full |= sel
    # Face: hair, then the features on the side that faces the camera.
    hair = tuple(int(c) for c in rng.integers(0, 120, 3))
    hair_mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(hair_mask, hc, (max(2, int(r * 1.05)), max(2, int(r * 1.2))),
                float(-np.degrees(math.atan2(pose["down"][0], pose["down"][1]))), 180, 360, 1, -1)
    if abs(pose["yaw"]) > 120:  # seen from the back: hair covers the head
        cv2.ellipse(hair_mask, hc, (max(2, int(r)), max(2, int(r * 1.15))), 0, 0, 360, 1, -1)
    sel = hair_mask.astype(bool) & (owner == pid * 16 + _PART_ID["head"])
    canvas[sel] = hair
    dot = max(1, int(round(r * 0.14)))
    for name, color, size in (("left_ear", skin * 0.8, dot * 2), ("right_ear", skin * 0.8, dot * 2),
                              ("left_eye", (30, 30, 30), dot), ("right_eye", (30, 30, 30), dot),
                              ("nose", skin * 0.6, dot)):
        thr = -0.25 if "ear" in name else 0.15
        if depth[_K[name]] > thr:
            centre_px = tuple(int(round(v)) for v in k[_K[name]])
            cv2.circle(canvas, centre_px, size, tuple(float(c) for c in np.asarray(color)), -1, cv2.LINE_AA)
            if "ear" in name:
                ear = np.zeros((h, w), np.uint8)
                cv2.circle(ear, centre_px, size, 1, -1)
                owner[ear.astype(bool)] = pid * 16 + _PART_ID["head"]
                full |= ear.astype(bool)
    return full


def _visibility(k: np.ndarray, depth: np.ndarray, owner: np.ndarray, pid: int) -> np.ndarray:
    """COCO-17 visibility: 0 outside the image, 1 hidden (by another figure or the figure itself), 2 visible."""
    h, w = owner.shape
    v = np.zeros(17)
    for name, idx in _K.items():
        x, y = k[idx]
        if not inside_image(k[idx], w, h):
            continue
        xi, yi = int(round(x)), int(round(y))
        top = int(owner[yi, xi])
        own = top // 16 == pid and (top % 16) in {_PART_ID[p] for p in _OWNERS[name]}
        if name in ("nose", "left_eye", "right_eye"):
            own = own and depth[idx] > 0.15
        elif name in ("left_ear", "right_ear"):
            own = own and depth[idx] > -0.25
        v[idx] = 2 if own else 1
    return v


#: Scenes :func:`render_scene` draws (from the same generator, one after another) for one image before it gives up
#: finding ``min_people`` visible people: a figure hidden entirely behind nearer ones is no person of the image.
SCENE_TRIES = 20


def render_scene(rng: np.random.Generator, cfg: SyntheticConfig = SyntheticConfig(),
                 ) -> tuple[np.ndarray, list[SyntheticPerson]]:
    """Render one image: BGR uint8 ``[H, W, 3]`` and its people (far to near), each with COCO-17 keypoints and mask.

    At least ``cfg.min_people`` people are visible: a scene where nearer figures hide one entirely is drawn again
    (up to :data:`SCENE_TRIES` times, then ``ValueError``: the image is too small for that many people)."""
    for _ in range(SCENE_TRIES):
        img, people = _render_once(rng, cfg)
        if len(people) >= cfg.min_people:
            return img, people
    raise ValueError(f"--min-people {cfg.min_people}: {SCENE_TRIES} scenes of {cfg.width}x{cfg.height} pixels in a "
                     f"row hid one of the people entirely behind nearer ones; lower --min-people or enlarge the image")


def _render_once(rng: np.random.Generator, cfg: SyntheticConfig) -> tuple[np.ndarray, list[SyntheticPerson]]:
    """One scene of :func:`render_scene`: its people are those left visible (possibly fewer than drawn)."""
    h, w = cfg.height, cfg.width
    canvas = _background(rng, cfg)
    owner = np.zeros((h, w), np.int32)  # pid * 16 + part id of the top-most surface; 0 = background
    n = int(rng.integers(cfg.min_people, cfg.max_people + 1))
    poses = []
    for _ in range(n):
        body_h = rng.uniform(*cfg.height_range) * h
        for _attempt in range(8):
            feet = np.array([rng.uniform(0.1, 0.9) * w, rng.uniform(0.85, 1.05) * h - (h - body_h) * rng.uniform(0, 1)])
            feet[1] = max(feet[1], body_h * 0.9)
            centre_x = feet[0]
            # keep figures apart enough that each stays mostly visible
            if all(abs(centre_x - p["k"][:, 0].mean()) > 0.25 * min(body_h, p["body_h"]) for p in poses):
                break
        pose = _pose(rng, body_h, feet)
        pose["body_h"] = body_h
        poses.append(pose)
    # Far to near: larger figures (lower feet) tend to be nearer; draw in that order.
    poses.sort(key=lambda p: p["body_h"])
    people: list[SyntheticPerson] = []
    for pid, pose in enumerate(poses, start=1):
        _draw_person(canvas, owner, pid, pose, rng)
    for pid, pose in enumerate(poses, start=1):
        visible = (owner // 16) == pid
        kp = np.zeros((17, 3))
        kp[:, :2] = pose["k"]
        kp[:, 2] = _visibility(pose["k"], pose["depth"], owner, pid)
        people.append(SyntheticPerson(keypoints=kp, mask=visible, depth_rank=pid - 1))
    # Camera noise and slight blur.
    img = canvas.astype(np.float32) + rng.normal(0, rng.uniform(0, 6), canvas.shape).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (3, 3), 0)
    people = [p for p in people if p.mask.any()]
    return img, people


def generate_dataset(out: str | Path, num_images: int, seed: int = 0, cfg: SyntheticConfig = SyntheticConfig(),
                     jpeg_quality: int = 92, progress: bool = True) -> Path:
    """Write ``out/images/*.jpg`` and ``out/annotations.json``; returns the annotation path.

    Image ``i`` is rendered from ``numpy.random.default_rng([seed, i])``, so a dataset is identical for a seed
    whatever else was generated before.
    """
    from tqdm import tqdm

    if num_images < 1:
        raise ValueError(f"--images must be >= 1, got {num_images}")
    if seed < 0:  # numpy's seed sequences take non-negative integers only
        raise ValueError(f"--seed must be >= 0, got {seed}")
    out = Path(out)
    for folder in (out, out / "images"):
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{folder} is a file, expected a folder for the dataset")
    (out / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in tqdm(range(num_images), desc="synthetic people", unit="img", disable=not progress):
        rng = np.random.default_rng([seed, i])
        img, people = render_scene(rng, cfg)
        name = f"{i:06d}.jpg"
        if not cv2.imwrite(str(out / "images" / name), img, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]):
            raise OSError(f"could not write {out / 'images' / name}")
        image_id = i + 1
        images.append({"id": image_id, "file_name": name, "width": cfg.width, "height": cfg.height})
        for person in people:
            annotations.append(person.coco_annotation(len(annotations) + 1, image_id))
    ann_path = out / "annotations.json"
    doc = {"info": {"description": "lwpose synthetic people", "seed": seed, "version": "1.0"},
           "licenses": [], "images": images, "annotations": annotations, "categories": [person_category()]}
    write_text_atomic(ann_path, dumps_strict(doc))
    stale = [p for p in (out / "images").glob("[0-9]" * 6 + ".jpg") if int(p.stem) >= num_images]
    for path in stale:  # an earlier, larger dataset's images: not in this annotation file
        path.unlink()
    if stale:
        log.info("removed %d image(s) of an earlier, larger dataset in %s", len(stale), out / "images")
    log.info("wrote %d images with %d people to %s", len(images), len(annotations), out)
    return ann_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.synthetic", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output folder (images/ and annotations.json)")
    parser.add_argument("--images", type=int, default=200, help="number of images (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same dataset (default 0)")
    parser.add_argument("--width", type=int, default=SyntheticConfig.width, help="image width, pixels")
    parser.add_argument("--height", type=int, default=SyntheticConfig.height, help="image height, pixels")
    parser.add_argument("--max-people", type=int, default=SyntheticConfig.max_people, help="people per image, at most")
    parser.add_argument("--min-people", type=int, default=SyntheticConfig.min_people, help="people per image, at least")
    parser.add_argument("--distractors", type=int, nargs=2, metavar=("MIN", "MAX"),
                        default=SyntheticConfig.distractors, help="distractor shapes per image (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = SyntheticConfig(width=args.width, height=args.height, max_people=args.max_people,
                              min_people=args.min_people, distractors=tuple(args.distractors))
        path = generate_dataset(args.out, args.images, args.seed, cfg, progress=not args.quiet)
    except (ValueError, OSError) as exc:  # OSError: an output folder that cannot be created or written
        parser.error(str(exc))
    print(json.dumps({"annotations": str(path), "images": args.images, "seed": args.seed}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
