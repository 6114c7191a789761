"""Renders the pictures of the synthetic sample archive (used by `hf_loader.sample_archive`).

Three kinds of picture, all numpy (vectorized) plus Pillow for text:

- `UltrasoundScene`: the ultrasound machine's screen (the `us_box` of a video, or a whole
  still image): a dark panel, a sector or linear imaging region with speckle and depth
  attenuation, device text (probe frequency, gain, depth scale), and the sample's label
  signatures drawn into the tissue. Each of the 13 labels has its own look; `Vascular` is
  drawn exactly like `Cyst` but its radius pulsates over time.
- `TitleCard` and `PresenterScene`: full frames without any ultrasound (the noise segments).
- `PhoneOverlay`: the short-video app's captions, icons and progress bar around the
  ultrasound rectangle.

Every random choice comes from the `numpy.random.Generator` passed in, so the pictures are a
pure function of the seed.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FPS = 30

# Signature size unit: a fraction of the imaging region's smaller side.
CYST_RADIUS = (0.075, 0.15)
# Vascular: mean radius and relative amplitude; r(t) spans the same range as a cyst's radius.
VASCULAR_RADIUS = (0.10, 0.115)
VASCULAR_AMPLITUDE = 0.3


@functools.lru_cache(maxsize=64)
def _font_of_size(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def font(size: float) -> ImageFont.ImageFont:
    """Pillow's built-in scalable font (no system font needed)."""
    return _font_of_size(max(6, round(size)))


def draw_text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: float, fill) -> float:
    """Draws `text` at `xy`; returns the x where it ends.

    The built-in font has no CJK glyphs, so each Chinese character becomes a pseudo-glyph of
    strokes chosen from its code point (the same character always looks the same). Emoji
    become small round icons.
    """
    x, y = float(xy[0]), float(xy[1])
    latin = font(size)
    stroke = max(1, round(size / 9))
    for char in text:
        code = ord(char)
        if code < 0x2E80:
            draw.text((x, y), char, font=latin, fill=fill)
            x += draw.textlength(char, font=latin)
        elif code >= 0x1F000:
            r = size * 0.4
            draw.ellipse(
                (x + size * 0.1, y + size * 0.1, x + size * 0.1 + 2 * r, y + size * 0.1 + 2 * r),
                fill=(255, 200, 40) if isinstance(fill, tuple) else 220,
            )
            x += size
        elif code in (0x3000,):
            x += size
        else:
            rng = np.random.default_rng(code)
            cell = size * 0.9
            for _ in range(int(rng.integers(3, 7))):
                kind = int(rng.integers(3))
                a, b = rng.integers(0, 5, size=2) / 4.0
                if kind == 0:  # horizontal stroke
                    y0 = y + b * cell
                    draw.line(
                        (x + a * cell * 0.4, y0, x + cell * (0.6 + 0.4 * a), y0), fill=fill, width=stroke
                    )
                elif kind == 1:  # vertical stroke
                    x0 = x + a * cell
                    draw.line(
                        (x0, y + b * cell * 0.4, x0, y + cell * (0.6 + 0.4 * b)), fill=fill, width=stroke
                    )
                else:  # slanted stroke
                    draw.line(
                        (x + a * cell, y + b * cell * 0.5, x + (1 - a) * cell, y + cell),
                        fill=fill,
                        width=stroke,
                    )
            x += size
    return x


def _box_blur(array: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Moving average of `size` pixels along `axis` (same shape, edges clamped)."""
    if size <= 1:
        return array
    pad = [(0, 0)] * array.ndim
    pad[axis] = (size // 2, size - 1 - size // 2)
    padded = np.pad(array, pad, mode="edge")
    cumsum = np.cumsum(padded, axis=axis, dtype=np.float64)
    cumsum = np.concatenate([np.zeros_like(np.take(cumsum, [0], axis=axis)), cumsum], axis=axis)
    n = array.shape[axis]
    upper = np.take(cumsum, np.arange(size, size + n), axis=axis)
    lower = np.take(cumsum, np.arange(0, n), axis=axis)
    return ((upper - lower) / size).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1] of `shape`, about `cells` blobs across."""
    coarse = rng.random((cells + 1, cells + 1)).astype(np.float32)
    image = Image.fromarray(coarse).resize((shape[1], shape[0]), Image.BICUBIC)
    return np.clip(np.asarray(image, np.float32), 0.0, 1.0)


def _soft(distance_inside: np.ndarray, edge: float = 1.2) -> np.ndarray:
    """Anti-aliased coverage from a signed distance (positive inside, in pixels)."""
    return np.clip(distance_inside / edge + 0.5, 0.0, 1.0)


def _blend(target: np.ndarray, alpha: np.ndarray, value) -> None:
    target *= 1.0 - alpha
    target += alpha * value


class _Grid:
    """Pixel coordinates of a canvas relative to a centre, computed once per lesion."""

    def __init__(self, yy: np.ndarray, xx: np.ndarray, cx: float, cy: float):
        self.dx = xx - cx
        self.dy = yy - cy
        self.dist = np.sqrt(self.dx**2 + self.dy**2)


def draw_anechoic(echo: np.ndarray, grid: _Grid, radius: float) -> None:
    """A fluid-filled round structure (cyst, vessel): dark inside, thin bright wall, brighter
    tissue below it (posterior acoustic enhancement)."""
    lateral = np.clip(1.0 - np.abs(grid.dx) / radius, 0.0, 1.0)
    below = np.clip(grid.dy / radius, 0.0, 1.0) * np.exp(-np.maximum(grid.dy, 0) / (8 * radius))
    echo *= 1.0 + 0.9 * np.sqrt(lateral) * below
    _blend(echo, 0.8 * np.clip(1.3 - np.abs(grid.dist - radius), 0.0, 1.0), 1.1)
    _blend(echo, _soft(radius - 1.0 - grid.dist), 0.03)


def _draw_tumor(echo, grid, s, rng, yy, xx):
    radius = 0.21 * s * rng.uniform(0.9, 1.1)
    theta = np.arctan2(grid.dy, grid.dx)
    phase = rng.uniform(0, 2 * np.pi, 2)
    border = radius * (1 + 0.13 * np.sin(3 * theta + phase[0]) + 0.08 * np.sin(5 * theta + phase[1]))
    dist = np.sqrt(grid.dx**2 + (grid.dy / 0.8) ** 2)
    # Hypoechoic overall, with bright and dark patches, and a faint irregular rim.
    texture = 0.08 + 0.6 * _smooth_noise(rng, echo.shape, max(6, int(echo.shape[1] / (0.05 * s)))) ** 2
    _blend(echo, _soft(border - dist, 2.0), texture)
    _blend(echo, 0.6 * _soft(0.012 * s - np.abs(dist - border), 1.0), 0.9)


def _draw_cyst(echo, grid, s, rng, yy, xx):
    draw_anechoic(echo, grid, s * rng.uniform(*CYST_RADIUS))


def _draw_inflammation(echo, grid, s, rng, yy, xx):
    thickness = 0.17 * s * rng.uniform(0.9, 1.1)
    centre = 0.05 * s * np.sin(grid.dx / (0.25 * s) + rng.uniform(0, 6.3))
    band = _soft(thickness / 2 - np.abs(grid.dy - centre), 3.0) * _soft(0.42 * s - np.abs(grid.dx), 6.0)
    spots = _smooth_noise(rng, echo.shape, max(8, int(echo.shape[1] / (0.03 * s))))
    value = 1.0 * (1.0 - 0.85 * (spots > 0.62))  # bright oedematous fat with dark fluid spots
    _blend(echo, band, value)


def _draw_stone(echo, grid, s, rng, yy, xx):
    radius = 0.055 * s * rng.uniform(0.85, 1.15)
    shadow = _soft(radius * 0.9 - np.abs(grid.dx), 2.0) * (grid.dy > 0.1 * radius)
    echo *= 1.0 - 0.88 * shadow
    arc = _soft(0.35 * radius - np.abs(grid.dist - radius * 0.8), 1.0) * (grid.dy < 0.25 * radius)
    _blend(echo, arc, 2.2)
    _blend(echo, _soft(0.8 * radius - grid.dist) * (grid.dy < 0.25 * radius), 1.4)


def _draw_nodule(echo, grid, s, rng, yy, xx):
    radius = 0.075 * s * rng.uniform(0.9, 1.1)
    halo = 0.03 * s
    _blend(echo, _soft(radius + halo - grid.dist), 0.04)
    _blend(echo, _soft(radius - grid.dist), 0.4)


def _draw_injury(echo, grid, s, rng, yy, xx):
    angle = rng.uniform(-0.6, 0.6)
    along = grid.dx * math.cos(angle) + grid.dy * math.sin(angle)
    across = -grid.dx * math.sin(angle) + grid.dy * math.cos(angle)
    jag = 0.02 * s * (np.sin(along / (0.02 * s)) + 0.6 * np.sin(along / (0.007 * s) + 1.0))
    length = 0.3 * s
    inside = _soft(length - np.abs(along), 3.0)
    echo *= 1.0 - 0.45 * inside * _soft(0.09 * s - np.abs(across), 6.0)  # haematoma around the tear
    _blend(echo, inside * _soft(0.022 * s - np.abs(across - jag)), 0.03)


def _draw_calcification(echo, grid, s, rng, yy, xx):
    for _ in range(int(rng.integers(6, 11))):
        r = rng.uniform(0, 0.12 * s)
        a = rng.uniform(0, 2 * np.pi)
        dot = np.sqrt((grid.dx - r * math.cos(a)) ** 2 + (grid.dy - r * math.sin(a)) ** 2)
        _blend(echo, _soft(max(1.3, 0.012 * s) - dot, 1.0), 2.4)


def _draw_occupancy(echo, grid, s, rng, yy, xx):
    rx, ry = 0.2 * s * rng.uniform(0.9, 1.1), 0.13 * s * rng.uniform(0.9, 1.1)
    dist = np.sqrt((grid.dx / rx) ** 2 + (grid.dy / ry) ** 2) * ry  # ~pixels near the border
    _blend(echo, _soft(ry - dist, 2.0), 0.62)
    _blend(echo, _soft(0.016 * s - np.abs(dist - ry), 1.5), 1.5)


def _draw_hernia(echo, grid, s, rng, yy, xx):
    inner, outer = 0.06 * s, 0.22 * s
    period = 0.045 * s
    dy = grid.dy - 0.08 * s
    dist = np.sqrt(grid.dx**2 + dy**2)
    region = _soft(dist - inner, 2.0) * _soft(outer - dist, 2.0) * _soft(-dy + 0.02 * s, 2.0)
    stripes = (0.5 + 0.5 * np.cos(2 * np.pi * (dist - inner) / period)) ** 4
    _blend(echo, region, 0.1 + 1.3 * stripes)


def _draw_polyp(echo, grid, s, rng, yy, xx):
    wall_y = 0.08 * s
    width = 0.4 * s
    lateral = _soft(width - np.abs(grid.dx), 4.0)
    _blend(echo, lateral * _soft(grid.dy - (wall_y - 0.22 * s), 2.0) * _soft(wall_y - grid.dy, 1.0), 0.05)
    _blend(echo, lateral * _soft(0.012 * s - np.abs(grid.dy - wall_y), 1.0), 1.5)
    radius = 0.05 * s * rng.uniform(0.85, 1.15)
    blob = np.sqrt(grid.dx**2 + (grid.dy - (wall_y - radius)) ** 2)
    _blend(echo, _soft(radius - blob), 1.3)


def _draw_ectopic(echo, grid, s, rng, yy, xx):
    radius = 0.08 * s * rng.uniform(0.9, 1.1)
    _blend(echo, _soft(0.028 * s - np.abs(grid.dist - radius), 1.5), 1.6)
    _blend(echo, _soft(radius - 0.028 * s - grid.dist), 0.04)
    yolk = np.sqrt((grid.dx - 0.3 * radius) ** 2 + (grid.dy + 0.2 * radius) ** 2)
    _blend(echo, _soft(0.008 * s + 0.6 - np.abs(yolk - 0.02 * s), 1.0), 1.6)


def _draw_anomalies(echo, grid, s, rng, yy, xx):
    radius, width = 0.13 * s, 0.05 * s
    opening = rng.uniform(0, 2 * np.pi)
    theta = np.arctan2(grid.dy, grid.dx)
    away = np.abs(np.angle(np.exp(1j * (theta - opening))))  # angular distance from the opening
    crescent = _soft(width / 2 - np.abs(grid.dist - radius), 1.5) * _soft((away - 0.9) * radius, 2.0)
    _blend(echo, crescent, 0.03)
    edge = _soft(0.01 * s + 0.5 - np.abs(grid.dist - (radius - width / 2)), 1.0) * _soft(
        (away - 0.9) * radius, 2.0
    )
    _blend(echo, edge, 1.6)


SIGNATURES = {
    "Tumor": _draw_tumor,
    "Cyst": _draw_cyst,
    "Inflammation": _draw_inflammation,
    "Stone": _draw_stone,
    "Nodule": _draw_nodule,
    "Injury": _draw_injury,
    "Calcification": _draw_calcification,
    "Occupancy": _draw_occupancy,
    "Hernia": _draw_hernia,
    "Vascular": None,  # drawn per frame (pulsating), see UltrasoundScene.render
    "Polyp": _draw_polyp,
    "Ectopic": _draw_ectopic,
    "Anomalies": _draw_anomalies,
}


class UltrasoundScene:
    """The ultrasound machine's screen for one sample, rendered frame by frame.

    Args:
        rng: draws the probe geometry, tissue, lesion placement, device text and tint.
        labels: the sample's labels; the first is drawn at the centre, a second one beside it,
            smaller.
        width, height: size of the screen in pixels (the `us_box` of a video).
        probe: "sector" (fan-shaped, low frequency) or "linear" (rectangular, high frequency).
        pulse_period_s: period in seconds of the `Vascular` pulsation (needed when labels
            hold "Vascular").
        motion: amplitude in pixels of the slow probe drift (0 for a still image).
    """

    def __init__(
        self,
        rng: np.random.Generator,
        labels,
        width: int,
        height: int,
        probe: str,
        pulse_period_s: float | None = None,
        motion: int = 3,
    ):
        self.width, self.height = int(width), int(height)
        w, h = self.width, self.height
        self.motion = int(motion)
        m = self.margin = self.motion + 1
        self.pulse_period_s = pulse_period_s

        # Imaging region inside the panel; the right margin holds the depth scale.
        rx0, rx1 = int(w * rng.uniform(0.1, 0.14)), int(w * (1 - rng.uniform(0.13, 0.16)))
        ry0, ry1 = int(h * rng.uniform(0.09, 0.13)), int(h * (1 - rng.uniform(0.05, 0.09)))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        if probe == "sector":
            half_width = (rx1 - rx0) / 2
            cx = (rx0 + rx1) / 2
            apex_y = ry0 - 0.08 * h
            r_in, r_out = ry0 - apex_y, ry1 - apex_y
            half_angle = min(math.radians(38), math.asin(min(1.0, half_width / r_out)))
            radius = np.sqrt((xx - cx) ** 2 + (yy - apex_y) ** 2)
            angle = np.arctan2(xx - cx, yy - apex_y)
            mask = _soft(np.minimum(radius - r_in, r_out - radius), 1.0) * _soft(
                (half_angle - np.abs(angle)) * radius, 1.0
            )
            depth = np.clip((radius - r_in) / (r_out - r_in), 0, 1)
        else:
            mask = ((xx >= rx0) & (xx < rx1) & (yy >= ry0) & (yy < ry1)).astype(np.float32)
            depth = np.clip((yy - ry0) / (ry1 - ry0), 0, 1)
        self.region = (rx0, ry0, rx1, ry1)
        attenuation = np.exp(-rng.uniform(0.5, 1.1) * depth) * (0.85 + 0.3 * np.exp(-depth / 0.05))
        gain = rng.uniform(0.75, 0.95)
        self.scale = (255.0 * gain * attenuation * mask).astype(np.float32)
        self.background = ((1.0 - mask) * rng.uniform(16, 28)).astype(np.float32)

        # Tissue echogenicity on a canvas larger than the panel by the motion margin.
        ch, cw = h + 2 * m, w + 2 * m
        cyy, cxx = np.mgrid[0:ch, 0:cw].astype(np.float32)
        layers = np.zeros(ch, np.float32)
        for _ in range(3):
            layers += 0.07 * np.sin(
                2 * np.pi * np.arange(ch) / (h * rng.uniform(0.15, 0.5)) + rng.uniform(0, 6.3)
            )
        echo = 0.45 + layers[:, None] + 0.25 * (_smooth_noise(rng, (ch, cw), 5) - 0.5)
        for _ in range(int(rng.integers(1, 4))):  # bright fascia lines
            fy = ry0 + m + rng.uniform(0.05, 0.9) * (ry1 - ry0)
            line_y = fy + 0.03 * h * np.sin(cxx / (0.3 * w) + rng.uniform(0, 6.3))
            _blend(echo, 0.7 * _soft(1.2 - np.abs(cyy - line_y), 1.0), 1.2)
        _blend(echo, _soft(0.02 * h - np.abs(cyy - (ry0 + m + 0.015 * h)), 1.0), 1.1)  # skin line

        size = min(rx1 - rx0, ry1 - ry0)
        centre = (
            (rx0 + rx1) / 2 + rng.uniform(-0.06, 0.06) * size + m,
            ry0 + rng.uniform(0.45, 0.55) * (ry1 - ry0) + m,
        )
        if len(labels) > 1:  # make room for the second signature beside the first
            side = 1 if rng.random() < 0.5 else -1
            centre = (centre[0] - side * 0.14 * size, centre[1])
        self.vessel = None
        for index, label in enumerate(labels[:2]):
            unit = size if index == 0 else 0.7 * size
            cx, cy = centre if index == 0 else (centre[0] + side * 0.36 * size, centre[1] - 0.12 * size)
            if label == "Ectopic":  # an ectopic sac lies off the midline
                cx += (0.12 if index == 0 else 0.0) * size * (1 if rng.random() < 0.5 else -1)
            if label == "Vascular":
                self.vessel = (cx, cy, unit * rng.uniform(*VASCULAR_RADIUS), rng.uniform(0, 2 * np.pi))
                continue
            SIGNATURES[label](echo, _Grid(cyy, cxx, cx, cy), unit, rng, cyy, cxx)
        self.echo = np.maximum(echo, 0.0).astype(np.float32)

        # Speckle: Rayleigh amplitudes, blurred more laterally than axially, mean 1.
        speckle = rng.rayleigh(1.0, (ch, cw)).astype(np.float32)
        speckle = _box_blur(_box_blur(speckle, max(2, w // 70), 1), max(2, h // 160), 0)
        speckle = 1.0 + (speckle - speckle.mean()) * (0.45 / max(1e-6, float(speckle.std())))
        self.speckle = np.clip(speckle, 0.05, None).astype(np.float32)
        self.tissue = self.echo * self.speckle
        if self.vessel is not None:
            self._grid = _Grid(cyy, cxx, self.vessel[0], self.vessel[1])

        self.text = self._device_text(rng, probe)
        self.drift = (rng.uniform(2.0, 4.0), rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi))
        tints = [(1.0, 1.0, 1.0), (1.0, 0.97, 0.9), (0.94, 0.98, 1.0)]
        self.tint = np.array(tints[int(rng.choice(3, p=[0.6, 0.2, 0.2]))], np.float32)
        self.palette = np.round(np.arange(256, dtype=np.float32)[:, None] * self.tint).astype(np.uint8)

    def _device_text(self, rng: np.random.Generator, probe: str) -> np.ndarray:
        """Static device annotations as a (height, width) uint8 layer (0 = none)."""
        w, h = self.width, self.height
        _rx0, ry0, rx1, ry1 = self.region
        layer = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(layer)
        size = max(7, min(w, h) / 24)
        frequency = (
            rng.choice(["7.5MHz", "10.0MHz", "12.0MHz"])
            if probe == "linear"
            else rng.choice(["3.5MHz", "5.0MHz"])
        )
        depth_cm = (
            float(rng.choice([4.0, 5.0, 6.0])) if probe == "linear" else float(rng.choice([12.0, 16.0]))
        )
        level = int(rng.integers(190, 240))
        draw.text((3, 2), f"{frequency}  G{int(rng.integers(40, 80))}", font=font(size), fill=level)
        draw.text((3, 2 + size * 1.2), f"D {depth_cm:.1f}cm", font=font(size * 0.9), fill=level)
        draw.text(
            (w - size * 4.2, 2), rng.choice(["SONO-X", "US-7", "ECHO"]), font=font(size * 0.9), fill=level
        )
        # Depth scale: a tick per centimetre along the right edge of the imaging region.
        scale_x = rx1 + max(3, w // 60)
        ticks = int(depth_cm)
        for k in range(ticks + 1):
            y = ry0 + (ry1 - ry0 - 1) * k / ticks
            length = 5 if k % 5 == 0 else 3
            draw.line((scale_x, y, scale_x + length, y), fill=level, width=1)
            if k % 5 == 0 and k:
                draw.text((scale_x + 6, y - size * 0.5), str(k), font=font(size * 0.8), fill=level)
        focus_y = ry0 + (ry1 - ry0) * rng.uniform(0.3, 0.6)
        draw.polygon(
            [
                (scale_x - 2, focus_y),
                (scale_x - 2 - size * 0.5, focus_y - size * 0.3),
                (scale_x - 2 - size * 0.5, focus_y + size * 0.3),
            ],
            fill=level,
        )
        return np.asarray(layer, np.float32)

    def render(self, t: int) -> np.ndarray:
        """The screen at source frame `t` as a (height, width) uint8 grey image."""
        m, h, w = self.margin, self.height, self.width
        phase = 2 * np.pi * t / (FPS * self.drift[0])
        ox = round(self.motion * math.sin(phase + self.drift[1]))
        oy = round(0.5 * self.motion * math.sin(phase + self.drift[2]))
        rows, cols = slice(m + oy, m + oy + h), slice(m + ox, m + ox + w)
        tissue = self.tissue[rows, cols]
        if self.vessel is not None:
            _cx, _cy, radius, phi = self.vessel
            radius *= 1.0 + VASCULAR_AMPLITUDE * math.sin(2 * np.pi * t / (FPS * self.pulse_period_s) + phi)
            echo = self.echo[rows, cols].copy()
            grid = _Grid.__new__(_Grid)
            grid.dx, grid.dy, grid.dist = (
                self._grid.dx[rows, cols],
                self._grid.dy[rows, cols],
                self._grid.dist[rows, cols],
            )
            draw_anechoic(echo, grid, radius)
            tissue = echo * self.speckle[rows, cols]
        grey = tissue * self.scale
        grey += self.background
        np.maximum(grey, self.text, out=grey)
        return np.clip(grey, 0, 255).astype(np.uint8)

    def yuv_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tables from grey to BT.601 yuv420p, in this device's tint.

        Returns `(luma, u, v)`: `luma[grey]` (256 entries) is Y; `u[q]`, `v[q]` (1021 entries)
        are the chroma of a 2x2 block whose four grey values sum to `q`. Integer arithmetic
        only, the same as `sample_archive.rgb_to_yuv420p`.
        """
        r, g, b = (self.palette[:, c].astype(np.int32) for c in range(3))
        luma = (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16).astype(np.uint8)
        quad = np.arange(1021, dtype=np.int32)
        # The 2x2 sum of a tinted channel, rounded like four rounded pixels on average.
        r4, g4, b4 = (np.round(quad * self.tint[c]).astype(np.int32) for c in range(3))
        u = (((-38 * r4 - 74 * g4 + 112 * b4 + 512) >> 10) + 128).astype(np.uint8)
        v = (((112 * r4 - 94 * g4 - 18 * b4 + 512) >> 10) + 128).astype(np.uint8)
        return luma, u, v

    def colorize(self, grey: np.ndarray) -> np.ndarray:
        """(height, width) grey -> (height, width, 3) RGB with the device's slight tint."""
        return np.take(self.palette, grey, axis=0)


class TitleCard:
    """A full-frame title card: colour gradient, a big title, a small subtitle (no ultrasound)."""

    def __init__(self, rng: np.random.Generator, title: str, width: int, height: int):
        top = rng.integers(20, 200, size=3)
        bottom = rng.integers(0, 120, size=3)
        ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
        picture = (top * (1 - ramp) + bottom * ramp) * np.ones((1, width, 1), np.float32)
        image = Image.fromarray(picture.astype(np.uint8))
        draw = ImageDraw.Draw(image)
        size = width / 8.5
        lines = [title[i : i + 6] for i in range(0, len(title), 6)][:3]
        y = height * 0.38
        for line in lines:
            x = (width - size * len(line)) / 2
            draw_text(draw, (x + 2, y + 2), line, size, (0, 0, 0))
            draw_text(draw, (x, y), line, size, (255, 255, 255))
            y += size * 1.3
        draw.rectangle(
            (width * 0.2, y + size * 0.2, width * 0.8, y + size * 0.2 + max(2, height // 200)),
            fill=(255, 220, 60),
        )
        draw.text(
            (width * 0.2, y + size * 0.6), "Ultrasound case", font=font(size * 0.5), fill=(230, 230, 230)
        )
        self.picture = np.asarray(image)

    def render(self, t: int) -> np.ndarray:
        return self.picture


class PresenterScene:
    """A doctor talking to the camera: wall, white coat, skin-coloured face and moving hands."""

    SKIN = ((224, 172, 130), (241, 194, 150), (198, 140, 100))

    def __init__(self, rng: np.random.Generator, width: int, height: int):
        wall = rng.integers(150, 230, size=3)
        ramp = np.linspace(1.0, 0.8, height, dtype=np.float32)[:, None, None]
        picture = (wall * ramp) * np.ones((1, width, 1), np.float32)
        image = Image.fromarray(picture.astype(np.uint8))
        draw = ImageDraw.Draw(image)
        self.skin = self.SKIN[int(rng.integers(len(self.SKIN)))]
        cx = width * rng.uniform(0.4, 0.6)
        head = width * 0.17
        head_y = height * rng.uniform(0.3, 0.38)
        draw.ellipse(
            (cx - 2.2 * head, head_y + 1.6 * head, cx + 2.2 * head, height * 1.3), fill=(240, 240, 245)
        )
        draw.polygon(
            [
                (cx - 0.5 * head, head_y + 1.6 * head),
                (cx + 0.5 * head, head_y + 1.6 * head),
                (cx, head_y + 2.6 * head),
            ],
            fill=(70, 90, 140),
        )
        draw.rectangle(
            (cx - 0.35 * head, head_y + 0.8 * head, cx + 0.35 * head, head_y + 1.7 * head), fill=self.skin
        )
        draw.ellipse((cx - head, head_y - 1.2 * head, cx + head, head_y + 1.1 * head), fill=self.skin)
        draw.chord(
            (cx - 1.05 * head, head_y - 1.3 * head, cx + 1.05 * head, head_y + 0.3 * head),
            180,
            360,
            fill=(30, 25, 25),
        )
        for ex in (-0.4, 0.4):
            draw.ellipse(
                (cx + ex * head - 3, head_y - 0.1 * head - 2, cx + ex * head + 3, head_y - 0.1 * head + 2),
                fill=(20, 20, 20),
            )
        self.picture = np.asarray(image)
        self.hands = [(cx - 1.4 * head, height * 0.75), (cx + 1.4 * head, height * 0.78)]
        self.hand_size = 0.55 * head
        self.period = rng.uniform(0.8, 1.6)

    def render(self, t: int) -> np.ndarray:
        image = Image.fromarray(self.picture)
        draw = ImageDraw.Draw(image)
        for k, (hx, hy) in enumerate(self.hands):
            lift = self.hand_size * 1.5 * math.sin(2 * np.pi * t / (FPS * self.period) + k * 2.0)
            r = self.hand_size
            draw.ellipse((hx - r, hy - lift - 1.2 * r, hx + r, hy - lift + 1.2 * r), fill=self.skin)
        return np.asarray(image)


class PhoneOverlay:
    """The short-video app around the ultrasound rectangle: captions, icons, progress bar.

    Everything stays at least `gap` pixels away from `us_box`, so the ultrasound rectangle
    remains the largest bright region of the frame.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        width: int,
        height: int,
        us_box,
        creator: str,
        title: str,
        hashtag: str,
    ):
        _x0, y0, _x1, y1 = us_box
        # A macroblock or more of black: codec ringing must not join captions to the ultrasound.
        gap = max(16, height // 24)
        layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        small = max(7, width / 30)
        big = max(9, width / 17)
        white, yellow = (255, 255, 255, 255), (255, 225, 40, 255)
        # Top: the app's tabs, then the video's own caption just above the ultrasound.
        draw_text(draw, (width * 0.3, height * 0.03), "关注  推荐", small, (235, 235, 235, 255))
        caption_y = y0 - gap - big * 1.15
        if caption_y > height * 0.03 + small * 1.5:
            text = title[: max(1, int((width * 0.9) // big))]
            draw_text(
                draw,
                ((width - big * len(text)) / 2, caption_y),
                text,
                big,
                yellow if rng.random() < 0.5 else white,
            )
        # Bottom: creator, hashtags, like/comment icons and the progress bar.
        bottom = y1 + gap
        if bottom + small * 3 < height - gap:
            draw_text(draw, (width * 0.04, bottom + small * 0.5), "@" + creator[:12], small, white)
            draw_text(draw, (width * 0.04, bottom + small * 2.0), hashtag, small, white)
            for k in range(3):
                cy = bottom + small * (1.2 + 2.2 * k)
                if cy + small < height - 2 * gap:
                    cx = width * 0.9
                    draw.ellipse(
                        (cx - small * 0.7, cy - small * 0.7, cx + small * 0.7, cy + small * 0.7),
                        fill=(255, 60, 90, 255) if k == 0 else white,
                    )
        rgba = np.asarray(layer)
        # Flat indices of the overlay's pixels: pasting them costs only what they cover.
        self.index = np.flatnonzero(rgba[..., 3] > 0)
        self.pixels = rgba[..., :3].reshape(-1, 3)[self.index]
        bar_y = height - max(2, height // 128) - 1
        self.bar_rows = slice(bar_y, bar_y + max(1, height // 256))
        self.width = width

    def bar_levels(self, t: int, num_frames: int) -> np.ndarray:
        """Grey level of each column of the progress bar at frame `t`, (width,) int32."""
        levels = np.full(self.width, 70, np.int32)
        levels[: round(self.width * (t + 1) / num_frames)] = 230
        return levels

    def apply(self, frame: np.ndarray, t: int, num_frames: int) -> None:
        """Draws the overlay (captions, icons, progress bar at frame `t`) onto `frame`
        (height, width, 3) uint8, in place."""
        frame.reshape(-1, 3)[self.index] = self.pixels
        frame[self.bar_rows] = self.bar_levels(t, num_frames)[None, :, None].astype(np.uint8)
