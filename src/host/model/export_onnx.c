/* ONNX export: the network as an ONNX graph, encoded with protobuf-c from
 * src/proto/onnx.proto (the subset of the ONNX IR that unetcl writes). */
#include "unetcl/export.h"
#include "atomicfile.h"
#include "error.h"
#include "net.h"
#include "onnx.pb-c.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ONNX_IR_VERSION 7 /* IR of opset 13 (ONNX 1.8) */
#define ONNX_OPSET 13

/* ---- geometry and normalisation ------------------------------------------- */

unet_status unet_model_geometry(const unet_model_config *cfg, unet_geometry *g)
{
    if (!cfg || !g) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_model_geometry: NULL argument");
    memset(g, 0, sizeof *g);
    int lo = 0, next = 0;
    for (int t = 1; t < (1 << 20) && !next; t++)
        if (unet_tile_output(cfg, t)) {
            if (!lo) lo = t;
            else next = t;
        }
    if (!lo || !next)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "a depth-%d U-Net has no valid tile size below 2^20", cfg->depth);
    g->min_tile = lo;
    g->tile_step = next - lo;
    g->halo = (lo - unet_tile_output(cfg, lo)) / 2;
    if (next - unet_tile_output(cfg, next) != 2 * g->halo)
        return unet_seterr(UNET_ERR_INTERNAL, "unet_model_geometry: the context depends on the tile size (a bug)");
    return UNET_OK;
}

unet_status unet_model_input_norm(const char *meta_json, unet_input_norm *n)
{
    if (!n) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_model_input_norm: NULL argument");
    memset(n, 0, sizeof *n);
    n->per_image = 1;
    n->std = 1;
    n->resize = 1;
    if (!meta_json) return UNET_OK;
    cJSON *meta = cJSON_Parse(meta_json);
    if (!meta) return unet_seterr(UNET_ERR_FORMAT, "the model metadata is not JSON");
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(meta, "config");
    cJSON *cfg = cJSON_IsString(cs) ? cJSON_Parse(cs->valuestring) : NULL;
    unet_status st = UNET_OK;
    if (cJSON_IsString(cs) && !cfg) st = unet_seterr(UNET_ERR_FORMAT, "the training configuration in the model metadata is not JSON");
    const cJSON *data = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "data") : NULL;
    const cJSON *mode = data ? cJSON_GetObjectItemCaseSensitive(data, "normalize") : NULL;
    if (st == UNET_OK && cJSON_IsString(mode)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(data, "norm_mean");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(data, "norm_std");
        if (!strcmp(mode->valuestring, "per_image")) {
            n->known = 1;
        } else if (!strcmp(mode->valuestring, "fixed") && cJSON_IsNumber(m) && cJSON_IsNumber(s) && s->valuedouble > 0) {
            n->known = 1;
            n->per_image = 0;
            n->mean = m->valuedouble;
            n->std = s->valuedouble;
        } else {
            st = unet_seterr(UNET_ERR_FORMAT,
                             "the model metadata has data.normalize = \"%s\" (or no valid norm_mean/norm_std): this "
                             "unetcl knows per_image and fixed; export with the unetcl version that trained it",
                             mode->valuestring);
        }
    }
    const cJSON *rs = data ? cJSON_GetObjectItemCaseSensitive(data, "scale") : NULL;
    if (st == UNET_OK && rs) {
        if (cJSON_IsNumber(rs) && rs->valuedouble > 0) n->resize = rs->valuedouble;
        else st = unet_seterr(UNET_ERR_FORMAT, "the model metadata has a data.scale that is not a positive number");
    }
    cJSON_Delete(cfg);
    cJSON_Delete(meta);
    return st;
}

/* The crop offsets of the skip connections, per decoder level l (0-based):
 * the skip is diff[l] larger than the up-sampled map, the same for every
 * valid tile (checked on two). */
static unet_status crop_diffs(const unet_model_config *c, const unet_geometry *g, int *diff)
{
    int other[UNET_MAX_DEPTH];
    for (int pass = 0; pass < 2; pass++) {
        int *d = pass ? other : diff;
        int s = g->min_tile + pass * g->tile_step, skip[UNET_MAX_DEPTH];
        for (int l = 0; l < c->depth - 1; l++) {
            s -= 4;
            skip[l] = s;
            s /= 2;
        }
        s -= 4;
        for (int l = c->depth - 2; l >= 0; l--) {
            int u = 2 * s;
            d[l] = skip[l] - u;
            s = u - 4;
        }
    }
    for (int l = 0; l < c->depth - 1; l++)
        if (diff[l] != other[l] || diff[l] <= 0)
            return unet_seterr(UNET_ERR_INTERNAL, "ONNX export: crop offset of level %d depends on the tile size (a bug)", l + 1);
    return UNET_OK;
}

/* ---- building the protobuf messages ------------------------------------------- */

/* Every allocation of one export, freed together. */
typedef struct arena {
    void **p;
    size_t n, cap;
    int failed;
} arena;

static void *aalloc(arena *a, size_t bytes)
{
    if (a->failed) return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 256;
        void **q = realloc(a->p, cap * sizeof *q);
        if (!q) {
            a->failed = 1;
            return NULL;
        }
        a->p = q;
        a->cap = cap;
    }
    void *m = calloc(1, bytes ? bytes : 1);
    if (!m) {
        a->failed = 1;
        return NULL;
    }
    return a->p[a->n++] = m;
}

static char *astr(arena *a, const char *fmt, ...) UNET_PRINTF(2, 3);
static char *astr(arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = len >= 0 ? aalloc(a, (size_t)len + 1) : NULL;
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return s;
}

static void arena_free(arena *a)
{
    for (size_t i = 0; i < a->n; i++) free(a->p[i]);
    free(a->p);
}

typedef struct builder {
    arena a;
    Onnx__NodeProto **node;
    size_t nnode, capnode;
    Onnx__TensorProto **init;
    size_t ninit, capinit;
    Onnx__StringStringEntryProto **meta;
    size_t nmeta, capmeta;
} builder;

static int grow(arena *a, void ***v, size_t n, size_t *cap)
{
    if (n < *cap) return 1;
    size_t nc = *cap ? 2 * *cap : 64;
    void **q = aalloc(a, nc * sizeof *q);
    if (!q) return 0;
    if (n) memcpy(q, *v, n * sizeof *q);
    *v = q;
    *cap = nc;
    return 1;
}

static Onnx__AttributeProto *attr_ints(builder *b, const char *name, const int64_t *v, size_t n)
{
    Onnx__AttributeProto *at = aalloc(&b->a, sizeof *at);
    int64_t *iv = aalloc(&b->a, n * sizeof *iv);
    if (!at || !iv) return NULL;
    onnx__attribute_proto__init(at);
    at->name = (char *)name;
    at->has_type = 1;
    at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    memcpy(iv, v, n * sizeof *iv);
    at->n_ints = n;
    at->ints = iv;
    return at;
}

static Onnx__AttributeProto *attr_int(builder *b, const char *name, int64_t v)
{
    Onnx__AttributeProto *at = aalloc(&b->a, sizeof *at);
    if (!at) return NULL;
    onnx__attribute_proto__init(at);
    at->name = (char *)name;
    at->has_type = 1;
    at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    at->has_i = 1;
    at->i = v;
    return at;
}

/* Adds a node; inputs NULL-terminated; attributes: nattr pointers. */
static void node(builder *b, const char *op, const char *out, const char *const *in, int nattr, ...)
{
    Onnx__NodeProto *nd = aalloc(&b->a, sizeof *nd);
    size_t nin = 0;
    while (in[nin]) nin++;
    char **ins = aalloc(&b->a, nin * sizeof *ins), **outs = aalloc(&b->a, sizeof *outs);
    Onnx__AttributeProto **at = aalloc(&b->a, (size_t)(nattr ? nattr : 1) * sizeof *at);
    char *oname = astr(&b->a, "%s", out);
    if (!nd || !ins || !outs || !at || !oname || !grow(&b->a, (void ***)&b->node, b->nnode, &b->capnode)) return;
    onnx__node_proto__init(nd);
    nd->op_type = (char *)op;
    nd->name = oname;
    for (size_t i = 0; i < nin; i++)
        if (!(ins[i] = astr(&b->a, "%s", in[i]))) return;
    nd->n_input = nin;
    nd->input = ins;
    outs[0] = oname;
    nd->n_output = 1;
    nd->output = outs;
    va_list ap;
    va_start(ap, nattr);
    for (int i = 0; i < nattr; i++) {
        at[i] = va_arg(ap, Onnx__AttributeProto *);
        if (!at[i]) b->a.failed = 1;
    }
    va_end(ap);
    nd->n_attribute = (size_t)nattr;
    nd->attribute = at;
    b->node[b->nnode++] = nd;
}

static void init_f32(builder *b, const char *name, const int *shape, int ndim, const float *data, size_t count)
{
    Onnx__TensorProto *t = aalloc(&b->a, sizeof *t);
    int64_t *dims = aalloc(&b->a, (size_t)ndim * sizeof *dims);
    char *nm = astr(&b->a, "%s", name);
    if (!t || !dims || !nm || !grow(&b->a, (void ***)&b->init, b->ninit, &b->capinit)) return;
    onnx__tensor_proto__init(t);
    for (int d = 0; d < ndim; d++) dims[d] = shape[d];
    t->n_dims = (size_t)ndim;
    t->dims = dims;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->n_float_data = count;
    t->float_data = (float *)data; /* packed little-endian by protobuf-c on any host */
    t->name = nm;
    b->init[b->ninit++] = t;
}

static void init_i64(builder *b, const char *name, const int64_t *v, size_t n)
{
    Onnx__TensorProto *t = aalloc(&b->a, sizeof *t);
    int64_t *dims = aalloc(&b->a, sizeof *dims), *vals = aalloc(&b->a, n * sizeof *vals);
    char *nm = astr(&b->a, "%s", name);
    if (!t || !dims || !vals || !nm || !grow(&b->a, (void ***)&b->init, b->ninit, &b->capinit)) return;
    onnx__tensor_proto__init(t);
    dims[0] = (int64_t)n;
    t->n_dims = 1;
    t->dims = dims;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    memcpy(vals, v, n * sizeof *vals);
    t->n_int64_data = n;
    t->int64_data = vals;
    t->name = nm;
    b->init[b->ninit++] = t;
}

static void meta(builder *b, const char *key, const char *fmt, ...) UNET_PRINTF(3, 4);
static void meta(builder *b, const char *key, const char *fmt, ...)
{
    Onnx__StringStringEntryProto *e = aalloc(&b->a, sizeof *e);
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *v = astr(&b->a, "%s", buf);
    if (!e || !v || !grow(&b->a, (void ***)&b->meta, b->nmeta, &b->capmeta)) return;
    onnx__string_string_entry_proto__init(e);
    e->key = (char *)key;
    e->value = v;
    b->meta[b->nmeta++] = e;
}

/* A float tensor value [dims]: numbers or symbolic names (NULL = dim_value). */
static Onnx__ValueInfoProto *value_info(builder *b, const char *name, const char *const *sym, const int64_t *val, int ndim)
{
    Onnx__ValueInfoProto *vi = aalloc(&b->a, sizeof *vi);
    Onnx__TypeProto *tp = aalloc(&b->a, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = aalloc(&b->a, sizeof *tt);
    Onnx__TensorShapeProto *sh = aalloc(&b->a, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dims = aalloc(&b->a, (size_t)ndim * sizeof *dims);
    if (!vi || !tp || !tt || !sh || !dims) return NULL;
    for (int d = 0; d < ndim; d++) {
        Onnx__TensorShapeProto__Dimension *dm = aalloc(&b->a, sizeof *dm);
        if (!dm) return NULL;
        onnx__tensor_shape_proto__dimension__init(dm);
        if (sym[d]) {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dm->dim_param = (char *)sym[d];
        } else {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dm->dim_value = val[d];
        }
        dims[d] = dm;
    }
    onnx__tensor_shape_proto__init(sh);
    sh->n_dim = (size_t)ndim;
    sh->dim = dims;
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    onnx__type_proto__init(tp);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    onnx__value_info_proto__init(vi);
    vi->name = (char *)name;
    vi->type = tp;
    return vi;
}

/* conv (k x k, valid) [+ relu]; returns the name of the output */
static const char *conv(builder *b, const char *name, const char *in, int k, int relu)
{
    static const int64_t one[2] = {1, 1};
    int64_t ks[2] = {k, k};
    char w[128], bias[128];
    snprintf(w, sizeof w, "%s.weight", name);
    snprintf(bias, sizeof bias, "%s.bias", name);
    const char *ins[] = {in, w, bias, NULL};
    node(b, "Conv", name, ins, 2, attr_ints(b, "kernel_shape", ks, 2), attr_ints(b, "strides", one, 2));
    if (!relu) return name;
    char *r = astr(&b->a, "%s.relu", name);
    if (!r) return name;
    const char *rin[] = {name, NULL};
    node(b, "Relu", r, rin, 0);
    return r;
}

unet_status unet_export_onnx(unet_model *m, const char *meta_json, int tile, const char *path)
{
    if (!m || !path || !*path) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_export_onnx: NULL argument");
    const unet_model_config *c = &m->cfg;
    /* one protobuf message holds at most 2 GiB; ONNX's external-data files
     * are not written */
    double bytes = (double)m->nparams * 4.0;
    if (bytes > 2147483647.0 - (64 << 20))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "exporting %s: the model has %zu parameters (%.2f GiB), more than one ONNX (protobuf) file "
                           "can hold (2 GiB); unetcl does not write ONNX external data: export a smaller model "
                           "(fewer base_channels or levels)",
                           path, m->nparams, bytes / 1073741824.0);
    unet_geometry g;
    unet_input_norm norm;
    int diff[UNET_MAX_DEPTH];
    if (tile < 0) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "exporting %s: tile %d: must be >= 0", path, tile);
    if (tile > 0 && unet_tile_check(c, tile) != UNET_OK)
        return unet_errctx(UNET_ERR_INVALID_ARGUMENT, "exporting %s: declared input size", path);
    UNET_TRY(unet_model_geometry(c, &g));
    UNET_TRY(crop_diffs(c, &g, diff));
    if (unet_model_input_norm(meta_json, &norm) != UNET_OK) return unet_errctx(UNET_ERR_FORMAT, "exporting %s", path);

    float *p = malloc(m->nparams * sizeof *p);
    if (!p) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "exporting %s: out of host memory for the parameters", path);
    unet_status st = unet_model_get_params(m, p);
    if (st != UNET_OK) {
        free(p);
        return st;
    }
    builder b;
    memset(&b, 0, sizeof b);
    for (int i = 0; i < m->nt; i++) {
        const unet_param_tensor *t = &m->t[i];
        init_f32(&b, t->name, t->shape, t->ndim, p + t->off, t->count);
    }
    /* contracting path */
    const char *x = "input";
    const char *skip[UNET_MAX_DEPTH];
    static const int64_t two[2] = {2, 2};
    char nm[96];
    for (int l = 0; l < c->depth; l++) {
        snprintf(nm, sizeof nm, "enc%d.conv1", l + 1);
        x = conv(&b, nm, x, 3, 1);
        snprintf(nm, sizeof nm, "enc%d.conv2", l + 1);
        x = conv(&b, nm, x, 3, 1);
        if (l == c->depth - 1) break;
        skip[l] = x;
        snprintf(nm, sizeof nm, "enc%d.pool", l + 1);
        const char *in[] = {x, NULL};
        node(&b, "MaxPool", nm, in, 2, attr_ints(&b, "kernel_shape", two, 2), attr_ints(&b, "strides", two, 2));
        x = astr(&b.a, "%s", nm);
        if (!x) break;
    }
    /* expansive path */
    for (int l = c->depth - 2; l >= 0 && !b.a.failed; l--) {
        char w[128], bias[128];
        snprintf(nm, sizeof nm, "dec%d.up", l + 1);
        snprintf(w, sizeof w, "%s.weight", nm);
        snprintf(bias, sizeof bias, "%s.bias", nm);
        const char *uin[] = {x, w, bias, NULL};
        node(&b, "ConvTranspose", nm, uin, 2, attr_ints(&b, "kernel_shape", two, 2), attr_ints(&b, "strides", two, 2));
        const char *up = astr(&b.a, "%s", nm);
        if (c->upconv_relu) {
            const char *rin[] = {nm, NULL};
            up = astr(&b.a, "dec%d.up.relu", l + 1);
            if (up) node(&b, "Relu", up, rin, 0);
        }
        /* centre crop of the skip: starts floor(diff/2), ends -ceil(diff/2)
         * (from the end), the same for every valid tile size */
        int64_t starts[2] = {diff[l] / 2, diff[l] / 2}, ends[2] = {-(diff[l] - diff[l] / 2), -(diff[l] - diff[l] / 2)};
        static const int64_t axes[2] = {2, 3};
        char s0[80], s1[80], s2[80];
        snprintf(s0, sizeof s0, "dec%d.crop.starts", l + 1);
        snprintf(s1, sizeof s1, "dec%d.crop.ends", l + 1);
        snprintf(s2, sizeof s2, "dec%d.crop.axes", l + 1);
        init_i64(&b, s0, starts, 2);
        init_i64(&b, s1, ends, 2);
        init_i64(&b, s2, axes, 2);
        snprintf(nm, sizeof nm, "dec%d.crop", l + 1);
        const char *cin[] = {skip[l], s0, s1, s2, NULL};
        node(&b, "Slice", nm, cin, 0);
        char cat[80];
        snprintf(cat, sizeof cat, "dec%d.concat", l + 1);
        const char *kin[] = {nm, up ? up : "", NULL};
        node(&b, "Concat", cat, kin, 1, attr_int(&b, "axis", 1));
        snprintf(nm, sizeof nm, "dec%d.conv1", l + 1);
        x = conv(&b, nm, cat, 3, 1);
        snprintf(nm, sizeof nm, "dec%d.conv2", l + 1);
        x = conv(&b, nm, x, 3, 1);
    }
    x = conv(&b, "out", x, 1, 0);
    const char *sin[] = {x, NULL};
    node(&b, "Softmax", "probabilities", sin, 1, attr_int(&b, "axis", 1));

    /* inputs and outputs: batch and spatial sizes symbolic */
    const char *isym[4] = {"N", NULL, "H", "W"}, *osym[4] = {"N", NULL, "H_out", "W_out"};
    int64_t ival[4] = {0, c->in_channels, tile, tile}, oval[4] = {0, c->classes, 0, 0};
    if (tile > 0) {
        isym[2] = isym[3] = osym[2] = osym[3] = NULL;
        oval[2] = oval[3] = unet_tile_output(c, tile);
    }
    Onnx__ValueInfoProto *vin = value_info(&b, "input", isym, ival, 4);
    Onnx__ValueInfoProto *vout = value_info(&b, "probabilities", osym, oval, 4);

    /* metadata */
    meta(&b, "unetcl.format", "unetcl-onnx-1");
    meta(&b, "unetcl.model.in_channels", "%d", c->in_channels);
    meta(&b, "unetcl.model.classes", "%d", c->classes);
    meta(&b, "unetcl.model.depth", "%d", c->depth);
    meta(&b, "unetcl.model.base_channels", "%d", c->base_channels);
    meta(&b, "unetcl.model.upconv_relu", "%d", c->upconv_relu);
    meta(&b, "unetcl.tile.min", "%d", g.min_tile);
    meta(&b, "unetcl.tile.step", "%d", g.tile_step);
    meta(&b, "unetcl.halo", "%d", g.halo);
    if (tile > 0) meta(&b, "unetcl.tile.declared", "%d", tile);
    meta(&b, "unetcl.normalize", "%s", !norm.known ? "unknown" : norm.per_image ? "per_image" : "fixed");
    if (norm.known && !norm.per_image) {
        meta(&b, "unetcl.norm_mean", "%.9g", norm.mean);
        meta(&b, "unetcl.norm_std", "%.9g", norm.std);
    }
    meta(&b, "unetcl.scale", "%.9g", norm.resize);
    if (norm.resize != 1)
        meta(&b, "unetcl.resize",
             "the model was trained on images resized by %.9g ([data] scale): resize the input by %.9g (bilinear) before "
             "normalising, and the probabilities by %.9g back",
             norm.resize, norm.resize, 1 / norm.resize);
    if (!norm.known)
        meta(&b, "unetcl.input",
             "float32 [N, %d, H, W]; the model file has no training configuration, so the normalisation it was trained "
             "with is unknown (unetcl infer normalises each image and channel to zero mean and unit standard deviation); "
             "H, W = %d + %d k; output [N, %d, H - %d, W - %d] = softmax probabilities of the centre",
             c->in_channels, g.min_tile, g.tile_step, c->classes, 2 * g.halo, 2 * g.halo);
    else if (norm.per_image)
        meta(&b, "unetcl.input",
             "float32 [N, %d, H, W]: each image and channel normalised to zero mean and unit standard deviation, "
             "(x - mean(x)) / max(std(x), 1e-6), over the whole image (not the tile); H, W = %d + %d k; output "
             "[N, %d, H - %d, W - %d] = softmax probabilities of the centre",
             c->in_channels, g.min_tile, g.tile_step, c->classes, 2 * g.halo, 2 * g.halo);
    else
        meta(&b, "unetcl.input",
             "float32 [N, %d, H, W]: (x * s - %.9g) / %.9g with s = 1/255 for 8-bit, 1/65535 for 16-bit and 1 for "
             "float images; H, W = %d + %d k; output [N, %d, H - %d, W - %d] = softmax probabilities of the centre",
             c->in_channels, norm.mean, norm.std, g.min_tile, g.tile_step, c->classes, 2 * g.halo, 2 * g.halo);

    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    Onnx__ValueInfoProto *ins[1] = {vin}, *outs[1] = {vout};
    uint8_t *buf = NULL;
    if (b.a.failed || !vin || !vout) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "exporting %s: out of host memory building the ONNX graph", path);
        goto done;
    }
    graph.name = "unet";
    graph.doc_string = "U-Net (Ronneberger, Fischer & Brox 2015) exported by unetcl";
    graph.n_node = b.nnode;
    graph.node = b.node;
    graph.n_initializer = b.ninit;
    graph.initializer = b.init;
    graph.n_input = 1;
    graph.input = ins;
    graph.n_output = 1;
    graph.output = outs;
    opset.domain = "";
    opset.has_version = 1;
    opset.version = ONNX_OPSET;
    model.has_ir_version = 1;
    model.ir_version = ONNX_IR_VERSION;
    model.n_opset_import = 1;
    model.opset_import = opsets;
    model.producer_name = "unetcl";
    model.producer_version = (char *)unet_version();
    model.has_model_version = 1;
    model.model_version = 1;
    model.doc_string = "U-Net segmentation network: input 'input' (normalised image tiles), output 'probabilities' "
                       "(softmax over the classes, valid region only); see metadata_props";
    model.graph = &graph;
    model.n_metadata_props = b.nmeta;
    model.metadata_props = b.meta;
    size_t n = onnx__model_proto__get_packed_size(&model);
    buf = malloc(n ? n : 1);
    if (!buf) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "exporting %s: out of host memory for %zu bytes", path, n);
        goto done;
    }
    if (onnx__model_proto__pack(&model, buf) != n) {
        st = unet_seterr(UNET_ERR_INTERNAL, "exporting %s: protobuf-c packed another size than it computed", path);
        goto done;
    }
    st = unet_write_file_atomic(path, buf, n);
done:
    free(buf);
    free(p);
    arena_free(&b.a);
    return st;
}
