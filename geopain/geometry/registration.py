"""open3d where it serves: registration without correspondences, and surface normals.

When landmark correspondences are known (a detector's point ``i`` is the template's point
``i``), the closed-form fit of :mod:`geopain.geometry.align` is exact, vectorised and much
faster: use it. open3d is for the other cases:

- :func:`icp_register`: point-to-point ICP (optionally with scale) of an *unordered* point
  set (e.g. a dense scan, a mesh, landmarks from an unknown scheme) onto the template,
  from an initial guess;
- :func:`ransac_register`: global registration (FPFH features + RANSAC) when no initial
  guess is available, refined by ICP; needs dense sets (hundreds of points, e.g. the
  468-point face), not 28 sparse landmarks;
- :func:`estimate_normals`: normals of a point set from its k nearest neighbours
  (open3d KDTree search), oriented toward the viewer (+z);
- :func:`mesh_normals`: vertex normals of a triangulated face for ``F`` frames at once
  (numpy, vectorised), with triangles from
  :func:`geopain.graphs.transforms.template_triangles` (MediaPipe's tessellation for 468
  points); :func:`to_open3d_mesh` gives the open3d ``TriangleMesh`` of one frame.

open3d is imported lazily (it is large and needs ``libusb-1.0`` on Linux).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GeopainError, ShapeError, check_shape
from .align import SimilarityTransform

__all__ = ["icp_register", "ransac_register", "estimate_normals", "mesh_normals", "to_open3d_mesh"]


def _o3d():
    try:
        import open3d as o3d
    except Exception as exc:  # ImportError, or OSError for a missing system library
        raise GeopainError(f"open3d is needed here but cannot be imported ({exc}); "
                           "pip install open3d-cpu (and apt-get install libusb-1.0-0)") from None
    return o3d


def _cloud(points: np.ndarray, name: str):
    p = np.asarray(points, dtype=np.float64)
    check_shape(name, p, (None, 3))
    p = p[np.isfinite(p).all(1)]
    if len(p) < 3:
        raise ShapeError(f"{name}: needs at least 3 finite points, got {len(p)}")
    o3d = _o3d()
    pc = o3d.geometry.PointCloud()
    pc.points = o3d.utility.Vector3dVector(p)
    return pc


def _to_similarity(T: np.ndarray, rmsd: float) -> SimilarityTransform:
    A = T[:3, :3]
    s = float(np.cbrt(np.linalg.det(A)))
    return SimilarityTransform(rotation=(A / s)[None], scale=np.array([s]), translation=T[:3, 3][None].copy(),
                               rmsd=np.array([rmsd]))


def _init_matrix(init: Any) -> np.ndarray:
    if init is None:
        return np.eye(4)
    if isinstance(init, SimilarityTransform):
        T = np.eye(4)
        T[:3, :3] = init.scale[0] * init.rotation[0]
        T[:3, 3] = init.translation[0]
        return T
    T = np.asarray(init, dtype=np.float64)
    check_shape("init", T, (4, 4))
    return T


def icp_register(
    source: np.ndarray,
    target: np.ndarray,
    init: Any = None,
    max_distance: float | None = None,
    scale: bool = True,
    iterations: int = 100,
) -> tuple[SimilarityTransform, dict[str, float]]:
    """ICP of ``source (M, 3)`` onto ``target (K, 3)`` without correspondences (open3d).

    Args:
        init: initial guess (4x4 matrix or one-frame :class:`SimilarityTransform`); default identity,
            after which the centroids and RMS sizes are matched.
        max_distance: correspondence distance (target units); default 10 % of the target's size.
        scale: estimate a uniform scale too.

    Returns:
        the one-frame transform ``target ~ s R source + t`` and ``{"fitness", "inlier_rmse"}``.
    """
    o3d = _o3d()
    src, tgt = _cloud(source, "source"), _cloud(target, "target")
    S, Tg = np.asarray(src.points), np.asarray(tgt.points)
    size = float(np.sqrt(((Tg - Tg.mean(0)) ** 2).sum(1).mean()))
    if init is None:
        s0 = size / max(float(np.sqrt(((S - S.mean(0)) ** 2).sum(1).mean())), 1e-12) if scale else 1.0
        T0 = np.eye(4)
        T0[:3, :3] *= s0
        T0[:3, 3] = Tg.mean(0) - s0 * S.mean(0)
    else:
        T0 = _init_matrix(init)
    dist = 0.1 * size if max_distance is None else float(max_distance)
    reg = o3d.pipelines.registration
    res = reg.registration_icp(src, tgt, dist, T0, reg.TransformationEstimationPointToPoint(with_scaling=scale),
                               reg.ICPConvergenceCriteria(max_iteration=int(iterations)))
    return _to_similarity(np.asarray(res.transformation), res.inlier_rmse), {
        "fitness": float(res.fitness), "inlier_rmse": float(res.inlier_rmse)}


def ransac_register(
    source: np.ndarray,
    target: np.ndarray,
    voxel_size: float | None = None,
    seed: int = 0,
    refine: bool = True,
) -> tuple[SimilarityTransform, dict[str, float]]:
    """Global registration (FPFH + RANSAC, rigid after matching sizes), refined by ICP.

    Both sets are first scaled to the same RMS size about their centroids (so the result
    includes a scale), features use a radius of 5 voxels. ``voxel_size`` defaults to 1/20 of
    the target's RMS size. Returns the transform and ``{"fitness", "inlier_rmse"}``.
    """
    o3d = _o3d()
    src, tgt = _cloud(source, "source"), _cloud(target, "target")
    S, Tg = np.asarray(src.points), np.asarray(tgt.points)
    ms, mt = S.mean(0), Tg.mean(0)
    size_t = float(np.sqrt(((Tg - mt) ** 2).sum(1).mean()))
    s0 = size_t / max(float(np.sqrt(((S - ms) ** 2).sum(1).mean())), 1e-12)
    src.points = o3d.utility.Vector3dVector((S - ms) * s0 + mt)
    voxel = size_t / 20 if voxel_size is None else float(voxel_size)
    reg = o3d.pipelines.registration
    feats = []
    for pc in (src, tgt):
        pc.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=2 * voxel, max_nn=30))
        feats.append(reg.compute_fpfh_feature(pc, o3d.geometry.KDTreeSearchParamHybrid(radius=5 * voxel, max_nn=100)))
    o3d.utility.random.seed(int(seed))
    res = reg.registration_ransac_based_on_feature_matching(
        src, tgt, feats[0], feats[1], True, 1.5 * voxel,
        reg.TransformationEstimationPointToPoint(False), 3,
        [reg.CorrespondenceCheckerBasedOnEdgeLength(0.9), reg.CorrespondenceCheckerBasedOnDistance(1.5 * voxel)],
        reg.RANSACConvergenceCriteria(100000, 0.999))
    pre = np.eye(4)
    pre[:3, :3] *= s0
    pre[:3, 3] = mt - s0 * ms
    T = np.asarray(res.transformation) @ pre
    info = {"fitness": float(res.fitness), "inlier_rmse": float(res.inlier_rmse)}
    if refine:
        tf, info = icp_register(source, target, init=T, max_distance=2 * voxel)
        return tf, info
    return _to_similarity(T, res.inlier_rmse), info


def estimate_normals(points: np.ndarray, k: int = 12, toward=(0.0, 0.0, 1.0)) -> np.ndarray:
    """``(N, 3)`` unit normals from the ``k`` nearest neighbours (open3d KDTree), oriented
    to have a positive component along ``toward`` (the viewer: +z in the template frame).
    Missing (NaN) points get NaN normals."""
    o3d = _o3d()
    p = np.asarray(points, dtype=np.float64)
    check_shape("points", p, (None, 3))
    ok = np.isfinite(p).all(1)
    pc = _cloud(p, "points")
    pc.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(knn=int(k)))
    pc.orient_normals_to_align_with_direction(np.asarray(toward, dtype=np.float64))
    out = np.full(p.shape, np.nan)
    out[ok] = np.asarray(pc.normals)
    return out


def mesh_normals(coords: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """``(F, N, 3)`` unit vertex normals (area-weighted) of triangulated frames ``(F, N, 3)``.

    Vectorised over frames; triangles ``(K, 3)`` (e.g. ``template_triangles(scheme)``). Points
    of no valid triangle get NaN.
    """
    c = np.asarray(coords, dtype=np.float64)
    if c.ndim == 2:
        c = c[None]
    check_shape("coords", c, (None, None, 3))
    tri = np.asarray(triangles, dtype=np.int64)
    check_shape("triangles", tri, (None, 3))
    if tri.size and (tri.min() < 0 or tri.max() >= c.shape[1]):
        raise ShapeError(f"triangles: indices must be in 0..{c.shape[1] - 1}")
    a, b, d = c[:, tri[:, 0]], c[:, tri[:, 1]], c[:, tri[:, 2]]
    fn = np.nan_to_num(np.cross(b - a, d - a))  # (F, K, 3)
    # scatter-add to vertices with one sparse matrix product over all frames
    N = c.shape[1]
    inc = np.zeros((N, len(tri)))
    for k in range(3):
        np.add.at(inc, (tri[:, k], np.arange(len(tri))), 1.0)
    out = np.einsum("nk,fkc->fnc", inc, fn)
    norm = np.linalg.norm(out, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 1e-12, out / norm, np.nan)


def to_open3d_mesh(coords: np.ndarray, triangles: np.ndarray):
    """An open3d ``TriangleMesh`` of one frame ``(N, 3)`` with vertex normals computed."""
    o3d = _o3d()
    c = np.asarray(coords, dtype=np.float64)
    check_shape("coords", c, (None, 3))
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.nan_to_num(c)),
                                     o3d.utility.Vector3iVector(np.asarray(triangles, dtype=np.int32)))
    mesh.compute_vertex_normals()
    return mesh
