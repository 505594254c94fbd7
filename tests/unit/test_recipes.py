"""recipes.segment_plane against synthetic nuclei with known counts."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.recipes import count_objects, segment_plane
from labkit.synthetic import nuclei_volume


@pytest.mark.parametrize("seed", range(6))
def test_counts_match_ground_truth_on_98_percent_of_planes(seed):
    vol = nuclei_volume((40, 128, 128), 10, seed=seed)
    found = np.array([count_objects(vol.image[z]) for z in range(vol.image.shape[0])])
    agreement = float(np.mean(found == vol.counts))
    assert agreement >= 0.98, f"seed {seed}: {agreement:.1%} planes right; truth {vol.counts}, found {found}"


def test_labels_cover_the_nuclei():
    vol = nuclei_volume((4, 96, 96), 5, seed=9)
    labels, n = segment_plane(vol.image[2])
    truth = vol.labels[2] > 0
    overlap = (labels > 0) & truth
    assert n == vol.counts[2]
    assert overlap.sum() / truth.sum() > 0.5 and ((labels > 0) & ~truth).sum() == 0


def test_empty_and_bad_planes():
    assert segment_plane(np.zeros((8, 8)))[1] == 0
    with pytest.raises(ValueError, match="2D plane"):
        segment_plane(np.zeros((2, 8, 8)))
