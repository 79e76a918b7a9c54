"""Find the target person of an album from the faces' identity descriptors.

The target is the identity seen in the most photos: for every face, count the
photos holding a face within `threshold` of it (a photo counts once however
many such faces it has), and take the best-supported face as the seed.
Neither face size nor photo order plays a part, so a group photo or a crowd
(many people, each in few photos) cannot pull the choice away. The target
descriptor is then the element-wise median of the closest face per supporting
photo (robust, as the research did), refined once; in every photo the face
closest to it is chosen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from pipeline.errors import UsageError

log = logging.getLogger(__name__)

# dlib's ResNet: same person when the Euclidean distance is at most 0.6.
DEFAULT_THRESHOLD = 0.6


@dataclass
class TargetChoice:
    """The target person and which face in each photo is theirs.

    Attributes:
        chosen (list[int | None]): per photo, index of the face closest to the
            target (None when the photo has no face).
        distances (list[float | None]): per photo, that face's distance to the target.
        matched (list[bool]): distance <= threshold, or the user chose the face.
        target (np.ndarray | None): [128] float32 target descriptor (None: no face at all).
        support (int): number of photos in which the target appears.
    """

    chosen: list[int | None]
    distances: list[float | None]
    matched: list[bool]
    target: np.ndarray | None
    support: int


def pairwise_distances(a: np.ndarray, b: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Euclidean distances between the rows of [N, D] `a` and [M, D] `b` -> [N, M] of `dtype`
    (float32 halves the time for large albums; dlib's distances need no more precision)."""
    a = np.asarray(a, dtype=dtype)
    b = np.asarray(b, dtype=dtype)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def _closest_per_photo(
    dist: np.ndarray, photo_of: np.ndarray, n_photos: int
) -> tuple[np.ndarray, np.ndarray]:
    """For a [F] distance vector over candidate faces: (best distance, best face row) per photo."""
    best = np.full(n_photos, np.inf)
    np.minimum.at(best, photo_of, dist)
    row = np.full(n_photos, -1)
    hit = dist <= best[photo_of]
    row[photo_of[hit][::-1]] = np.flatnonzero(hit)[::-1]  # first face on ties
    return best, row


def choose_target(
    faces_per_photo: list[list[np.ndarray]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    preferred: list[int | None] | None = None,
) -> TargetChoice:
    """Pick the person present in the most photos and their face in each photo.

    Args:
        faces_per_photo (list[list[np.ndarray]]): per photo, the [128] descriptor of each face.
        threshold (float): largest distance between two faces of one person. Default: 0.6.
        preferred (list[int | None] | None): per photo, a face the user chose
            (None: automatic). A chosen face is the only candidate of its photo,
            so user choices also steer which person is the target.

    Returns:
        TargetChoice: per-photo choice, distance and match, the target and its support.

    Raises:
        UsageError: `preferred` does not fit the photos.
    """
    n_photos = len(faces_per_photo)
    if preferred is None:
        preferred = [None] * n_photos
    if len(preferred) != n_photos:
        raise UsageError(f"{len(preferred)} face choices given for {n_photos} photos")
    for i, (faces, pick) in enumerate(zip(faces_per_photo, preferred)):
        if pick is not None and not 0 <= pick < len(faces):
            raise UsageError(
                f"photo {i}: face {pick} does not exist; it has {len(faces)} face(s), numbered from 0"
            )

    # Candidate faces: all faces, or only the user's choice where there is one.
    rows: list[np.ndarray] = []
    photo_of: list[int] = []
    index_in_photo: list[int] = []
    for i, (faces, pick) in enumerate(zip(faces_per_photo, preferred)):
        for j, descriptor in enumerate(faces):
            if pick is None or j == pick:
                rows.append(np.asarray(descriptor, dtype=np.float64).reshape(-1))
                photo_of.append(i)
                index_in_photo.append(j)
    if not rows:
        return TargetChoice([None] * n_photos, [None] * n_photos, [False] * n_photos, None, 0)
    desc = np.stack(rows)
    photo = np.asarray(photo_of)
    dist = pairwise_distances(desc, desc)

    # Support of each face: photos holding a face within the threshold of it.
    nearest = _min_per_photo(dist, photo)  # [F, photos with a candidate]
    close = nearest <= threshold
    support = close.sum(axis=1)
    # Ties: the face whose matches are tightest (smallest summed distance to
    # its closest face in each supporting photo).
    tightness = np.where(close, nearest, 0.0).sum(axis=1)
    seed = int(np.lexsort((tightness, -support))[0])

    target = desc[seed]
    for _ in range(2):  # median of the closest faces, refined once around the median
        best, row = _closest_per_photo(pairwise_distances(target[None], desc)[0], photo, n_photos)
        members = row[(best <= threshold) & (row >= 0)]
        if len(members) == 0:
            break
        target = np.median(desc[members], axis=0)

    best, row = _closest_per_photo(pairwise_distances(target[None], desc)[0], photo, n_photos)
    chosen: list[int | None] = []
    distances: list[float | None] = []
    matched: list[bool] = []
    for i in range(n_photos):
        if row[i] < 0:
            chosen.append(None)
            distances.append(None)
            matched.append(False)
            continue
        chosen.append(index_in_photo[row[i]])
        distances.append(float(best[i]))
        matched.append(bool(best[i] <= threshold) or preferred[i] is not None)
    n_support = int(sum(matched))
    log.info("target person found in %d of %d photos", n_support, n_photos)
    return TargetChoice(chosen, distances, matched, target.astype(np.float32), n_support)


def _min_per_photo(dist: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """[F, P]: each face's smallest distance to the faces of each photo that has any.

    `photo` (the photo of each column) must be non-decreasing.
    """
    starts = np.flatnonzero(np.r_[True, photo[1:] != photo[:-1]])
    return np.minimum.reduceat(dist, starts, axis=1)


# Age-aware check (see `check_through_time`): each photo is compared with this
# many photos of the person nearest to it in age.
TIME_NEIGHBOURS = 5
# The limit is the album's typical distance between a photo and its
# age-neighbours plus a margin, kept within these bounds (dlib's own
# same-person limit, 0.6, is for pairs of faces, which this compares).
TIME_LIMIT_RANGE = (0.6, 0.66)
_TIME_MARGIN = 0.12
# Fewer members than this: the album-wide verdicts stand.
_MIN_MEMBERS = 4


@dataclass
class TimeCheck:
    """Result of `check_through_time`.

    Attributes:
        distances (np.ndarray): [N] median distance of each face to the person's
            faces nearest to it in age.
        limit (float): the album's match limit for those distances.
        matched (np.ndarray): [N] bool, the face is the person.
    """

    distances: np.ndarray
    limit: float
    matched: np.ndarray


def check_through_time(
    descriptors: np.ndarray,
    ages: np.ndarray,
    members: np.ndarray,
    *,
    keep: np.ndarray | None = None,
    neighbours: int = TIME_NEIGHBOURS,
) -> TimeCheck | None:
    """Judge every face against the person's photos of nearby ages, with a limit from the album.

    A child's face is far from the adult median but close to the same
    person's photos a few years older or younger; a look-alike stranger is
    close to the median of a varied album but not to the person's photos of
    the same age. So each face gets the median distance to the `neighbours`
    member faces nearest to it in age (itself left out), and the limit is
    the members' median of that distance plus a margin (within
    `TIME_LIMIT_RANGE`): tight albums get a tight limit. A second pass adds
    the faces the first one accepted to the reference, so a child left out by
    the album-wide check also vouches for its siblings in age.

    Args:
        descriptors (np.ndarray): [N, D] the chosen face of each photo.
        ages (np.ndarray): [N] provisional ages in years (NaN: unknown, then
            compared with all members).
        members (np.ndarray): [N] bool, the album-wide verdict (e.g. from `choose_target`).
        keep (np.ndarray | None): [N] bool, faces the user chose: always the person.
        neighbours (int): age-neighbours compared with. Default: 5.

    Returns:
        TimeCheck | None: None when there are too few members for this check.
    """
    x = np.asarray(descriptors, dtype=np.float64)
    age = np.asarray(ages, dtype=np.float64)
    member = np.asarray(members, dtype=bool).copy()
    keep = np.zeros(len(x), dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    member |= keep
    if member.sum() < _MIN_MEMBERS:
        return None
    dist = pairwise_distances(x, x, np.float32).astype(np.float64)
    gap = np.abs(age[:, None] - age[None, :])
    gap = np.where(np.isnan(gap), np.inf, gap)  # unknown ages: nearest by likeness alone
    result: TimeCheck | None = None
    for _ in range(2):
        local = _local_distances(dist, gap, member, neighbours)
        spread = float(np.median(local[member]))
        limit = float(np.clip(spread + _TIME_MARGIN, *TIME_LIMIT_RANGE))
        matched = (local <= limit) | keep
        result = TimeCheck(local, limit, matched)
        grown = member | matched  # the second pass only adds members (no cascade)
        if np.array_equal(grown, member):
            break
        member = grown
    log.info(
        "age-aware identity check: %d of %d faces match (limit %.3f)",
        int(result.matched.sum()),
        len(x),
        result.limit,
    )
    return result


def _local_distances(dist: np.ndarray, gap: np.ndarray, member: np.ndarray, k: int) -> np.ndarray:
    """[N]: median distance of each face to the k members nearest to it in age (never
    itself); ties in age, and unknown ages, go to the most alike."""
    cols = np.flatnonzero(member)
    if len(cols) == 0:
        return np.full(len(dist), np.inf)
    # One sort key: the age gap (unknown: after every known one), then likeness.
    key = np.where(np.isfinite(gap[:, cols]), gap[:, cols], 1e6) + dist[:, cols] * 1e-6
    key[cols, np.arange(len(cols))] = np.inf  # a member is not its own reference
    k = max(1, min(k, len(cols) - 1 if len(cols) > 1 else 1))
    near = np.argpartition(key, k - 1, axis=1)[:, :k]
    picked = np.take_along_axis(dist[:, cols], near, axis=1)
    out = np.median(picked, axis=1)
    # A lone member has no reference but itself.
    out[np.isinf(np.take_along_axis(key, near, axis=1)).all(axis=1)] = np.inf
    return out
