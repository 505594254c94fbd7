"""A segmentation against its truth, object by object: precision, recall and F1 at an IoU threshold.

Examples
--------
>>> import numpy as np
>>> truth = np.zeros((4, 4), int); truth[:2, :2] = 1
>>> match_objects(truth, truth)["f1"]
1.0
"""

from __future__ import annotations

import numpy as np

__all__ = ["match_objects"]


def match_objects(labels: np.ndarray, truth: np.ndarray, iou: float = 0.5) -> dict[str, float]:
    """Compare a segmentation with the truth object by object: precision, recall and F1 at an IoU threshold.

    A found object and a true object match when their intersection over union is at least ``iou``
    (above 0.5 at most one match per object is possible).

    Returns
    -------
    dict
        ``found``, ``true``, ``matched``, ``precision``, ``recall``, ``f1``.

    Examples
    --------
    >>> truth = np.zeros((8, 8), int); truth[1:4, 1:4] = 1; truth[5:8, 5:8] = 2
    >>> match_objects(truth, truth)["f1"], match_objects(np.where(truth == 1, 1, 0), truth)["f1"]
    (1.0, 0.6666666666666666)
    """
    labels, truth = np.asarray(labels), np.asarray(truth)
    pairs = labels.astype(np.int64) * (int(truth.max()) + 1) + truth  # one code per (found, true) pair
    codes, overlap = np.unique(pairs[(labels > 0) & (truth > 0)], return_counts=True)
    found_ids, true_ids = codes // (int(truth.max()) + 1), codes % (int(truth.max()) + 1)
    area_found = np.bincount(labels.ravel())
    area_true = np.bincount(truth.ravel())
    union = area_found[found_ids] + area_true[true_ids] - overlap
    matched = int(np.sum(overlap / union >= iou))
    n_found, n_true = len(np.unique(labels[labels > 0])), len(np.unique(truth[truth > 0]))
    precision = matched / n_found if n_found else 0.0
    recall = matched / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if matched else 0.0
    return {"found": n_found, "true": n_true, "matched": matched, "precision": precision, "recall": recall, "f1": f1}
