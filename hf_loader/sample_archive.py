"""A small synthetic archive in the AHU layout, with its ground truth.

The real archive is large and its exact file names are unknown, so every other part of this
project (the builder, the preprocessing, the training tests) runs on this archive. It writes
exactly the layout of `docs/archive_format.md`: the three tiers (`raw/`, `filtered/`,
`processed/`), each also zipped, and `manifest.json`, the truth the tests compare against.

Realism, in short: vertical 9:16 phone-screen recordings (H.264 yuv420p, 30 fps) of an
ultrasound machine whose image (sector or linear probe, speckle, depth attenuation, device
text) sits in a rectangle (`us_box`) on a black screen, with captions outside it and segments
without ultrasound (title card, presenter) at the start or end. Each of the 13 labels has its
own visual signature inside the ultrasound image; `Vascular` looks like `Cyst` in any single
frame and differs only by its pulsation over time.

The processed tier is made from the truth (exact `us_box` crop of every `FRAME_STRIDE`-th
rendered frame; noise frames from the segment schedule), never by running a preprocessing
algorithm, so `hf_loader.preprocess` can be validated against it.

Everything is deterministic from the seed: two runs give byte-identical files (zip and xlsx
timestamps are fixed, the encoder runs on one thread).

Example:

```python
from hf_loader.sample_archive import make_sample_archive, load_manifest

root = make_sample_archive("/tmp/ahu", seed=0)  # 26 samples, ~10 MB with the zips, ~6 s of CPU
manifest = load_manifest(root)
```
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from modeling_rvit.ultrasound_frames import FRAME_SIZE, FRAME_STRIDE, IMAGE_SET_CROP_FRACTION

from .constants import (
    COMMENTS_TABLE_NAME,
    LABELS,
    NOISE_LIST_NAME,
    RENAME_TABLE_NAME,
    TIERS,
)
from .errors import AHUDataError
from .noise_list import write_noise_list
from .sample_rendering import PhoneOverlay, PresenterScene, TitleCard, UltrasoundScene

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
FPS = 30
# Where the authors' noise list points (absolute paths of another machine).
NOISE_PATH_PREFIX = "/home/ahu/Data/processed"
# Fixed timestamps keep zips and xlsx files byte-identical between runs.
ZIP_DATE_TIME = (2024, 1, 1, 0, 0, 0)
XLSX_TIMESTAMP = "2024-01-01T00:00:00Z"
SOURCE_JPEG_QUALITY = 90
PROCESSED_JPEG_QUALITY = 85


class SampleArchiveError(AHUDataError):
    """An option of the sample-archive generator that cannot be honoured."""

    reason = "bad generator option"


@dataclass(frozen=True)
class ArchiveScale:
    """Sizes of one preset scale.

    Args:
        width, height: video frame size in pixels (even numbers, 9:16 portrait).
        num_samples: number of samples when none is given.
        seconds: (shortest, longest) video duration in seconds.
    """

    width: int
    height: int
    num_samples: int
    seconds: tuple[float, float]


SCALES: dict[str, ArchiveScale] = {
    "default": ArchiveScale(width=288, height=512, num_samples=26, seconds=(2.5, 3.5)),
    "bench": ArchiveScale(width=720, height=1280, num_samples=400, seconds=(5.5, 6.5)),
}

# Creators (hospital departments and doctors posting on Douyin); the first ones post most.
CREATORS: tuple[str, ...] = (
    "浙江大学附属第一医院超声科",
    "超声科李医生",
    "华西医院超声医学科",
    "DrWang_Ultrasound",
    "北京协和超声小课堂",
    "ultrasound_zhang",
    "广东省人民医院超声科",
    "超声影像王主任",
)

LABEL_TERMS: dict[str, str] = {
    "Tumor": "肿瘤",
    "Cyst": "囊肿",
    "Inflammation": "炎症",
    "Stone": "结石",
    "Nodule": "结节",
    "Injury": "损伤",
    "Calcification": "钙化",
    "Occupancy": "占位",
    "Hernia": "疝",
    "Vascular": "血管瘤",
    "Polyp": "息肉",
    "Ectopic": "异位妊娠",
    "Anomalies": "畸形",
}
# Organs a post about each label is typically about (for the Chinese post titles).
LABEL_ORGANS: dict[str, tuple[str, ...]] = {
    "Tumor": ("肝脏", "乳腺", "甲状腺", "肾脏"),
    "Cyst": ("肝脏", "肾脏", "卵巢", "甲状腺"),
    "Inflammation": ("胆囊", "阑尾", "乳腺", "淋巴结"),
    "Stone": ("胆囊", "肾脏", "输尿管"),
    "Nodule": ("甲状腺", "乳腺"),
    "Injury": ("肌肉", "肝脏", "脾脏"),
    "Calcification": ("甲状腺", "乳腺", "前列腺"),
    "Occupancy": ("肝脏", "肾脏", "胰腺"),
    "Hernia": ("腹股沟", "脐", "腹壁"),
    "Vascular": ("肝脏", "颈部", "皮下"),
    "Polyp": ("胆囊", "子宫内膜"),
    "Ectopic": ("输卵管", "宫角"),
    "Anomalies": ("胎儿", "胎儿心脏", "肾脏"),
}
TITLE_PATTERNS: tuple[str, ...] = (
    "{organ}{term}的超声表现",
    "一分钟看懂{organ}{term}",
    "{organ}{term}超声诊断要点",
)

VIEWER_COMMENTS: tuple[str, ...] = (
    "请问这是什么情况？😮",
    "医生讲得好清楚👍👍",
    "我也查出来这个，需要手术吗😭",
    "学习了📚",
    "这个要紧吗？在线等🙏",
    "感谢分享❤️",
    "图像好清晰，什么机器？",
    "我妈妈也是这样，吃药能好吗",
    "收藏了⭐",
    "太专业了，看不懂😂",
    "多久复查一次比较好？",
    "超声医生辛苦了💪",
)
VIEWER_REPLIES: tuple[str, ...] = ("同问🤔", "我也想知道", "+1", "哈哈哈😂", "一样的情况😢")
CREATOR_COMMENTS: tuple[str, ...] = (
    "谢谢关注🙏",
    "建议到医院进一步检查哦",
    "一般定期复查就可以😊",
    "需要结合临床，具体请面诊",
    "是的，这个比较典型👍",
    "不客气❤️",
)
REPLY_PREFIX = "\u3000\u3000"
CREATOR_FILL = "FFFF00"


@dataclass
class Segment:
    """A run of source frames without ultrasound: frames [start, stop) show `kind`."""

    kind: str  # "title_card" | "presenter"
    start: int
    stop: int


@dataclass
class SamplePlan:
    """Everything decided about one sample before rendering (all drawn from the seed)."""

    sample_id: int
    kind: str  # "video" | "image_set"
    labels: list[str]
    creator: str
    post_code: str
    title: str
    seed: int
    num_frames: int = 0
    num_images: int = 0
    us_box: tuple[int, int, int, int] = (0, 0, 0, 0)
    probe: str = "sector"
    segments: list[Segment] = field(default_factory=list)
    pulse_period_s: float | None = None
    motion_px: int = 0
    comments: list[dict] = field(default_factory=list)

    @property
    def labels_field(self) -> str:
        return ",".join(self.labels)

    @property
    def filtered_name(self) -> str:
        prefix = "Video" if self.kind == "video" else "Photos"
        return f"{prefix}_{self.sample_id}_{self.labels_field}"

    @property
    def processed_name(self) -> str:
        return f"{self.sample_id}_{self.labels_field}"


def frame_file_name(index: int) -> str:
    """Name of the `index`-th processed frame, counted from 1: `01.jpg`, ..., `99.jpg`, `100.jpg`."""
    return f"{index:02d}.jpg"


def load_manifest(archive_dir: str | Path) -> dict:
    """Reads `manifest.json` of a sample archive written by `make_sample_archive`.

    Args:
        archive_dir: the folder `make_sample_archive` returned.

    Returns:
        The manifest as a dict (see docs/archive_format.md).
    """
    path = Path(archive_dir) / MANIFEST_NAME
    if not path.is_file():
        raise SampleArchiveError(
            "no manifest.json here; generate the archive with make_sample_archive() or "
            "scripts/make_sample_archive.py",
            entry=str(path),
        )
    return json.loads(path.read_text(encoding="utf-8"))


def make_sample_archive(
    out_dir: str | Path,
    seed: int = 0,
    *,
    num_samples: int | None = None,
    scale: str = "default",
    width: int | None = None,
    height: int | None = None,
    zips: bool = True,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Writes a synthetic archive in the AHU layout and its manifest.

    Args:
        out_dir: folder to write; created if missing. It must be empty unless `overwrite`.
        seed: everything is drawn from this seed; the same seed gives byte-identical files.
        num_samples: number of samples (default: 26 at scale "default", 400 at "bench").
            With 13 or more, every label of `constants.LABELS` appears at least once.
        scale: "default" (288x512 frames, ~3 s videos) or "bench" (720x1280, ~6 s).
        width, height: override the scale's frame size in pixels (even, at least 96x128).
        zips: also write raw.zip, filtered.zip and processed.zip.
        overwrite: replace the tiers, zips and manifest already in `out_dir`.
        progress: show a tqdm progress bar over samples.

    Returns:
        `out_dir` as a Path.
    """
    if scale not in SCALES:
        raise SampleArchiveError(f"unknown scale {scale!r}; use one of {sorted(SCALES)}", entry="scale")
    spec = SCALES[scale]
    width = spec.width if width is None else int(width)
    height = spec.height if height is None else int(height)
    num_samples = spec.num_samples if num_samples is None else int(num_samples)
    if width % 2 or height % 2 or width < 96 or height < 128:
        raise SampleArchiveError(
            f"frame size {width}x{height} is not usable: H.264 yuv420p needs even sizes; use at least 96x128",
            entry="width/height",
        )
    if num_samples < 1:
        raise SampleArchiveError(f"num_samples must be at least 1, got {num_samples}", entry="num_samples")

    out_dir = Path(out_dir)
    _prepare_out_dir(out_dir, overwrite)
    rng = np.random.default_rng(seed)
    plans = _plan_samples(rng, num_samples, width, height, spec.seconds)

    for tier in TIERS:
        (out_dir / tier).mkdir()
    samples = []
    iterator = plans
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(plans, desc="sample archive", unit="sample")
    for plan in iterator:
        samples.append(_write_sample(out_dir, plan, width, height))

    _write_rename_table(out_dir / "raw" / RENAME_TABLE_NAME, plans)
    write_noise_list(
        out_dir / "processed" / NOISE_LIST_NAME,
        ((Path(sample["processed_path"]).name, sample["noise_frames"]) for sample in samples),
        prefix=NOISE_PATH_PREFIX,
    )
    if zips:
        for tier in TIERS:
            _zip_folder(out_dir / tier, out_dir / f"{tier}.zip")
    manifest = {
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "scale": scale,
        "labels": list(LABELS),
        "video": {
            "width": width,
            "height": height,
            "fps": FPS,
            "frame_stride": FRAME_STRIDE,
            "frame_size": FRAME_SIZE,
        },
        "noise_path_prefix": NOISE_PATH_PREFIX,
        "zips": [f"{tier}.zip" for tier in TIERS] if zips else [],
        "samples": samples,
    }
    (out_dir / MANIFEST_NAME).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    return out_dir


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    owned = [out_dir / name for name in (*TIERS, *(f"{tier}.zip" for tier in TIERS), MANIFEST_NAME)]
    if out_dir.exists() and not out_dir.is_dir():
        raise SampleArchiveError(
            "exists and is not a folder; choose another --output_dir", entry=str(out_dir)
        )
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not overwrite:
            raise SampleArchiveError(
                "folder is not empty; choose an empty folder or pass overwrite=True (--overwrite)",
                entry=str(out_dir),
            )
        for path in owned:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _plan_samples(
    rng: np.random.Generator, num_samples: int, width: int, height: int, seconds: tuple[float, float]
) -> list[SamplePlan]:
    """Draws labels, kinds, creators, boxes, noise schedules and comments for every sample."""
    # Long tail: label weight falls with its rank in LABELS; every label once when there is room.
    weights = 1.0 / np.arange(1, len(LABELS) + 1) ** 1.1
    weights /= weights.sum()
    base = list(range(len(LABELS))) if num_samples >= len(LABELS) else []
    extra = rng.choice(len(LABELS), size=num_samples - len(base), p=weights)
    primaries = [LABELS[i] for i in [*base, *extra.tolist()]]
    primaries = [primaries[i] for i in rng.permutation(num_samples)]

    label_sets = []
    for primary in primaries:
        labels = [primary]
        if rng.random() < 0.2:
            others = [i for i in range(len(LABELS)) if LABELS[i] != primary]
            p = weights[others] / weights[others].sum()
            labels.append(LABELS[int(rng.choice(others, p=p))])
        label_sets.append(labels)
    if num_samples >= 2 and all(len(labels) == 1 for labels in label_sets):
        second = "Stone" if label_sets[0][0] != "Stone" else "Cyst"
        label_sets[0].append(second)

    is_image_set = rng.random(num_samples) < 0.15
    for i, labels in enumerate(label_sets):
        if "Vascular" in labels:  # pulsation is only visible over time
            is_image_set[i] = False
    if num_samples >= 4 and not is_image_set.any():
        candidates = [i for i, labels in enumerate(label_sets) if "Vascular" not in labels]
        is_image_set[candidates[-1]] = True

    creator_weights = 1.0 / np.arange(1, len(CREATORS) + 1)
    creator_weights /= creator_weights.sum()
    used_codes: set[str] = set()
    used_titles: set[tuple[str, str]] = set()
    plans = []
    for index, labels in enumerate(label_sets):
        kind = "image_set" if is_image_set[index] else "video"
        creator = CREATORS[int(rng.choice(len(CREATORS), p=creator_weights))]
        while True:
            code = ("V" if kind == "video" else "P") + "".join(rng.choice(list("0123456789ABCDEF"), size=7))
            if code not in used_codes:
                used_codes.add(code)
                break
        pattern = TITLE_PATTERNS[int(rng.integers(len(TITLE_PATTERNS)))]
        organs = LABEL_ORGANS[labels[0]]
        title = pattern.format(organ=organs[int(rng.integers(len(organs)))], term=LABEL_TERMS[labels[0]])
        copy = 2
        base_title = title
        while (creator, title) in used_titles:
            title = f"{base_title}（{copy}）"
            copy += 1
        used_titles.add((creator, title))
        plan = SamplePlan(
            sample_id=index + 1,
            kind=kind,
            labels=labels,
            creator=creator,
            post_code=code,
            title=title,
            seed=int(rng.integers(2**31)),
            probe="sector" if rng.random() < 0.55 else "linear",
        )
        if kind == "video":
            _plan_video(rng, plan, width, height, seconds)
        else:
            plan.num_images = int(rng.integers(3, 7))
        plan.comments = _plan_comments(rng, index)
        plans.append(plan)

    videos = [plan for plan in plans if plan.kind == "video"]
    if videos and not any(plan.segments and plan.segments[0].start == 0 for plan in videos):
        # At least one sample's processed frames must include noise (frame 0 of a start segment).
        first = videos[0]
        length = max(FRAME_STRIDE, first.num_frames // 5)
        first.segments = [Segment("title_card", 0, length)]
    return plans


def _plan_video(rng: np.random.Generator, plan: SamplePlan, width: int, height: int, seconds) -> None:
    plan.num_frames = round(rng.uniform(*seconds) * FPS)
    # Even corners: the rectangle then covers whole 2x2 chroma blocks (see _video_frames).
    box_w = _even(width * rng.uniform(0.82, 1.0))
    box_h = _even(box_w * rng.uniform(0.78, 1.05))
    x0 = 2 * int(rng.integers(0, (width - box_w) // 2 + 1))
    y0 = _even(height * rng.uniform(0.2, 0.36))
    y0 = min(y0, height - box_h - _even(0.12 * height))
    plan.us_box = (x0, y0, x0 + box_w, y0 + box_h)
    # A frozen or replayed image (0 px), a slow drift (1 px) or a live scan (3 px).
    plan.motion_px = int(rng.choice([0, 1, 3], p=[0.3, 0.3, 0.4]))
    if "Vascular" in plan.labels:
        # 0.7-0.9 s: never a multiple of 1/3 s, so every 10th frame at 30 fps sees another phase.
        plan.pulse_period_s = float(rng.uniform(0.7, 0.9))
    if rng.random() < 1 / 6:
        return  # a clean recording without a no-ultrasound segment
    # Noise covers 10-30 % of the frames: always less than half, so a majority cluster exists.
    fraction = rng.uniform(0.1, 0.3)
    n = plan.num_frames
    total = min(max(round(fraction * n), math.ceil(0.1 * n)), math.floor(0.3 * n))
    where = rng.choice(["start", "end", "both"], p=[0.45, 0.35, 0.2])
    kinds = ["title_card", "presenter"]
    if where == "start":
        plan.segments = [Segment(kinds[int(rng.integers(2))], 0, total)]
    elif where == "end":
        plan.segments = [Segment(kinds[int(rng.integers(2))], plan.num_frames - total, plan.num_frames)]
    else:
        head = total // 2
        plan.segments = [
            Segment("title_card", 0, head),
            Segment("presenter", plan.num_frames - (total - head), plan.num_frames),
        ]


def _plan_comments(rng: np.random.Generator, index: int) -> list[dict]:
    """0-8 comments; replies follow their parent (depth 1)."""
    base_day = np.datetime64("2023-01-01T08:00") + np.timedelta64(int(rng.integers(0, 600)), "D")

    def stamp(minutes: int) -> str:
        return str(base_day + np.timedelta64(minutes, "m")).replace("T", " ")

    def comment(text: str, depth: int, by_creator: bool, liked: bool, minutes: int) -> dict:
        likes = 0 if by_creator and depth else int(rng.pareto(1.2) * 4)
        return {
            "text": text,
            "depth": depth,
            "likes": likes,
            "liked_by_creator": liked,
            "by_creator": by_creator,
            "time": stamp(minutes),
        }

    if index == 0:  # one post shows every feature, whatever the seed
        return [
            comment(VIEWER_COMMENTS[0], 0, False, True, 5),
            comment(CREATOR_COMMENTS[2], 1, True, False, 65),
            comment(VIEWER_REPLIES[0], 1, False, False, 90),
            comment(VIEWER_COMMENTS[1], 0, False, False, 200),
            comment(CREATOR_COMMENTS[0], 0, True, False, 300),
        ]
    if index == 1:
        return []
    count = int(rng.integers(0, 9))
    comments: list[dict] = []
    minutes = int(rng.integers(1, 120))
    while len(comments) < count:
        by_creator = rng.random() < 0.1
        pool = CREATOR_COMMENTS if by_creator else VIEWER_COMMENTS
        text = pool[int(rng.integers(len(pool)))]
        comments.append(comment(text, 0, by_creator, (not by_creator) and rng.random() < 0.3, minutes))
        minutes += int(rng.integers(5, 600))
        if len(comments) < count and not by_creator and rng.random() < 0.45:
            reply_by_creator = rng.random() < 0.6
            pool = CREATOR_COMMENTS if reply_by_creator else VIEWER_REPLIES
            text = pool[int(rng.integers(len(pool)))]
            liked = (not reply_by_creator) and rng.random() < 0.2
            comments.append(comment(text, 1, reply_by_creator, liked, minutes))
            minutes += int(rng.integers(5, 300))
    return comments


def _write_sample(out_dir: Path, plan: SamplePlan, width: int, height: int) -> dict:
    raw_dir = out_dir / "raw" / plan.creator / plan.post_code
    raw_dir.mkdir(parents=True)
    processed_dir = out_dir / "processed" / plan.processed_name
    processed_dir.mkdir()
    rng = np.random.default_rng(plan.seed)

    if plan.kind == "video":
        filtered_path = out_dir / "filtered" / f"{plan.filtered_name}.mp4"
        scene = UltrasoundScene(
            rng,
            plan.labels,
            plan.us_box[2] - plan.us_box[0],
            plan.us_box[3] - plan.us_box[1],
            plan.probe,
            pulse_period_s=plan.pulse_period_s,
            motion=plan.motion_px,
        )
        processed = []
        noise = []
        noise_indices = {i for segment in plan.segments for i in range(segment.start, segment.stop)}

        def frames():
            for index, (yuv, us_rgb) in enumerate(_video_frames(rng, plan, scene, width, height)):
                if us_rgb is not None:  # every FRAME_STRIDE-th frame: the processed truth
                    name = frame_file_name(index // FRAME_STRIDE + 1)
                    _save_jpeg(_resize(us_rgb), processed_dir / name, PROCESSED_JPEG_QUALITY)
                    processed.append(name)
                    if index in noise_indices:
                        noise.append(name)
                yield yuv

        _encode_video(filtered_path, frames(), width, height)
        raw_files = [f"{plan.post_code}.mp4"]
        shutil.copyfile(filtered_path, raw_dir / raw_files[0])
        entry_path = f"filtered/{filtered_path.name}"
        num_source_frames = plan.num_frames
        fps = FPS
        us_box = list(plan.us_box)
    else:
        filtered_dir = out_dir / "filtered" / plan.filtered_name
        filtered_dir.mkdir()
        image_w = _even(width * 1.25)
        image_h = _even(width * 0.9375)
        raw_files, processed, noise = [], [], []
        for image_index in range(1, plan.num_images + 1):
            scene = UltrasoundScene(rng, plan.labels, image_w, image_h, plan.probe, motion=0)
            gray = scene.render(0)
            data = _jpeg_bytes(scene.colorize(gray), SOURCE_JPEG_QUALITY)
            name = frame_file_name(image_index)
            (filtered_dir / name).write_bytes(data)
            raw_name = f"{plan.post_code}_{image_index:02d}.jpg"
            (raw_dir / raw_name).write_bytes(data)
            raw_files.append(raw_name)
            # The truth for image sets is made from the decoded JPEG, as the paper's code reads it.
            decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            dy = round(image_h * IMAGE_SET_CROP_FRACTION)
            dx = round(image_w * IMAGE_SET_CROP_FRACTION)
            _save_jpeg(
                _resize(decoded[dy : image_h - dy, dx : image_w - dx]),
                processed_dir / name,
                PROCESSED_JPEG_QUALITY,
            )
            processed.append(name)
        entry_path = f"filtered/{filtered_dir.name}"
        num_source_frames = plan.num_images
        fps = None
        us_box = [0, 0, image_w, image_h]

    _write_comment_table(raw_dir / COMMENTS_TABLE_NAME, plan.comments)
    extension = ".mp4" if plan.kind == "video" else ""
    return {
        "sample_id": plan.sample_id,
        "kind": plan.kind,
        "labels": list(plan.labels),
        "primary_label": plan.labels[0],
        "creator": plan.creator,
        "post_code": plan.post_code,
        "original_path": f"{plan.creator}/{plan.title}{extension}",
        "raw_path": f"raw/{plan.creator}/{plan.post_code}",
        "raw_files": raw_files,
        "filtered_path": entry_path,
        "processed_path": f"processed/{plan.processed_name}",
        "num_source_frames": num_source_frames,
        "fps": fps,
        "processed_frames": processed,
        "noise_frames": noise,
        "segments": [{"kind": s.kind, "start_frame": s.start, "stop_frame": s.stop} for s in plan.segments],
        "us_box": us_box,
        "probe": plan.probe,
        "probe_motion_px": plan.motion_px,
        "pulse_period_s": plan.pulse_period_s,
        "comments": plan.comments,
    }


def _even(value: float) -> int:
    return round(value / 2.0) * 2


def _resize(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(rgb).resize((FRAME_SIZE, FRAME_SIZE), Image.BILINEAR)


def _jpeg_bytes(rgb: np.ndarray | Image.Image, quality: int) -> bytes:
    image = rgb if isinstance(rgb, Image.Image) else Image.fromarray(rgb)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _save_jpeg(image: Image.Image, path: Path, quality: int) -> None:
    path.write_bytes(_jpeg_bytes(image, quality))


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range conversion of (height, width, 3) uint8 RGB to a yuv420p plane stack.

    Returns a (height * 3 // 2, width) uint8 array (Y, then U, then V), the layout
    `av.VideoFrame.from_ndarray(..., format="yuv420p")` takes. Done here in integer numpy
    rather than by swscale, whose SIMD paths depend on buffer alignment and so are not
    byte-reproducible from run to run.
    """
    height, width, _ = rgb.shape
    # uint16 is enough for luma (66 + 129 + 25) * 255 < 2**16, and halves the memory traffic.
    pixels = rgb.astype(np.uint16)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    out = np.empty((height * 3 // 2, width), np.uint8)
    out[:height] = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    # Chroma from the sum of each 2x2 block (four pixels, so the shifts gain two bits).
    quad = (pixels[0::2, 0::2] + pixels[1::2, 0::2] + pixels[0::2, 1::2] + pixels[1::2, 1::2]).astype(
        np.int32
    )
    r4, g4, b4 = quad[..., 0], quad[..., 1], quad[..., 2]
    u = ((-38 * r4 - 74 * g4 + 112 * b4 + 512) >> 10) + 128
    v = ((112 * r4 - 94 * g4 - 18 * b4 + 512) >> 10) + 128
    quarter = (height // 2) * (width // 2)
    out[height:].reshape(-1)[:quarter] = u.reshape(-1)
    out[height:].reshape(-1)[quarter:] = v.reshape(-1)
    return out


def _encode_video(path: Path, frames, width: int, height: int) -> None:
    """Encodes yuv420p frames ((height * 3 // 2, width) uint8 plane stacks, see
    `rgb_to_yuv420p`) as an H.264 mp4 at `FPS`."""
    import av

    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        # One thread and fixed options keep the bitstream identical from run to run.
        stream.codec_context.thread_count = 1
        # x264's macroblock-tree rate control reads memory left over from earlier encoders
        # (the output then depends on what ran before in the process): keep it off.
        stream.codec_context.options = {
            "preset": "veryfast",
            "crf": "26",
            "threads": "1",
            "x264-params": "mbtree=0",
        }
        for index, yuv in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _save_workbook(workbook, path: Path) -> None:
    """Saves an openpyxl workbook with fixed document dates and zip timestamps."""
    buffer = io.BytesIO()
    workbook.properties.creator = "ahu-sample-archive"
    workbook.save(buffer)
    _rewrite_zip_deterministic(buffer.getvalue(), path)


def _rewrite_zip_deterministic(data: bytes, path: Path) -> None:
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl stamps "now" into created/modified at save time.
                content = re.sub(
                    rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)",
                    rb"\g<1>" + XLSX_TIMESTAMP.encode() + rb"\g<3>",
                    content,
                )
            target.writestr(_zip_info(info.filename), content)


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _write_comment_table(path: Path, comments: list[dict]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, PatternFill

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "comments"
    sheet.append(["comment", "likes", "liked_by_creator", "time"])
    fill = PatternFill(fill_type="solid", start_color=CREATOR_FILL, end_color=CREATOR_FILL)
    for comment in comments:
        text = REPLY_PREFIX + comment["text"] if comment["depth"] else comment["text"]
        sheet.append([text, comment["likes"], "是" if comment["liked_by_creator"] else "否", comment["time"]])
        cell = sheet.cell(row=sheet.max_row, column=1)
        if comment["depth"]:
            cell.alignment = Alignment(indent=comment["depth"])
        if comment["by_creator"]:
            cell.fill = fill
    sheet.column_dimensions["A"].width = 40
    sheet.column_dimensions["D"].width = 18
    _save_workbook(workbook, path)


def _write_rename_table(path: Path, plans: list[SamplePlan]) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "rename"
    sheet.append(["original_path", "encoded_path", "filtered_name"])
    for plan in plans:
        extension = ".mp4" if plan.kind == "video" else ""
        sheet.append(
            [
                f"{plan.creator}/{plan.title}{extension}",
                f"{plan.creator}/{plan.post_code}",
                plan.filtered_name,
            ]
        )
    sheet.column_dimensions["A"].width = 50
    sheet.column_dimensions["B"].width = 36
    sheet.column_dimensions["C"].width = 28
    _save_workbook(workbook, path)


def _zip_folder(folder: Path, zip_path: Path) -> None:
    """Zips `folder` with its name as the top folder; sorted members, fixed timestamps."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with zipfile.ZipFile(zip_path, "w") as archive:
        for file in files:
            info = _zip_info(file.relative_to(folder.parent).as_posix())
            # Media is already compressed: storing it keeps zipping fast.
            if file.suffix.lower() in (".mp4", ".jpg", ".jpeg", ".xlsx"):
                info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, file.read_bytes())


def _video_frames(
    rng: np.random.Generator, plan: SamplePlan, scene: UltrasoundScene, width: int, height: int
):
    """Yields `(yuv, us_rgb)` for each source frame of one video.

    `yuv` is the whole frame as a yuv420p plane stack (the buffer is reused: encode it before
    the next step). `us_rgb` is the (box height, box width, 3) uint8 RGB content of `us_box`
    for every `FRAME_STRIDE`-th frame (the processed truth) and None otherwise.

    Ultrasound frames only change inside `us_box` (and the progress bar), so only that
    region is converted, straight from the grey image through the scene's tables.
    """
    x0, y0, x1, y1 = plan.us_box
    overlay = PhoneOverlay(
        rng, width, height, plan.us_box, plan.creator, plan.title, f"#超声 #{LABEL_TERMS[plan.labels[0]]}"
    )
    noise_scene_at = {}
    for segment in plan.segments:
        if segment.kind == "title_card":
            noise_scene = TitleCard(rng, plan.title, width, height)
        else:
            noise_scene = PresenterScene(rng, width, height)
        noise_scene_at.update({t: noise_scene for t in range(segment.start, segment.stop)})
    screen = np.zeros((height, width, 3), np.uint8)
    overlay.apply(screen, 0, plan.num_frames)
    screen_yuv = rgb_to_yuv420p(screen)
    luma, chroma_u, chroma_v = _plane_views(screen_yuv, width, height)
    luma_table, u_table, v_table = scene.yuv_tables()
    bar = overlay.bar_rows
    for t in range(plan.num_frames):
        sampled = t % FRAME_STRIDE == 0
        if t in noise_scene_at:
            frame = noise_scene_at[t].render(t).copy()
            overlay.apply(frame, t, plan.num_frames)
            yield rgb_to_yuv420p(frame), (frame[y0:y1, x0:x1] if sampled else None)
            continue
        grey = scene.render(t)
        luma[y0:y1, x0:x1] = np.take(luma_table, grey)
        quad = grey[0::2, 0::2].astype(np.uint16) + grey[1::2, 0::2] + grey[0::2, 1::2] + grey[1::2, 1::2]
        chroma_u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = np.take(u_table, quad)
        chroma_v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = np.take(v_table, quad)
        # The progress bar is grey: luma only, neutral chroma.
        luma[bar] = ((66 + 129 + 25) * overlay.bar_levels(t, plan.num_frames)[None, :] + 128 >> 8) + 16
        chroma_u[bar.start // 2 : (bar.stop + 1) // 2] = 128
        chroma_v[bar.start // 2 : (bar.stop + 1) // 2] = 128
        yield screen_yuv, (scene.colorize(grey) if sampled else None)


def _plane_views(yuv: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y (height, width), U and V (height/2, width/2) views into a yuv420p plane stack."""
    quarter = (height // 2) * (width // 2)
    flat = yuv[height:].reshape(-1)
    return (
        yuv[:height],
        flat[:quarter].reshape(height // 2, width // 2),
        flat[quarter:].reshape(height // 2, width // 2),
    )


if __name__ == "__main__":  # `python -m hf_loader.sample_archive` is `ahu-make-sample-archive`
    import sys

    from hf_loader.cli.make_sample_archive import main

    sys.exit(main())
