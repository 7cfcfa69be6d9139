"""Geometry: landmarks -> shape that carries pain, not pose, camera or (optionally) identity.

- :mod:`.align`: closed-form weighted similarity alignment (Umeyama), head pose angles.
- :mod:`.normalize`: frames into the scheme's template frame (3D similarity, 2D weak perspective).
- :mod:`.neutral`: optional per-subject neutral-shape removal (identity).
- :mod:`.measure`: the scheme's pain-unit measurements, scale-free and vectorised.
- :mod:`.registration`: open3d registration without correspondences and surface normals (imported lazily).
"""
from .align import SimilarityTransform, pose_angles, rotation_from_angles, similarity_align
from .neutral import subtract_neutral, subtract_subject_neutrals, neutral_shape, subject_neutrals
from .measure import compile_measurements, measure, measure_array, measure_sequences, template_measurements, unit_scores
from .normalize import fit_weak_perspective, normalize, normalize_coords

__all__ = [
    "SimilarityTransform", "similarity_align", "pose_angles", "rotation_from_angles",
    "normalize_coords", "normalize", "fit_weak_perspective",
    "neutral_shape", "subtract_neutral", "subject_neutrals", "subtract_subject_neutrals",
    "measure", "measure_array", "measure_sequences", "unit_scores", "template_measurements", "compile_measurements",
]
