"""Nearest-neighbour search over the reference photos' coordinates, with faiss (a library built for it).

Exact search (`IndexFlatL2`: every reference compared, in BLAS blocks) up to EXACT_LIMIT references; above that an
inverted-file index (`IndexIVFFlat`): the references are grouped around sqrt(n) centroids fitted once, and a
query is compared only with the references of its PROBES nearest groups, so a query costs a few percent of an
exact search and start-up stays seconds at 100,000 photos. Measured by benchmarks/serve.py (the numbers and the
choice against scikit-learn's NearestNeighbors are printed by that command).

Memory: one float32 copy of the coordinates in the index (100,000 x 424 floats = 170 MB). Searches are thread-safe (faiss
reads a built index from several threads), and their results do not depend on how many threads run them.
"""

from __future__ import annotations

import numpy as np

# Up to this many references the search is exact; above it, approximate with an inverted file.
EXACT_LIMIT = 30_000
# Groups looked at per query in the inverted file (of about sqrt(n)): about 3% of the references at 100,000.
PROBES = 10


class NeighbourIndex:
    def __init__(self, points: np.ndarray, exact_limit: int = EXACT_LIMIT, probes: int = PROBES):
        import faiss

        points = np.ascontiguousarray(points, dtype=np.float32)
        n, dim = points.shape
        self.size, self.dim = n, dim
        if n <= exact_limit:
            self.kind = "exact"
            index = faiss.IndexFlatL2(dim)
        else:
            self.kind = "inverted file"
            groups = int(np.sqrt(n))
            quantizer = faiss.IndexFlatL2(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, groups, faiss.METRIC_L2)
            # k-means (10 rounds) on a fixed sample of 40 points a group, with a fixed seed: the same index for the
            # same references, built in seconds.
            sample = points[np.sort(np.random.default_rng(0).choice(n, min(n, 40 * groups), replace=False))]
            index.cp.seed = 1234
            index.cp.niter = 10
            index.cp.min_points_per_centroid = 1
            index.train(sample)
            index.nprobe = min(probes, groups)
            self._quantizer = quantizer  # the IVF index refers to it: keep it alive
        index.add(points)
        self.index = index
        self._groups = groups if self.kind != "exact" else 0

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances, indices), each (m, k), nearest first; Euclidean distances (not squared)."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(k, self.size)
        squared, indices = self.index.search(queries, k)
        if np.any(indices < 0):
            # An inverted file can find fewer than k in the groups it probed: probe every group for those rows
            # (per call: other threads keep the default).
            import faiss

            rows = np.nonzero(np.any(indices < 0, axis=1))[0]
            squared[rows], indices[rows] = self.index.search(queries[rows], k,
                                                             params=faiss.SearchParametersIVF(nprobe=self._groups))
        # float32 distance expansions can dip below zero for identical points.
        distances = np.sqrt(np.maximum(squared.astype(np.float64), 0.0))
        # Ties by row number, so a result never depends on the order faiss met equal distances in.
        order = np.lexsort((indices, distances), axis=1)
        return np.take_along_axis(distances, order, axis=1), np.take_along_axis(indices, order, axis=1).astype(np.int64)
