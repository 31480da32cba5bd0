"""Readers and writers for every data set and annotation format the project touches.

One module per format; everything public is re-exported here, so callers write
``from s2ld_core.data.formats import read_pts, FormatError``. All coordinates returned are 0-based
pixel centres (docs/architecture.md); each module's docstring says how its on-disk convention maps
to that.
Readers raise only :class:`FormatError` (a ``ValueError``) for malformed input.
"""

from .aflw import AFLW_CSV_HEADER, AFLW_NUM_POINTS, AflwRecord, read_aflw_csv, write_aflw_csv
from .annotations import (
    ANNOTATION_CONVENTION,
    ANNOTATION_FORMAT,
    ANNOTATION_VERSION,
    ANNOTATION_VERSIONS,
    STATUSES,
    AnnotationSet,
    FaceAnnotation,
    ImageAnnotation,
    annotations_from_dict,
    export_pts_dir,
    pts_name,
    read_annotations,
    utc_now_iso,
    write_annotations,
)
from .coco import (
    COCO_CATEGORY_ID,
    COCO_KEYPOINT_OFFSET,
    coco_boxes,
    coco_dict,
    read_coco_boxes,
    read_coco_keypoints,
    write_coco_keypoints,
)
from .errors import IMAGE_MARGIN, MAX_COORDINATE, FormatError, check_in_image, format_float, parse_float
from .imglab import ImglabFace, read_imglab_xml
from .pts import PTS_OFFSET, pts_text, read_pts, write_pts
from .tinyface import IMAGE_SUFFIXES, TinyFaceLayout, read_tinyface
from .wider import (
    WIDER_ATTRIBUTES,
    WiderFace,
    WiderImage,
    extract_wider_crops,
    load_rgb,
    read_wider_bbx,
    split_wider_faces,
    wider_size_group,
)

__all__ = [
    "FormatError", "format_float", "parse_float", "MAX_COORDINATE", "IMAGE_MARGIN", "check_in_image",
    "ImglabFace", "read_imglab_xml",
    "PTS_OFFSET", "pts_text", "read_pts", "write_pts",
    "AFLW_CSV_HEADER", "AFLW_NUM_POINTS", "AflwRecord", "read_aflw_csv", "write_aflw_csv",
    "WIDER_ATTRIBUTES", "WiderFace", "WiderImage", "extract_wider_crops", "load_rgb", "read_wider_bbx",
    "split_wider_faces", "wider_size_group",
    "IMAGE_SUFFIXES", "TinyFaceLayout", "read_tinyface",
    "ANNOTATION_CONVENTION", "ANNOTATION_FORMAT", "ANNOTATION_VERSION", "ANNOTATION_VERSIONS", "STATUSES",
    "AnnotationSet", "FaceAnnotation", "ImageAnnotation", "annotations_from_dict", "export_pts_dir",
    "pts_name", "read_annotations", "utc_now_iso",
    "write_annotations",
    "COCO_CATEGORY_ID", "COCO_KEYPOINT_OFFSET", "coco_boxes", "coco_dict", "read_coco_boxes",
    "read_coco_keypoints", "write_coco_keypoints",
]
