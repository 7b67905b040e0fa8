"""Segmentation metrics of the library (docs/metrics.md): CTC SEG with object
counts and DET, and the foreground-restricted Rand scores of ISBI 2012."""
import ctypes

import numpy as np

from . import _lib


def _check(st):
    from . import _check as chk
    chk(st)


def _u32(a):
    return np.ascontiguousarray(a, dtype=np.uint32)


def seg(truth, pred, truth_is_mask=False, pred_is_mask=False):
    """Cell Tracking Challenge SEG of two (H, W) label images (0 =
    background; a mask side is split into 4-connected components), with the
    object counts (one_to_one, merged, merges, split, missed,
    false_positives) and DET. Returns a dict."""
    t, p = _u32(truth), _u32(pred)
    if t.shape != p.shape or t.ndim != 2:
        raise ValueError("truth and pred must be 2-D arrays of one shape, got %s and %s" % (t.shape, p.shape))
    h, w = t.shape
    s = _lib.SegResult()
    c = _lib.ObjectCounts()
    _check(_lib.unet_seg_counts_2d(t.ctypes.data_as(_lib.c_uint32_p), int(truth_is_mask),
                                   p.ctypes.data_as(_lib.c_uint32_p), int(pred_is_mask), w, h, ctypes.byref(s),
                                   ctypes.byref(c)))
    out = {"seg": s.seg, "n_truth": s.n_truth, "n_matched": s.n_matched}
    out.update({f: getattr(c, f) for f, _ in _lib.ObjectCounts._fields_ if f not in ("n_truth",)})
    return out


def rand(truth, pred, pairs=False, pred_background_segment=False):
    """Foreground-restricted Rand scores (ISBI 2012 definition by default):
    dict with split, merge, f and error (= 1 - f)."""
    t, p = _u32(truth).ravel(), _u32(pred).ravel()
    if t.shape != p.shape:
        raise ValueError("truth and pred differ in size")
    r = _lib.RandStats()
    flags = (1 if pairs else 0) | (2 if pred_background_segment else 0)
    _check(_lib.unet_rand_fr(t.ctypes.data_as(_lib.c_uint32_p), p.ctypes.data_as(_lib.c_uint32_p), t.size, flags,
                             ctypes.byref(r)))
    return {"split": r.split, "merge": r.merge, "f": r.f, "error": r.error}


class _EvalOptions(ctypes.Structure):
    _fields_ = [("metrics", ctypes.c_int), ("pred_kind", ctypes.c_int), ("truth_kind", ctypes.c_int),
                ("warp_connectivity", ctypes.c_int), ("skip_warping", ctypes.c_int)]


_lib.unet_eval_options_default = _lib._fn("unet_eval_options_default", None, ctypes.POINTER(_EvalOptions))
_lib.unet_evaluate_files = _lib._fn("unet_evaluate_files", ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
                                    ctypes.POINTER(_EvalOptions), ctypes.POINTER(ctypes.c_void_p),
                                    ctypes.POINTER(ctypes.c_void_p))


def evaluate(pred, truth, metrics=("isbi", "seg", "iou"), pred_kind="prob", truth_kind="binary",
             warp_connectivity=4, warping=True):
    """`unetcl eval` on two files (PNG/TIFF, stacks slice by slice): the JSON
    document it writes, as a dict, with the printed report under "report"."""
    import json
    import os
    o = _EvalOptions()
    _lib.unet_eval_options_default(ctypes.byref(o))
    o.metrics = sum({"isbi": 1, "seg": 2, "iou": 4}[m] for m in metrics)
    o.pred_kind = {"prob": 0, "mask": 1, "instances": 2}[pred_kind]
    o.truth_kind = {"binary": 0, "instances": 1, "classes": 2}[truth_kind]
    o.warp_connectivity = warp_connectivity
    o.skip_warping = 0 if warping else 1
    rep, js = ctypes.c_void_p(), ctypes.c_void_p()
    _check(_lib.unet_evaluate_files(os.fsencode(pred), os.fsencode(truth), ctypes.byref(o), ctypes.byref(rep),
                                    ctypes.byref(js)))
    try:
        out = json.loads(ctypes.string_at(js).decode())
        out["report"] = ctypes.string_at(rep).decode()
    finally:
        _lib.libc.free(rep)
        _lib.libc.free(js)
    return out
