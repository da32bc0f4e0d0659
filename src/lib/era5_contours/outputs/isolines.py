"""Isolines on a map, labelled along the lines as on a synoptic chart.

The labels sit on straight stretches of the lines, a few per line, never on top of each
other or of other marks; each is turned along its line and the line is cut beneath it,
as matplotlib's ``clabel(inline=True)`` does. The cut is made here, in numpy, on the
piece :func:`label_positions` chose: clabel looks for the nearest line among every piece
of the level, one piece at a time in Python, which took 0.07-0.14 s per global map
(seconds before the search was narrowed) for what is already known.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.contour import QuadContourSet
from matplotlib.font_manager import FontProperties
from matplotlib.path import Path as MplPath
from matplotlib.text import Text

from .labels import number

#: Isolines: line width (points) and label size; the labels' spacing along a line and
#: the shortest line piece that gets one, in pixels.
LINE_WIDTH = 0.7
LABEL_SIZE = 7.0
LABEL_SPACING_PX = 260.0
LABEL_MIN_PIECE_PX = 90.0
#: At most this many labels on one line piece: "a few", not a dotted line of numbers.
LABELS_PER_PIECE = 3
#: At most this many labels on one map (the longest lines get theirs first): a global
#: map reads no better with more.
MAX_LABELS = 60
#: Pixels kept clear between two labels' boxes (and the estimate of their size).
LABEL_GAP_PX = 4.0
#: Pixels of line left out on each side of a label (clabel's ``inline_spacing``).
INLINE_SPACING_PX = 2.0

#: The pale halo round labels and marks, for legibility on the darkest fills.
HALO = (1.0, 1.0, 1.0, 0.75)

#: A box in pixels: centre x, y and half-sides.
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Piece:
    """A connected isoline piece long enough to carry a label.

    ``start:stop`` are its vertices in its level's path; ``pixels`` their display
    coordinates and ``along`` the distance along the piece from its first vertex, in
    pixels. A closed piece ends on its first vertex.
    """

    level: int
    start: int
    stop: int
    pixels: np.ndarray
    along: np.ndarray
    closed: bool

    @property
    def length(self) -> float:
        """Length in pixels."""
        return float(self.along[-1])


def label_pieces(ax: Axes, paths: Sequence[MplPath]) -> list[Piece]:
    """The pieces of ``paths`` (one per level) of at least :data:`LABEL_MIN_PIECE_PX`.

    Lengths are summed in numpy per level: a day of drizzle has tens of thousands of
    short pieces, which are never labelled.
    """
    out = []
    for level, path in enumerate(paths):
        vertices = np.asarray(path.vertices, dtype=float)
        if len(vertices) < 2:
            continue
        codes = np.asarray(path.codes) if path.codes is not None else None
        starts = np.flatnonzero(codes == MplPath.MOVETO) if codes is not None else np.array([0])
        stops = np.append(starts[1:], len(vertices))
        pixels = ax.transData.transform(vertices)
        steps = np.hypot(*np.diff(pixels, axis=0).T)
        steps[starts[1:] - 1] = 0.0  # no step from one piece to the next
        lengths = np.add.reduceat(np.append(steps, 0.0), starts)
        long = lengths >= LABEL_MIN_PIECE_PX
        for a, b in zip(starts[long], stops[long], strict=True):
            along = np.concatenate([[0.0], np.cumsum(steps[a : b - 1])])
            closed = codes is not None and codes[b - 1] == MplPath.CLOSEPOLY
            out.append(Piece(level, int(a), int(b), pixels[a:b], along, bool(closed)))
    return out


def _at(piece: Piece, s: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``x, y`` at distances ``s`` along a piece."""
    return np.interp(s, piece.along, piece.pixels[:, 0]), np.interp(
        s, piece.along, piece.pixels[:, 1]
    )


def label_positions(
    ax: Axes,
    pieces: Sequence[Piece],
    texts: Sequence[str],
    *,
    fontsize: float = LABEL_SIZE,
    spacing: float = LABEL_SPACING_PX,
    avoid: Sequence[Box] = (),
) -> list[tuple[int, float]]:
    """Where to label the isolines: ``(index in pieces, pixels along the piece)``.

    Candidates are spread evenly along each piece (one per ``spacing`` pixels, at most
    :data:`LABELS_PER_PIECE`), moved along the line to a straight stretch, and kept only
    inside the axes and where the label's box, turned along the line, keeps
    :data:`LABEL_GAP_PX` clear of the boxes of the labels kept before and of ``avoid``
    (pixel boxes of other marks). Longer pieces go first, so that the main lines get
    their labels before the small closed ones. ``texts`` are the labels per level.
    """
    fig = ax.get_figure()
    assert fig is not None
    px_per_pt = fig.dpi / 72.0
    height = 1.2 * fontsize * px_per_pt
    box = ax.get_window_extent()
    kept: list[Box] = list(avoid)
    positions: list[tuple[int, float]] = []
    for k in np.argsort([-p.length for p in pieces], kind="stable"):
        if len(positions) >= MAX_LABELS:
            break
        piece = pieces[k]
        total = piece.length
        width = 0.62 * fontsize * px_per_pt * len(texts[piece.level]) + 4.0
        count = int(min(LABELS_PER_PIECE, max(1, round(total / spacing))))
        for j in range(count):
            target = (j + 0.5) * total / count
            # Try the target, then a label width either side, for a straight stretch.
            for shift in (0.0, -width, width, -2 * width, 2 * width):
                s0 = target + shift
                if s0 - width / 2 < 0 or s0 + width / 2 > total:
                    continue
                (x0, x1), (y0, y1) = _at(piece, np.array([s0 - width / 2, s0 + width / 2]))
                if math.hypot(x1 - x0, y1 - y0) < 0.9 * width:
                    continue  # the line bends under the label
                x, y = (float(v) for v in _at(piece, s0))
                # The label turned along the line: its upright box's half-sides.
                angle = math.atan2(y1 - y0, x1 - x0)
                c, s = abs(math.cos(angle)), abs(math.sin(angle))
                hx, hy = (width * c + height * s) / 2, (width * s + height * c) / 2
                if not (box.x0 + hx <= x <= box.x1 - hx and box.y0 + hy <= y <= box.y1 - hy):
                    continue
                gap = LABEL_GAP_PX
                if any(
                    abs(x - kx) < hx + khx + gap and abs(y - ky) < hy + khy + gap
                    for kx, ky, khx, khy in kept
                ):
                    continue
                kept.append((x, y, hx, hy))
                positions.append((int(k), s0))
                break
    return positions


def place_labels(
    ax: Axes,
    pieces: Sequence[Piece],
    positions: Sequence[tuple[int, float]],
    texts: Sequence[str],
    colors: Sequence[str],
) -> tuple[list[Text], dict[int, list[tuple[float, float]]]]:
    """The labels at ``positions``, turned along their lines; the stretches they cover.

    As clabel places a label: centred on the line, its angle that of the chord between
    the points half its rendered width either side along the line (round a closed
    piece's start), never upside down, in its line's colour. Returns the labels and,
    per piece, the stretches of line (pixels along it) to cut: the label's width and
    :data:`INLINE_SPACING_PX` either side.
    """
    fig = ax.get_figure()
    assert fig is not None
    font = FontProperties(size=LABEL_SIZE)
    widths: dict[str, float] = {}
    to_data = ax.transData.inverted()
    labels: list[Text] = []
    cuts: dict[int, list[tuple[float, float]]] = {}
    for k, s0 in positions:
        piece = pieces[k]
        text = texts[piece.level]
        if text not in widths:
            widths[text] = (
                Text(0, 0, text, figure=fig, fontproperties=font).get_window_extent().width
            )
        half = widths[text] / 2
        ends = np.array([s0 - half, s0 + half])
        if piece.closed:
            ends = np.mod(ends, piece.length)
        (x0, x1), (y0, y1) = _at(piece, ends)
        angle = (math.degrees(math.atan2(y1 - y0, x1 - x0)) + 90.0) % 180.0 - 90.0
        x, y = to_data.transform(np.array(_at(piece, s0), dtype=float))
        label = Text(
            float(x), float(y), text, rotation=angle,
            horizontalalignment="center", verticalalignment="center", zorder=4,
            color=to_rgba(colors[piece.level]), fontproperties=font, clip_box=ax.bbox,
        )  # fmt: skip
        ax.add_artist(label)
        labels.append(label)
        cuts.setdefault(k, []).append(
            (s0 - half - INLINE_SPACING_PX, s0 + half + INLINE_SPACING_PX)
        )
    return labels, cuts


def _merged(gaps: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(gaps):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def kept_stretches(
    xy: np.ndarray, along: np.ndarray, closed: bool, gaps: list[tuple[float, float]]
) -> list[np.ndarray]:
    """The parts of a line outside ``gaps`` (intervals of distance along it).

    ``xy`` are its vertices, ``along`` their distances from the first; a closed line
    (ending on its first vertex) is cut round its start, as a ring. Each part starts
    and ends where a gap does, on the line.
    """
    total = float(along[-1])
    if closed and total > 0:
        # Round a ring: each gap also once before and once after, on the ring laid out
        # twice; the parts are what they leave of one turn from the first gap's start.
        starts = [(a % total, a % total + (b - a)) for a, b in gaps]
        first = min(a for a, _ in starts)
        window = (first, first + total)
        gaps = [(a + shift, b + shift) for a, b in starts for shift in (-total, 0.0, total)]
        xy = np.concatenate([xy, xy[1:]])
        along = np.concatenate([along, along[1:] + total])
    else:
        window = (0.0, total)
    parts, at = [], window[0]
    for a, b in [*_merged(gaps), (window[1], window[1])]:
        lo, hi = at, min(a, window[1])
        if hi > lo:
            inner = (along > lo) & (along < hi)
            ends = np.column_stack([np.interp([lo, hi], along, xy[:, i]) for i in (0, 1)])
            parts.append(np.concatenate([ends[:1], xy[inner], ends[1:]]))
        at = max(at, b)
    return parts


def cut_paths(
    paths: Sequence[MplPath], pieces: Sequence[Piece], cuts: dict[int, list[tuple[float, float]]]
) -> list[MplPath]:
    """``paths`` with the pieces in ``cuts`` replaced by what the cuts leave of them."""
    by_level: dict[int, list[int]] = {}
    for k in cuts:
        by_level.setdefault(pieces[k].level, []).append(k)
    out = list(paths)
    for level, ks in by_level.items():
        path = paths[level]
        vertices, codes = np.asarray(path.vertices, dtype=float), np.asarray(path.codes)
        blocks, block_codes, at = [], [], 0
        for k in sorted(ks, key=lambda k: pieces[k].start):
            piece = pieces[k]
            blocks.append(vertices[at : piece.start])
            block_codes.append(codes[at : piece.start])
            data = vertices[piece.start : piece.stop]
            for part in kept_stretches(data, piece.along, piece.closed, cuts[k]):
                part_codes = np.full(len(part), MplPath.LINETO, dtype=MplPath.code_type)
                part_codes[0] = MplPath.MOVETO
                blocks.append(part)
                block_codes.append(part_codes)
            at = piece.stop
        blocks.append(vertices[at:])
        block_codes.append(codes[at:])
        out[level] = MplPath(np.concatenate(blocks), np.concatenate(block_codes))
    return out


def draw_isolines(
    ax: Axes,
    lon: np.ndarray,
    lat: np.ndarray,
    values: np.ndarray,
    levels: np.ndarray,
    colors: list[str],
    *,
    avoid: Sequence[Box] = (),
) -> list[Text]:
    """Isolines of the levels the field crosses, labelled along the lines; the labels.

    ``colors`` are the lines' colours per level (:func:`~era5_contours.science.levels.line_colors`);
    labels keep clear of the ``avoid`` boxes (other marks, in pixels).
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return []
    inside = np.flatnonzero((levels > finite.min()) & (levels < finite.max()))
    if inside.size == 0:
        return []
    line_colors = [colors[i] for i in inside]
    # contourpy's serial algorithm, as the feature rows' isolines: the same lines as
    # matplotlib's default (mpl2014), in half its time on a global map (0.04 s).
    contours: QuadContourSet = ax.contour(
        lon, lat, np.ma.masked_invalid(values), levels=levels[inside], colors=line_colors,
        linewidths=LINE_WIDTH, zorder=2, algorithm="serial",
    )  # fmt: skip
    texts = [number(float(v)) for v in levels[inside]]
    ax.apply_aspect()  # the pixel positions below are those of the final axes box
    paths = contours.get_paths()
    pieces = label_pieces(ax, paths)
    positions = label_positions(ax, pieces, texts, avoid=avoid)
    labels, cuts = place_labels(ax, pieces, positions, texts, line_colors)
    if cuts:
        contours.set_paths(cut_paths(paths, pieces, cuts))
    for label in labels:
        # A pale halo keeps the number legible on the darkest fills.
        label.set_path_effects([patheffects.withStroke(linewidth=2.2, foreground=HALO)])
    return labels
