"""ctypes declarations of libunetcl (the C API in include/unetcl/).

The structs mirrored here are checked against the C compiler's layout by
tests/python/test_abi.py (sizes and offsets from a small C program).
"""
import ctypes
import ctypes.util
import os

c_int, c_uint, c_double, c_float, c_char_p, c_void_p, c_size_t = (
    ctypes.c_int, ctypes.c_uint, ctypes.c_double, ctypes.c_float, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t)
c_int32_p = ctypes.POINTER(ctypes.c_int32)
c_uint32_p = ctypes.POINTER(ctypes.c_uint32)
c_float_p = ctypes.POINTER(ctypes.c_float)


def _find_library():
    """$UNETCL_LIBRARY, then the build folder of a source checkout, then the
    system's search path (ldconfig, LD_LIBRARY_PATH)."""
    env = os.environ.get("UNETCL_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(here, "..", "..", "build", "libunetcl.so"),
                 os.path.join(here, "..", "..", "..", "..", "lib", "libunetcl.so")):
        if os.path.exists(cand):
            return os.path.normpath(cand)
    found = ctypes.util.find_library("unetcl")
    if found:
        return found
    raise OSError("libunetcl.so not found: build it (cmake --build build) or set UNETCL_LIBRARY to its path")


lib = ctypes.CDLL(_find_library())


class DeviceInfo(ctypes.Structure):
    _fields_ = [("index", c_int), ("platform_index", c_int), ("platform_name", ctypes.c_char * 128),
                ("name", ctypes.c_char * 256), ("vendor", ctypes.c_char * 128),
                ("driver_version", ctypes.c_char * 128), ("device_version", ctypes.c_char * 128),
                ("opencl_c_version", ctypes.c_char * 128), ("type", c_int), ("compute_units", c_uint),
                ("global_mem_bytes", ctypes.c_uint64), ("max_alloc_bytes", ctypes.c_uint64),
                ("local_mem_bytes", ctypes.c_uint64), ("max_work_group_size", c_size_t), ("fp16_arithmetic", c_int)]


class Image(ctypes.Structure):
    _fields_ = [("w", c_int), ("h", c_int), ("c", c_int), ("bits", c_int), ("data", c_float_p)]


class TrainProgress(ctypes.Structure):
    _fields_ = [("step", c_int), ("total", c_int), ("loss", c_double), ("accuracy", c_double), ("lr", c_double),
                ("val_loss", c_double), ("val_accuracy", c_double), ("val_iou", c_double), ("seconds", c_double)]


ON_STEP = ctypes.CFUNCTYPE(c_int, ctypes.POINTER(TrainProgress), c_void_p)


class TrainOptions(ctypes.Structure):
    _fields_ = [("resume", c_char_p), ("device", c_char_p), ("stop", c_void_p), ("log", c_void_p), ("quiet", c_int),
                ("dist", c_void_p), ("on_step", ON_STEP), ("user", c_void_p)]


class TrainSummary(ctypes.Structure):
    _fields_ = [("steps_done", c_int), ("last_step", c_int), ("last_loss", c_double), ("val_loss", c_double),
                ("val_accuracy", c_double), ("val_iou", c_double), ("seconds", c_double)]


class SegResult(ctypes.Structure):
    _fields_ = [("n_truth", c_int), ("n_matched", c_int), ("seg", c_double), ("sum_jaccard", c_double)]


class ObjectCounts(ctypes.Structure):
    _fields_ = [("n_truth", c_int), ("n_pred", c_int), ("one_to_one", c_int), ("merged", c_int), ("merges", c_int),
                ("split", c_int), ("missed", c_int), ("false_positives", c_int), ("det_ns", c_int),
                ("det_fn", c_int), ("det_fp", c_int), ("det", c_double)]


class RandStats(ctypes.Structure):
    _fields_ = [("n", ctypes.c_uint64), ("sum_ab", ctypes.c_uint64), ("sum_a", ctypes.c_uint64),
                ("sum_b", ctypes.c_uint64), ("split", c_double), ("merge", c_double), ("f", c_double),
                ("error", c_double)]


class LabelOptions(ctypes.Structure):
    _fields_ = [("type", c_int), ("foreground_value", c_int), ("invert", c_int), ("classes", c_int)]


class WeightmapOptions(ctypes.Structure):
    _fields_ = [("w0", c_double), ("sigma", c_double), ("balance", c_int), ("class_counts", c_double * 2),
                ("border", c_int), ("exp_cutoff", c_double)]


class ModelConfig(ctypes.Structure):
    _fields_ = [("in_channels", c_int), ("classes", c_int), ("depth", c_int), ("base_channels", c_int),
                ("dropout", c_float), ("upconv_relu", c_int)]


class InferOptions(ctypes.Structure):
    _fields_ = [("outputs", c_uint), ("tile", c_int), ("tta", c_int), ("stream_megapixels", c_double),
                ("memory_limit_bytes", ctypes.c_uint64), ("model_name", c_char_p), ("callback", c_void_p),
                ("user", c_void_p)]


# include/unetcl/tune.h
TUNE_PROGRESS = ctypes.CFUNCTYPE(c_int, c_char_p, c_double, c_void_p)
TUNE_CPU = 4


class TuneOptions(ctypes.Structure):
    _fields_ = [("device", c_char_p), ("cache_dir", c_char_p), ("verbose", c_int), ("progress", TUNE_PROGRESS),
                ("user", c_void_p), ("quick", c_int), ("fraction", c_double), ("direct_fraction", c_double),
                ("timeout_s", c_double), ("reps", c_int), ("helper", c_char_p), ("run_helper", c_void_p),
                ("run_helper_user", c_void_p), ("tile", c_int), ("base", c_int), ("precision", c_char_p),
                ("seconds", c_double), ("ship_match", c_char_p)]


class TuneCpuResult(ctypes.Structure):
    _fields_ = [("path", ctypes.c_char * 1100), ("text", ctypes.c_char * 4096), ("shipped", ctypes.c_char * 4096),
                ("default_ms", c_double), ("tuned_ms", c_double)]


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


P = ctypes.POINTER
unet_status_string = _fn("unet_status_string", c_char_p, c_int)
unet_last_error = _fn("unet_last_error", c_char_p)
unet_version = _fn("unet_version", c_char_p)
unet_list_devices = _fn("unet_list_devices", c_int, P(P(DeviceInfo)), P(c_int))
unet_context_create_on = _fn("unet_context_create_on", c_int, c_char_p, P(c_void_p))
unet_context_destroy = _fn("unet_context_destroy", None, c_void_p)
unet_context_device_info = _fn("unet_context_device_info", c_int, c_void_p, P(DeviceInfo))
unet_model_load = _fn("unet_model_load", c_int, c_void_p, c_char_p, c_int, P(c_void_p), P(c_void_p))
unet_model_destroy = _fn("unet_model_destroy", None, c_void_p)
unet_model_get_config = _fn("unet_model_get_config", P(ModelConfig), c_void_p)
unet_config_from_json = _fn("unet_config_from_json", c_int, c_void_p, c_char_p)
unet_infer_options_default = _fn("unet_infer_options_default", None, P(InferOptions))
unet_infer_options_from_config = _fn("unet_infer_options_from_config", None, c_void_p, P(InferOptions))
unet_infer_create = _fn("unet_infer_create", c_int, c_void_p, c_void_p, P(InferOptions), P(c_void_p))
unet_infer_destroy = _fn("unet_infer_destroy", None, c_void_p)
unet_infer_check_model = _fn("unet_infer_check_model", c_int, c_void_p, c_char_p, c_void_p, c_char_p, c_char_p)
unet_infer_file = _fn("unet_infer_file", c_int, c_void_p, c_char_p, c_char_p)
unet_infer_image = _fn("unet_infer_image", c_int, c_void_p, c_float_p, c_int, c_int, c_int, c_int, c_float_p)
unet_infer_mask = _fn("unet_infer_mask", c_int, c_float_p, c_int, c_int, c_int, ctypes.POINTER(ctypes.c_uint8))
unet_infer_instances = _fn("unet_infer_instances", c_int, c_void_p, c_float_p, c_int, c_int, c_int32_p, P(c_int))
unet_model_param_count = _fn("unet_model_param_count", c_size_t, c_void_p)

unet_config_new = _fn("unet_config_new", c_int, P(c_void_p))
unet_config_free = _fn("unet_config_free", None, c_void_p)
unet_config_load = _fn("unet_config_load", c_int, c_void_p, c_char_p)
unet_config_parse_string = _fn("unet_config_parse_string", c_int, c_void_p, c_char_p, c_char_p)
unet_config_set = _fn("unet_config_set", c_int, c_void_p, c_char_p)
unet_config_get = _fn("unet_config_get", c_int, c_void_p, c_char_p, c_char_p, c_size_t)
unet_config_validate = _fn("unet_config_validate", c_int, c_void_p)
unet_config_save = _fn("unet_config_save", c_int, c_void_p, c_char_p)
unet_config_to_json = _fn("unet_config_to_json", c_int, c_void_p, P(c_void_p))

unet_train = _fn("unet_train", c_int, c_void_p, P(TrainOptions), P(TrainSummary))

unet_image_read = _fn("unet_image_read", c_int, c_char_p, c_int, P(Image))
unet_image_count_pages = _fn("unet_image_count_pages", c_int, c_char_p, P(c_int))
unet_image_write = _fn("unet_image_write", c_int, c_char_p, P(Image), c_int)
unet_image_free = _fn("unet_image_free", None, P(Image))
unet_label_options_default = _fn("unet_label_options_default", None, P(LabelOptions))
unet_labels_read = _fn("unet_labels_read", c_int, c_char_p, c_int, P(LabelOptions), P(c_int32_p), P(c_int), P(c_int))

unet_seg_counts_2d = _fn("unet_seg_counts_2d", c_int, c_uint32_p, c_int, c_uint32_p, c_int, c_int, c_int, P(SegResult),
                         P(ObjectCounts))
unet_rand_fr = _fn("unet_rand_fr", c_int, c_uint32_p, c_uint32_p, c_size_t, c_int, P(RandStats))

unet_weightmap_options_default = _fn("unet_weightmap_options_default", None, P(WeightmapOptions))
unet_weightmap_compute = _fn("unet_weightmap_compute", c_int, c_int32_p, c_int, c_int, P(WeightmapOptions), c_int32_p,
                             c_float_p)

unet_tune_options_default = _fn("unet_tune_options_default", None, P(TuneOptions))
unet_tune_options_check = _fn("unet_tune_options_check", c_int, P(TuneOptions), c_uint)
unet_tune_cpu = _fn("unet_tune_cpu", c_int, P(TuneOptions), P(TuneCpuResult))

libc = ctypes.CDLL(None)
libc.free.argtypes = [c_void_p]
libc.free.restype = None
