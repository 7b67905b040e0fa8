"""unetcl: the U-Net (Ronneberger et al. 2015) on any OpenCL device, from Python.

A thin ctypes layer over libunetcl (the C library of the `unetcl` tool); numpy
arrays in and out. Everything `unetcl` does is reachable:

    import unetcl
    unetcl.train("configs/tiny.ini", {"train.iterations": 50}, callback=print)
    model = unetcl.Model.load("runs/tiny/model.safetensors", device="cpu")
    out = model.predict(image)            # dict: probs, mask, instances
    unetcl.metrics.seg(truth, out["instances"])

Errors raise unetcl.Error with the library's one-line message.
"""
import ctypes
import os

import numpy as np

from . import _lib
from ._lib import lib  # noqa: F401  (the loaded shared library)

__all__ = ["Error", "version", "devices", "Config", "train", "Model", "imread", "imwrite", "read_labels",
           "weightmap", "metrics", "tune_cpu"]


class Error(RuntimeError):
    """A failed library call: .status (the C status code) and the message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _check(status):
    if status != 0:
        msg = _lib.unet_last_error().decode("utf-8", "replace")
        name = _lib.unet_status_string(status).decode()
        raise Error(status, msg or name)


def _b(s):
    return None if s is None else os.fsencode(s)


def version():
    """The library's version, "MAJOR.MINOR.PATCH"."""
    return _lib.unet_version().decode()


def devices():
    """Every OpenCL device: a list of dicts (index, name, platform, type, memory)."""
    infos = ctypes.POINTER(_lib.DeviceInfo)()
    n = ctypes.c_int()
    _check(_lib.unet_list_devices(ctypes.byref(infos), ctypes.byref(n)))
    types = {1: "cpu", 2: "gpu", 4: "accelerator", 8: "other"}
    out = []
    for i in range(n.value):
        d = infos[i]
        out.append({"index": d.index, "name": d.name.decode(), "platform": d.platform_name.decode(),
                    "vendor": d.vendor.decode(), "type": types.get(d.type, "other"),
                    "global_mem_bytes": d.global_mem_bytes, "compute_units": d.compute_units})
    _lib.libc.free(infos)
    return out


class Config:
    """A run configuration: an INI file (or the defaults) plus overrides.

    cfg = Config("configs/tiny.ini", {"train.iterations": 20})
    cfg["train.lr"]            -> "0.002" (text, as the INI file writes it)
    cfg["train.lr"] = 0.01
    """

    def __init__(self, path=None, overrides=None, text=None):
        h = ctypes.c_void_p()
        _check(_lib.unet_config_new(ctypes.byref(h)))
        self._h = h
        if path is not None:
            _check(_lib.unet_config_load(self._h, _b(path)))
        if text is not None:
            _check(_lib.unet_config_parse_string(self._h, text.encode(), b"<text>"))
        for k, v in (overrides or {}).items():
            self[k] = v

    def __setitem__(self, key, value):
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        _check(_lib.unet_config_set(self._h, ("%s=%s" % (key, value)).encode()))

    def __getitem__(self, key):
        buf = ctypes.create_string_buffer(8192)
        _check(_lib.unet_config_get(self._h, key.encode(), buf, len(buf)))
        return buf.value.decode()

    def validate(self):
        _check(_lib.unet_config_validate(self._h))

    def save(self, path):
        _check(_lib.unet_config_save(self._h, _b(path)))

    def to_json(self):
        p = ctypes.c_void_p()
        _check(_lib.unet_config_to_json(self._h, ctypes.byref(p)))
        s = ctypes.string_at(p).decode()
        _lib.libc.free(p)
        return s

    def close(self):
        if self._h:
            _lib.unet_config_free(self._h)
            self._h = None

    def __del__(self):
        self.close()


def train(config, overrides=None, callback=None, device=None, resume=None, quiet=True):
    """Trains as `unetcl train CONFIG --set ...` does (logs, checkpoints and the
    model under [output] dir). config: a Config or an INI path. callback(p) is
    called after every step with a dict (step, total, loss, accuracy, lr,
    val_loss, val_accuracy, val_iou, seconds); returning True stops training
    after a checkpoint (then unetcl.Error with status INTERRUPTED is raised,
    as for Ctrl-C). Returns the summary as a dict."""
    cfg = config if isinstance(config, Config) else Config(config)
    for k, v in (overrides or {}).items():
        cfg[k] = v
    cfg.validate()
    err = []

    def on_step(p, user):
        if callback is None:
            return 0
        q = p.contents
        d = {f: getattr(q, f) for f, _ in _lib.TrainProgress._fields_}
        try:
            return 1 if callback(d) else 0
        except BaseException as e:  # an exception stops training; re-raised below
            err.append(e)
            return 1

    cb = _lib.ON_STEP(on_step)
    o = _lib.TrainOptions()
    o.resume = _b(resume)
    o.device = _b(device)
    o.quiet = 1 if quiet else 0
    o.on_step = cb
    s = _lib.TrainSummary()
    st = _lib.unet_train(cfg._h, ctypes.byref(o), ctypes.byref(s))
    if err:
        raise err[0]
    _check(st)
    return {f: getattr(s, f) for f, _ in _lib.TrainSummary._fields_}


def tune_cpu(device=None, cache_dir=None, seconds=120, callback=None, ship_match=None):
    """Searches unetcl's CPU kernel parameters on a CPU device and writes the
    device's tuning file, as `unetcl tune --cpu` does (include/unetcl/tune.h,
    unet_tune_cpu). callback(message, fraction) sees every progress line;
    returning True cancels (unetcl.Error with status INTERRUPTED; nothing is
    written). Returns a dict: path, text (the file), shipped (with
    ship_match: the entry for cpu_tune_shipped.c), default_ms, tuned_ms."""
    err = []

    def on_progress(message, fraction, user):
        if callback is None:
            return 0
        try:
            return 1 if callback(message.decode("utf-8", "replace"), fraction) else 0
        except BaseException as e:  # an exception cancels; re-raised below
            err.append(e)
            return 1

    cb = _lib.TUNE_PROGRESS(on_progress)
    o = _lib.TuneOptions()
    _lib.unet_tune_options_default(ctypes.byref(o))
    o.device = _b(device)
    o.cache_dir = _b(cache_dir)
    o.seconds = float(seconds)
    o.ship_match = ship_match.encode() if ship_match else None
    o.progress = cb
    r = _lib.TuneCpuResult()
    st = _lib.unet_tune_cpu(ctypes.byref(o), ctypes.byref(r))
    if err:
        raise err[0]
    _check(st)
    return {"path": os.fsdecode(r.path), "text": r.text.decode("utf-8", "replace"),
            "shipped": r.shipped.decode("utf-8", "replace"), "default_ms": r.default_ms, "tuned_ms": r.tuned_ms}


class Model:
    """A trained model on an OpenCL device (Model.load)."""

    def __init__(self):
        self._ctx = ctypes.c_void_p()
        self._model = ctypes.c_void_p()
        self.meta = None

    @classmethod
    def load(cls, path, device=None, config=None):
        """Loads a model file (safetensors, as `unetcl train` writes it) on a
        device (a selector: None/"auto", "cpu", "gpu", "gpu:1", an index or a
        name). config (a Config or an INI path) supplies [data]
        normalisation and scale and the [infer] settings, as the
        configuration file of `unetcl infer` does; without it, the training
        configuration recorded in the model file is used."""
        m = cls()
        _check(_lib.unet_context_create_on(_b(device), ctypes.byref(m._ctx)))
        meta = ctypes.c_void_p()
        try:
            _check(_lib.unet_model_load(m._ctx, _b(path), 0, ctypes.byref(m._model), ctypes.byref(meta)))
            if meta.value:
                m.meta = ctypes.string_at(meta).decode()
                _lib.libc.free(meta)
            if config is None:
                m.config = Config()
                import json
                recorded = json.loads(m.meta).get("config") if m.meta else None
                if recorded:
                    _check(_lib.unet_config_from_json(m.config._h, recorded.encode()))
                cfg_name = "the configuration recorded in the model"
            else:
                m.config = config if isinstance(config, Config) else Config(config)
                cfg_name = str(config if not isinstance(config, Config) else "the configuration")
            _check(_lib.unet_infer_check_model(m._model, m.meta.encode() if m.meta else None, m.config._h,
                                               _b(path), cfg_name.encode()))
        except Error:
            m.close()
            raise
        m.path = os.fspath(path)
        m._inf = ctypes.c_void_p()
        m._inf_key = None
        return m

    @property
    def classes(self):
        return self._model_config().classes

    def _model_config(self):
        return _lib.unet_model_get_config(self._model).contents

    def _pipeline(self, tile, tta):
        key = (tile, tta)
        if self._inf.value and self._inf_key == key:
            return self._inf
        if self._inf.value:
            _lib.unet_infer_destroy(self._inf)
            self._inf = ctypes.c_void_p()
        o = _lib.InferOptions()
        _lib.unet_infer_options_default(ctypes.byref(o))
        _lib.unet_infer_options_from_config(self.config._h, ctypes.byref(o))
        if tile is not None:
            o.tile = int(tile)
        if tta is not None:
            o.tta = 1 if tta else 0
        o.model_name = _b(self.path)
        _check(_lib.unet_infer_create(self._model, self.config._h, ctypes.byref(o), ctypes.byref(self._inf)))
        self._inf_key = key
        return self._inf

    def predict(self, image, tile=None, tta=None, bits=None):
        """Segments an image as `unetcl infer` does (overlap-tile, the
        model's normalisation and scale). image: (H, W) or (C, H, W) raw
        values (uint8, uint16 or float; bits follows the dtype unless given).
        tile: input tile edge (None: [infer] tile, 0: the largest that fits);
        tta: average over the 8 flips/rotations. Returns a dict: probs
        (classes, H, W) float32, mask (H, W) uint8 class index, instances
        (H, W) int32 object ids (0 background) and count."""
        a = np.asarray(image)
        if bits is None:
            bits = 8 if a.dtype == np.uint8 else 16 if a.dtype == np.uint16 else 32
        x = _as_c(a[None] if a.ndim == 2 else a, np.float32)
        if x.ndim != 3:
            raise ValueError("image must be (H, W) or (C, H, W), got shape %s" % (a.shape,))
        c, h, w = x.shape
        inf = self._pipeline(tile, tta)
        k = self.classes
        probs = np.empty((k, h, w), np.float32)
        _check(_lib.unet_infer_image(inf, x.ctypes.data_as(_lib.c_float_p), c, h, w, bits,
                                     probs.ctypes.data_as(_lib.c_float_p)))
        mask = np.empty((h, w), np.uint8)
        _check(_lib.unet_infer_mask(probs.ctypes.data_as(_lib.c_float_p), k, h, w,
                                    mask.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))))
        ids = np.empty((h, w), np.int32)
        n = ctypes.c_int()
        _check(_lib.unet_infer_instances(inf, probs.ctypes.data_as(_lib.c_float_p), h, w,
                                         ids.ctypes.data_as(_lib.c_int32_p), ctypes.byref(n)))
        return {"probs": probs, "mask": mask, "instances": ids, "count": n.value}

    def segment_file(self, path, out_dir, tile=None, tta=None):
        """Writes the files `unetcl infer` writes for one input (PNG or TIFF,
        stacks page by page; large images streamed) into out_dir."""
        _check(_lib.unet_infer_file(self._pipeline(tile, tta), _b(path), _b(out_dir)))

    @property
    def device(self):
        info = _lib.DeviceInfo()
        _check(_lib.unet_context_device_info(self._ctx, ctypes.byref(info)))
        return info.name.decode()

    @property
    def param_count(self):
        return int(_lib.unet_model_param_count(self._model))

    def close(self):
        if getattr(self, "_inf", None) is not None and self._inf.value:
            _lib.unet_infer_destroy(self._inf)
            self._inf = ctypes.c_void_p()
        if getattr(self, "_model", None) and self._model.value:
            _lib.unet_model_destroy(self._model)
            self._model = ctypes.c_void_p()
        if getattr(self, "_ctx", None) and self._ctx.value:
            _lib.unet_context_destroy(self._ctx)
            self._ctx = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def __del__(self):
        self.close()


def _as_c(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype)


def imread(path, page=0):
    """An image file (PNG, TIFF page) as float32 values as stored: (H, W) for
    one channel, (C, H, W) for more."""
    im = _lib.Image()
    _check(_lib.unet_image_read(_b(path), page, ctypes.byref(im)))
    try:
        a = np.ctypeslib.as_array(im.data, shape=(im.c, im.h, im.w)).copy()
    finally:
        _lib.unet_image_free(ctypes.byref(im))
    return a[0] if a.shape[0] == 1 else a


def imwrite(path, array, bits=8):
    """Writes (H, W) or (C, H, W) values to PNG (bits 8/16) or TIFF (8/16/32)."""
    a = _as_c(array, np.float32)
    if a.ndim == 2:
        a = a[None]
    im = _lib.Image(w=a.shape[2], h=a.shape[1], c=a.shape[0], bits=bits,
                    data=a.ctypes.data_as(_lib.c_float_p))
    _check(_lib.unet_image_write(_b(path), ctypes.byref(im), bits))


def read_labels(path, page=0, label_type="instances", foreground_value=255, invert=False, classes=2):
    """A label image as int32 (H, W), read and checked as training reads it."""
    o = _lib.LabelOptions()
    _lib.unet_label_options_default(ctypes.byref(o))
    o.type = {"instances": 0, "binary": 1, "classes": 2}[label_type]
    o.foreground_value, o.invert, o.classes = foreground_value, int(invert), classes
    p = _lib.c_int32_p()
    w, h = ctypes.c_int(), ctypes.c_int()
    _check(_lib.unet_labels_read(_b(path), page, ctypes.byref(o), ctypes.byref(p), ctypes.byref(w), ctypes.byref(h)))
    a = np.ctypeslib.as_array(p, shape=(h.value, w.value)).copy()
    _lib.libc.free(p)
    return a


def weightmap(instances, w0=10.0, sigma=5.0, border=True):
    """The paper's weight map of an instance image: (classes, weights)."""
    ids = _as_c(instances, np.int32)
    h, w = ids.shape
    o = _lib.WeightmapOptions()
    _lib.unet_weightmap_options_default(ctypes.byref(o))
    o.w0, o.sigma, o.border = w0, sigma, int(border)
    cls = np.empty((h, w), np.int32)
    wt = np.empty((h, w), np.float32)
    _check(_lib.unet_weightmap_compute(ids.ctypes.data_as(_lib.c_int32_p), w, h, ctypes.byref(o),
                                       cls.ctypes.data_as(_lib.c_int32_p), wt.ctypes.data_as(_lib.c_float_p)))
    return cls, wt


from . import metrics  # noqa: E402,F401
