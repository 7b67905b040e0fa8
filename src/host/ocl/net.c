/* The U-Net graph: parameters, shapes, memory plan, forward and backward. */
#define _POSIX_C_SOURCE 200809L
#include "cpu_tune.h"
#include "gemm.h"
#include "net.h"
#include "clock.h"
#include "mix.h"

#include <math.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- model configuration and tile sizes --------------------------------- */

void unet_model_config_default(unet_model_config *c)
{
    c->in_channels = 1;
    c->classes = 2;
    c->depth = 5;
    c->base_channels = 64;
    c->dropout = 0.5f;
    c->upconv_relu = 1;
}

static unet_status check_config(const unet_model_config *c)
{
    if (c->in_channels < 1 || c->in_channels > 64)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "model.in_channels = %d: must be 1..64", c->in_channels);
    if (c->classes < 2 || c->classes > 256)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "model.classes = %d: must be 2..256", c->classes);
    if (c->depth < 2 || c->depth > UNET_MAX_DEPTH)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "model.depth = %d: must be 2..%d", c->depth, UNET_MAX_DEPTH);
    if (c->base_channels < 1 || ((long)c->base_channels << (c->depth - 1)) > 8192)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "model.base_channels = %d: must be >= 1 with base_channels*2^(depth-1) <= 8192",
                           c->base_channels);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "model.dropout = %g: must be in [0, 1)", c->dropout);
    return UNET_OK;
}

int unet_tile_output(const unet_model_config *c, int in)
{
    long s = in;
    for (int l = 0; l < c->depth - 1; l++) {
        s -= 4;
        if (s <= 0 || (s & 1)) return 0;
        s /= 2;
    }
    s -= 4;
    if (s <= 0) return 0;
    for (int l = 0; l < c->depth - 1; l++) s = 2 * s - 4;
    return s > 0 ? (int)s : 0;
}

int unet_tile_valid_below(const unet_model_config *c, int limit)
{
    for (int t = limit; t > 0; t--)
        if (unet_tile_output(c, t)) return t;
    return 0;
}

int unet_tile_for_output(const unet_model_config *c, int out)
{
    for (int t = 1; t < (1 << 20); t++) {
        int o = unet_tile_output(c, t);
        if (o && o >= out) return t;
    }
    return 0;
}

unet_status unet_tile_check(const unet_model_config *c, int in)
{
    if (unet_tile_output(c, in)) return UNET_OK;
    int lo = unet_tile_valid_below(c, in), hi = 0;
    for (int t = in + 1; t < in + (16 << c->depth) + 64; t++)
        if (unet_tile_output(c, t)) {
            hi = t;
            break;
        }
    if (lo)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "tile size %d is not valid for a depth-%d U-Net (every max-pool needs an even size); "
                           "nearest valid sizes: %d (output %d) and %d (output %d)",
                           in, c->depth, lo, unet_tile_output(c, lo), hi, unet_tile_output(c, hi));
    return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                       "tile size %d is too small for a depth-%d U-Net; the smallest valid size is %d (output %d)",
                       in, c->depth, hi, unet_tile_output(c, hi));
}

/* ---- parameters ------------------------------------------------------------ */

static int add_tensor(unet_model *m, const char *name, int ndim, int s0, int s1, int s2, int s3)
{
    unet_param_tensor *t = &m->t[m->nt];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = s0;
    t->shape[1] = s1;
    t->shape[2] = s2;
    t->shape[3] = s3;
    t->count = 1;
    for (int i = 0; i < ndim; i++) t->count *= (size_t)t->shape[i];
    t->off = m->nparams;
    m->nparams += t->count;
    return m->nt++;
}

static void layout_params(unet_model *m)
{
    const unet_model_config *c = &m->cfg;
    char n[48];
    int cin = c->in_channels;
    for (int l = 0; l < c->depth; l++) {
        int o = c->base_channels << l;
        m->channels[l] = o;
        for (int j = 0; j < 2; j++) {
            int ci = j == 0 ? cin : o;
            snprintf(n, sizeof n, "enc%d.conv%d.weight", l + 1, j + 1);
            m->enc[l][j].w = add_tensor(m, n, 4, o, ci, 3, 3);
            snprintf(n, sizeof n, "enc%d.conv%d.bias", l + 1, j + 1);
            m->enc[l][j].b = add_tensor(m, n, 1, o, 0, 0, 0);
        }
        cin = o;
    }
    for (int l = c->depth - 2; l >= 0; l--) {
        int o = m->channels[l];
        snprintf(n, sizeof n, "dec%d.up.weight", l + 1);
        m->up[l].w = add_tensor(m, n, 4, cin, o, 2, 2);
        snprintf(n, sizeof n, "dec%d.up.bias", l + 1);
        m->up[l].b = add_tensor(m, n, 1, o, 0, 0, 0);
        for (int j = 0; j < 2; j++) {
            int ci = j == 0 ? 2 * o : o;
            snprintf(n, sizeof n, "dec%d.conv%d.weight", l + 1, j + 1);
            m->dec[l][j].w = add_tensor(m, n, 4, o, ci, 3, 3);
            snprintf(n, sizeof n, "dec%d.conv%d.bias", l + 1, j + 1);
            m->dec[l][j].b = add_tensor(m, n, 1, o, 0, 0, 0);
        }
        cin = o;
    }
    m->out.w = add_tensor(m, "out.weight", 4, c->classes, cin, 1, 1);
    m->out.b = add_tensor(m, "out.bias", 1, c->classes, 0, 0, 0);
}

/* splitmix64 + Box-Muller: the same weights for the same seed everywhere. */
static double gauss(uint64_t *s)
{
    double u1 = ((double)(unet_splitmix64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(unet_splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void init_params(const unet_model *m, uint64_t seed, float *h)
{
    for (int i = 0; i < m->nt; i++) {
        const unet_param_tensor *t = &m->t[i];
        float *p = h + t->off;
        if (t->ndim == 1) {
            memset(p, 0, t->count * sizeof *p);
            continue;
        }
        /* fan-in: incoming connections of one output unit. Conv: cin*k*k;
         * up-convolution [cin][cout][2][2]: each output pixel sees one tap
         * of each input channel, so cin. */
        int is_up = strstr(t->name, ".up.") != NULL;
        double fan_in = is_up ? (double)t->shape[0] : (double)t->shape[1] * t->shape[2] * t->shape[3];
        double std = sqrt(2.0 / fan_in);
        uint64_t s = seed ^ (0xA0761D6478BD642FULL * (uint64_t)(i + 1));
        for (size_t k = 0; k < t->count; k++) p[k] = (float)(std * gauss(&s));
    }
}

unet_status unet_model_create(unet_context *ctx, const unet_model_config *cfg, uint64_t seed, unet_model **out)
{
    if (!ctx || !cfg || !out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_model_create: NULL argument");
    *out = NULL;
    UNET_TRY(check_config(cfg));
    unet_model *m = calloc(1, sizeof *m);
    if (!m) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->cfg = *cfg;
    layout_params(m);
    size_t bytes = m->nparams * sizeof(float);
    unet_status st;
    float *h = malloc(bytes);
    if (!h) {
        size_t np = m->nparams;
        free(m);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for %zu parameters", np);
    }
    init_params(m, seed, h);
    m->version = 1;
    /* gradients and momentum come with the first training use
     * (unet_model_training_buffers): a model used for inference only holds
     * its parameters alone (0.23 GiB less for the paper's network) */
    if ((st = unet_buffer_alloc(ctx, &m->params, bytes, "model parameters")) != UNET_OK ||
        (st = unet_buffer_write(ctx, m->params, 0, bytes, h)) != UNET_OK ||
        (st = unet_finish(ctx)) != UNET_OK) {
        free(h);
        unet_model_destroy(m);
        return st;
    }
    free(h);
    *out = m;
    return UNET_OK;
}

void unet_model_destroy(unet_model *m)
{
    if (!m) return;
    if (m->params) clReleaseMemObject(m->params);
    if (m->grads) clReleaseMemObject(m->grads);
    if (m->momentum) clReleaseMemObject(m->momentum);
    free(m);
}

size_t unet_model_param_count(const unet_model *m) { return m ? m->nparams : 0; }
const unet_model_config *unet_model_get_config(const unet_model *m) { return m ? &m->cfg : NULL; }
int unet_model_tensor_count(const unet_model *m) { return m ? m->nt : 0; }

unet_status unet_model_tensor_info(const unet_model *m, int i, const char **name, int shape[4], int *ndim,
                                   size_t *offset, size_t *count)
{
    if (!m || i < 0 || i >= m->nt)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "tensor index %d out of range", i);
    const unet_param_tensor *t = &m->t[i];
    if (name) *name = t->name;
    if (shape) memcpy(shape, t->shape, sizeof t->shape);
    if (ndim) *ndim = t->ndim;
    if (offset) *offset = t->off;
    if (count) *count = t->count;
    return UNET_OK;
}

unet_status unet_model_get_params(unet_model *m, float *h) { return unet_buffer_read(m->ctx, m->params, 0, m->nparams * 4, h); }
unet_status unet_model_set_params(unet_model *m, const float *h)
{
    m->version++;
    return unet_buffer_write(m->ctx, m->params, 0, m->nparams * 4, h);
}
unet_status unet_model_training_buffers(unet_model *m)
{
    if (m->grads && m->momentum) return UNET_OK;
    const size_t bytes = m->nparams * sizeof(float);
    cl_mem g = NULL, v = NULL;
    unet_status st;
    if ((st = unet_buffer_alloc(m->ctx, &g, bytes, "parameter gradients")) != UNET_OK ||
        (st = unet_buffer_alloc(m->ctx, &v, bytes, "momentum")) != UNET_OK ||
        (st = unet_buffer_fill(m->ctx, g, 0, m->nparams, 0.0f)) != UNET_OK ||
        (st = unet_buffer_fill(m->ctx, v, 0, m->nparams, 0.0f)) != UNET_OK) {
        if (g) clReleaseMemObject(g);
        if (v) clReleaseMemObject(v);
        return st;
    }
    m->grads = g;
    m->momentum = v;
    return UNET_OK;
}

unet_status unet_model_get_grads(unet_model *m, float *h)
{
    UNET_TRY(unet_model_training_buffers(m));
    return unet_buffer_read(m->ctx, m->grads, 0, m->nparams * 4, h);
}
unet_status unet_model_get_momentum(unet_model *m, float *h)
{
    UNET_TRY(unet_model_training_buffers(m));
    return unet_buffer_read(m->ctx, m->momentum, 0, m->nparams * 4, h);
}
unet_status unet_model_set_momentum(unet_model *m, const float *h)
{
    UNET_TRY(unet_model_training_buffers(m));
    return unet_buffer_write(m->ctx, m->momentum, 0, m->nparams * 4, h);
}

unet_status unet_model_sgd(unet_model *m, float lr, float momentum, float weight_decay)
{
    if (!m) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_model_sgd: NULL model");
    UNET_TRY(unet_model_training_buffers(m));
    unet_slice w = {m->params, 0}, g = {m->grads, 0}, v = {m->momentum, 0};
    m->version++;
    return unet_sgd_update(m->ctx, w, g, v, m->nparams, lr, momentum, weight_decay);
}

/* ---- shapes and plan ------------------------------------------------------- */

typedef struct shapes {
    int in_h, in_w;
    int eh[UNET_MAX_DEPTH][2], ew[UNET_MAX_DEPTH][2]; /* encoder conv outputs */
    int ph[UNET_MAX_DEPTH], pw[UNET_MAX_DEPTH];       /* pooled */
    int uh[UNET_MAX_DEPTH], uw[UNET_MAX_DEPTH];       /* up-conv outputs = concat */
    int dh[UNET_MAX_DEPTH][2], dw[UNET_MAX_DEPTH][2]; /* decoder conv outputs */
    int out_h, out_w;
} shapes;

static void compute_shapes(const unet_model_config *c, int in_h, int in_w, shapes *s)
{
    memset(s, 0, sizeof *s);
    s->in_h = in_h;
    s->in_w = in_w;
    int h = in_h, w = in_w;
    for (int l = 0; l < c->depth; l++) {
        s->eh[l][0] = h - 2;
        s->ew[l][0] = w - 2;
        s->eh[l][1] = h - 4;
        s->ew[l][1] = w - 4;
        h -= 4;
        w -= 4;
        if (l < c->depth - 1) {
            s->ph[l] = h / 2;
            s->pw[l] = w / 2;
            h /= 2;
            w /= 2;
        }
    }
    for (int l = c->depth - 2; l >= 0; l--) {
        s->uh[l] = 2 * h;
        s->uw[l] = 2 * w;
        s->dh[l][0] = 2 * h - 2;
        s->dw[l][0] = 2 * w - 2;
        s->dh[l][1] = 2 * h - 4;
        s->dw[l][1] = 2 * w - 4;
        h = 2 * h - 4;
        w = 2 * w - 4;
    }
    s->out_h = h;
    s->out_w = w;
}

typedef struct plan_acc {
    uint64_t act, grad, largest;
    char largest_name[72];
    size_t ws;
    size_t max_alloc;
    double flops;
    const unet_context *ctx;
    int training;
    uint64_t wcache;
    /* the layers' shapes, for CLBlast's temporaries once the workspace is known */
    struct { int cin, h, w, k, cout; } conv[64], up[16];
    int nconv, nup;
} plan_acc;

static void acc_buf(plan_acc *a, uint64_t bytes, const char *name, int is_grad)
{
    if (is_grad) a->grad += bytes;
    else a->act += bytes;
    if (bytes > a->largest) {
        a->largest = bytes;
        snprintf(a->largest_name, sizeof a->largest_name, "%s", name);
    }
}

static void acc_t(plan_acc *a, int training, const char *name, int c, int h, int w)
{
    uint64_t b = (uint64_t)c * h * w * 4;
    acc_buf(a, b, name, 0);
    if (training) {
        char g[72];
        snprintf(g, sizeof g, "d%s", name);
        acc_buf(a, b, g, 1);
    }
}

static void acc_conv(plan_acc *a, int cin, int h, int w, int cout, int k)
{
    /* inference: cached transformed weights (unet_conv_forward_cached) */
    if (!a->training && k == 3) a->wcache += (uint64_t)unet_conv_wcache_floats(a->ctx, cin, h, w, cout) * 4;
    size_t ws = unet_conv_workspace_floats(cin, h, w, k, a->max_alloc);
    if (a->nconv < (int)(sizeof a->conv / sizeof a->conv[0])) {
        a->conv[a->nconv].cin = cin, a->conv[a->nconv].h = h, a->conv[a->nconv].w = w;
        a->conv[a->nconv].k = k, a->conv[a->nconv].cout = cout;
        a->nconv++;
    }
    if (ws != (size_t)-1 && ws > a->ws) a->ws = ws;
    if (ws == (size_t)-1) a->ws = (size_t)-1;
    a->flops += 2.0 * cout * cin * k * k * (double)(h - k + 1) * (w - k + 1);
}

/* 1 when the up-convolution output can be a sub-buffer of the concatenation
 * at that byte offset (see net_alloc). */
static int view_ok(const unet_context *ctx, size_t off)
{
    cl_uint bits = 0;
    if (clGetDeviceInfo(ctx->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof bits, &bits, NULL) != CL_SUCCESS ||
        bits < 8)
        return 0;
    return off % (bits / 8) == 0;
}

/* Workspace buffers are capped so that im2col is chunked rather than huge.
 * CPU devices do the large layers by Winograd in chunks of 8 MiB (at least 4x
 * the transformed weights, at most 75 MiB for 1024 -> 512 channels) and only
 * the small deep layers by im2col: 192 MiB hold every layer of the paper's
 * network in full chunks (measured at equal speed, docs/notes/issue17-cpu.md). */
static size_t workspace_cap(const unet_context *ctx)
{
    uint64_t cap = ctx->info.max_alloc_bytes;
    const uint64_t lim = ctx->info.type == UNET_DEVICE_CPU ? 192ull << 20 : 512ull << 20;
    if (cap > lim) cap = lim;
    return (size_t)cap;
}


/* ---- buffer reuse by liveness --------------------------------------------------
 * Every activation and (training) gradient tensor, and the pooling argmax
 * maps, get a lifetime [first, last] in steps of the schedule below, which
 * follows unet_net_forward_device and unet_net_loss_backward_device launch by
 * launch (in-order queue). Tensors are then placed in a few arenas (each at
 * most the device's largest allocation) greedily, largest first, at the
 * lowest offset that overlaps no tensor alive at the same time; each tensor
 * is a sub-buffer of its arena. A tensor written at the step where another is
 * last read never shares memory with it (inclusive lifetimes), so an input and
 * an output of one launch are never aliased. The up-convolution output stays
 * a view of the second half of its concatenation (and its gradient of the
 * concatenation's gradient) where the device's sub-buffer alignment allows. */

#define LIVE_MAX 160

typedef struct live_buf {
    unet_tensor *t; /* NULL: a raw buffer (argmax) or planning only */
    cl_mem *raw;    /* argmax maps */
    int c, h, w;
    uint64_t bytes;
    int first, last;
    int parent;        /* >= 0: a view into that buffer at view_off bytes (not placed itself) */
    uint64_t view_off;
    int arena;
    uint64_t off;
    char name[40];
} live_buf;

typedef struct live_plan {
    live_buf b[LIVE_MAX];
    int n, t;
    uint64_t align, cap;
    uint64_t arena_bytes[UNET_MAX_ARENAS];
    int narena, overflow;
    uint64_t largest;
    char largest_name[40];
} live_plan;

static int lp_add(live_plan *p, unet_tensor *t, int c, int h, int w, uint64_t bytes, const char *name)
{
    if (p->n >= LIVE_MAX) {
        p->overflow = 1;
        return 0;
    }
    live_buf *b = &p->b[p->n];
    memset(b, 0, sizeof *b);
    b->t = t;
    b->c = c, b->h = h, b->w = w;
    b->bytes = bytes ? bytes : (uint64_t)c * h * w * 4;
    b->first = b->last = -1;
    b->parent = -1;
    snprintf(b->name, sizeof b->name, "%s", name);
    if (b->bytes > p->largest) {
        p->largest = b->bytes;
        snprintf(p->largest_name, sizeof p->largest_name, "%s", name);
    }
    return p->n++;
}

/* buffer i is read or written at the current step */
static void lp_use(live_plan *p, int i)
{
    live_buf *b = &p->b[i];
    if (b->parent >= 0) b = &p->b[b->parent];
    if (b->first < 0) b->first = p->t;
    b->last = p->t;
}

static int lp_view(live_plan *p, int parent, unet_tensor *t, int c, int h, int w, uint64_t off, const char *name)
{
    int i = lp_add(p, t, c, h, w, 0, name);
    p->b[i].parent = parent;
    p->b[i].view_off = off;
    return i;
}

/* The schedule: one step per launch group, as the forward and backward run. */
static void live_schedule(const unet_model *m, const shapes *s, int training, int upview, unet_net *n, live_plan *p)
{
    const unet_model_config *c = &m->cfg;
    const int D = c->depth;
#define T(field) (n ? &n->field : NULL)
    char nm[40];
    int enc[UNET_MAX_DEPTH][2], pool[UNET_MAX_DEPTH], am[UNET_MAX_DEPTH], cat[UNET_MAX_DEPTH], up[UNET_MAX_DEPTH],
        dec[UNET_MAX_DEPTH][2];
    p->t = 0;
    const int in = lp_add(p, T(input), c->in_channels, s->in_h, s->in_w, 0, "input tile");
    lp_use(p, in);
    int x = in;
    for (int l = 0; l < D; l++) {
        const int o = m->channels[l];
        for (int j = 0; j < 2; j++) {
            p->t++;
            snprintf(nm, sizeof nm, "enc%d.conv%d output", l + 1, j + 1);
            enc[l][j] = lp_add(p, T(enc[l][j]), o, s->eh[l][j], s->ew[l][j], 0, nm);
            lp_use(p, x);
            lp_use(p, enc[l][j]);
            x = enc[l][j];
        }
        if (l < D - 1) {
            p->t++;
            snprintf(nm, sizeof nm, "enc%d.pool output", l + 1);
            pool[l] = lp_add(p, T(pool[l]), o, s->ph[l], s->pw[l], 0, nm);
            lp_use(p, x);
            lp_use(p, pool[l]);
            if (training) {
                am[l] = lp_add(p, NULL, 0, 0, 0, (uint64_t)o * s->ph[l] * s->pw[l], "pooling argmax");
                if (n) p->b[am[l]].raw = &n->argmax[l];
                lp_use(p, am[l]);
            }
            x = pool[l];
        }
    }
    for (int l = D - 2; l >= 0; l--) {
        const int o = m->channels[l];
        const uint64_t half = (uint64_t)o * s->uh[l] * s->uw[l] * 4;
        p->t++; /* up-convolution (into the concatenation's second half) */
        snprintf(nm, sizeof nm, "dec%d.concat output", l + 1);
        cat[l] = lp_add(p, T(cat[l]), 2 * o, s->uh[l], s->uw[l], 0, nm);
        snprintf(nm, sizeof nm, "dec%d.up output", l + 1);
        up[l] = upview ? lp_view(p, cat[l], T(up[l]), o, s->uh[l], s->uw[l], half, nm)
                       : lp_add(p, T(up[l]), o, s->uh[l], s->uw[l], 0, nm);
        lp_use(p, x);
        lp_use(p, up[l]);
        p->t++; /* crop and concatenate */
        lp_use(p, enc[l][1]);
        lp_use(p, up[l]);
        lp_use(p, cat[l]);
        x = cat[l];
        for (int j = 0; j < 2; j++) {
            p->t++;
            snprintf(nm, sizeof nm, "dec%d.conv%d output", l + 1, j + 1);
            dec[l][j] = lp_add(p, T(dec[l][j]), o, s->dh[l][j], s->dw[l][j], 0, nm);
            lp_use(p, x);
            lp_use(p, dec[l][j]);
            x = dec[l][j];
        }
    }
    p->t++;
    const int logits = lp_add(p, T(logits), c->classes, s->out_h, s->out_w, 0, "logits");
    lp_use(p, x);
    lp_use(p, logits);
    p->t++; /* loss (training) or softmax */
    const int probs = lp_add(p, T(probs), c->classes, s->out_h, s->out_w, 0, "probabilities");
    lp_use(p, logits);
    lp_use(p, probs);
    if (training) {
        int denc[UNET_MAX_DEPTH][2], dpool[UNET_MAX_DEPTH], dcat[UNET_MAX_DEPTH], dup[UNET_MAX_DEPTH],
            ddec[UNET_MAX_DEPTH][2];
        const int dlogits = lp_add(p, T(dlogits), c->classes, s->out_h, s->out_w, 0, "logit gradient");
        lp_use(p, dlogits);
        for (int l = 0; l < D; l++) {
            const int o = m->channels[l];
            for (int j = 0; j < 2; j++) {
                snprintf(nm, sizeof nm, "enc%d.conv%d gradient", l + 1, j + 1);
                denc[l][j] = lp_add(p, T(denc[l][j]), o, s->eh[l][j], s->ew[l][j], 0, nm);
            }
            if (l < D - 1) {
                snprintf(nm, sizeof nm, "enc%d.pool gradient", l + 1);
                dpool[l] = lp_add(p, T(dpool[l]), o, s->ph[l], s->pw[l], 0, nm);
            }
        }
        for (int l = 0; l <= D - 2; l++) {
            const int o = m->channels[l];
            snprintf(nm, sizeof nm, "dec%d.concat gradient", l + 1);
            dcat[l] = lp_add(p, T(dcat[l]), 2 * o, s->uh[l], s->uw[l], 0, nm);
            snprintf(nm, sizeof nm, "dec%d.up gradient", l + 1);
            dup[l] = upview ? lp_view(p, dcat[l], T(dup[l]), o, s->uh[l], s->uw[l],
                                      (uint64_t)o * s->uh[l] * s->uw[l] * 4, nm)
                            : lp_add(p, T(dup[l]), o, s->uh[l], s->uw[l], 0, nm);
            for (int j = 0; j < 2; j++) {
                snprintf(nm, sizeof nm, "dec%d.conv%d gradient", l + 1, j + 1);
                ddec[l][j] = lp_add(p, T(ddec[l][j]), o, s->dh[l][j], s->dw[l][j], 0, nm);
            }
        }
        p->t++; /* bwd out.conv */
        lp_use(p, dec[0][1]);
        lp_use(p, logits);
        lp_use(p, dlogits);
        lp_use(p, ddec[0][1]);
        for (int l = 0; l <= D - 2; l++) {
            p->t++; /* bwd decL.conv2 */
            lp_use(p, dec[l][0]);
            lp_use(p, dec[l][1]);
            lp_use(p, ddec[l][1]);
            lp_use(p, ddec[l][0]);
            p->t++; /* bwd decL.conv1 */
            lp_use(p, cat[l]);
            lp_use(p, dec[l][0]);
            lp_use(p, ddec[l][0]);
            lp_use(p, dcat[l]);
            p->t++; /* bwd decL.concat */
            lp_use(p, dcat[l]);
            lp_use(p, denc[l][1]);
            lp_use(p, dup[l]);
            p->t++; /* bwd decL.up */
            const int uin = l == D - 2 ? enc[D - 1][1] : dec[l + 1][1];
            const int duin = l == D - 2 ? denc[D - 1][1] : ddec[l + 1][1];
            lp_use(p, uin);
            lp_use(p, up[l]);
            lp_use(p, dup[l]);
            lp_use(p, duin);
        }
        for (int l = D - 1; l >= 0; l--) {
            p->t++; /* bwd encL.pool (or drop-out) */
            lp_use(p, denc[l][1]);
            if (l < D - 1) {
                lp_use(p, dpool[l]);
                lp_use(p, am[l]);
            }
            p->t++; /* bwd encL.conv2 */
            lp_use(p, enc[l][0]);
            lp_use(p, enc[l][1]);
            lp_use(p, denc[l][1]);
            lp_use(p, denc[l][0]);
            p->t++; /* bwd encL.conv1 */
            lp_use(p, l == 0 ? in : pool[l - 1]);
            lp_use(p, enc[l][0]);
            lp_use(p, denc[l][0]);
            if (l > 0) lp_use(p, dpool[l - 1]);
        }
    }
    p->t++; /* downloads: logits and probabilities are read after the pass */
    lp_use(p, logits);
    lp_use(p, probs);
#undef T
}

static int live_overlap(const live_buf *a, const live_buf *b) { return a->first <= b->last && b->first <= a->last; }

/* Greedy placement, largest first, lowest fitting offset. */
static void live_place(live_plan *p)
{
    int order[LIVE_MAX], k = 0;
    for (int i = 0; i < p->n; i++)
        if (p->b[i].parent < 0) order[k++] = i;
    for (int i = 1; i < k; i++) /* insertion sort by size, descending (stable) */
        for (int j = i; j > 0 && p->b[order[j]].bytes > p->b[order[j - 1]].bytes; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    int placed[LIVE_MAX], np = 0;
    p->narena = 0;
    memset(p->arena_bytes, 0, sizeof p->arena_bytes);
    for (int q = 0; q < k; q++) {
        live_buf *b = &p->b[order[q]];
        const uint64_t size = (b->bytes + p->align - 1) / p->align * p->align;
        b->arena = -1;
        for (int a = 0; a < UNET_MAX_ARENAS && b->arena < 0; a++) {
            /* candidate offsets: 0 and the (aligned) ends of tensors alive with b in arena a */
            uint64_t off = 0;
            for (;;) {
                uint64_t next = off;
                int clash = 0;
                for (int r = 0; r < np; r++) {
                    const live_buf *o = &p->b[placed[r]];
                    if (o->arena != a || !live_overlap(o, b)) continue;
                    const uint64_t oend = o->off + (o->bytes + p->align - 1) / p->align * p->align;
                    if (o->off < off + size && off < oend) {
                        clash = 1;
                        if (oend > next) next = oend;
                    }
                }
                if (!clash) break;
                off = next;
            }
            if (off + size <= p->cap) {
                b->arena = a;
                b->off = off;
                if (off + size > p->arena_bytes[a]) p->arena_bytes[a] = off + size;
                if (a + 1 > p->narena) p->narena = a + 1;
            }
        }
        if (b->arena < 0) p->overflow = 1;
        placed[np++] = order[q];
    }
}

static uint64_t live_align(const unet_context *ctx)
{
    cl_uint bits = 0;
    uint64_t a = 4096;
    if (clGetDeviceInfo(ctx->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof bits, &bits, NULL) == CL_SUCCESS &&
        bits / 8 > a)
        a = bits / 8;
    return a;
}

/* Plans the arenas of a tile (n NULL: sizes only). */
static void live_plan_make(const unet_model *m, const shapes *s, int training, unet_net *n, live_plan *p)
{
    memset(p, 0, sizeof *p);
    const unet_context *ctx = m->ctx;
    p->align = live_align(ctx);
    p->cap = ctx->info.max_alloc_bytes ? ctx->info.max_alloc_bytes : ((uint64_t)1 << 31);
    int upview = 1;
    for (int l = 0; l <= m->cfg.depth - 2; l++)
        upview &= view_ok(ctx, (size_t)m->channels[l] * s->uh[l] * s->uw[l] * 4);
    live_schedule(m, s, training, upview, n, p);
    live_place(p);
}

static uint64_t live_total(const live_plan *p)
{
    uint64_t t = 0;
    for (int a = 0; a < p->narena; a++) t += p->arena_bytes[a];
    return t;
}

static unet_status plan_core(const unet_model *m, int in_h, int in_w, int training, unet_plan_info *info,
                             int report)
{
    const unet_model_config *c = &m->cfg;
    const unet_context *ctx = m->ctx;
    if (report) {
        UNET_TRY(unet_tile_check(c, in_h));
        UNET_TRY(unet_tile_check(c, in_w));
    } else if (!unet_tile_output(c, in_h) || !unet_tile_output(c, in_w)) {
        return UNET_ERR_INVALID_ARGUMENT;
    }
    shapes s;
    compute_shapes(c, in_h, in_w, &s);
    plan_acc a;
    memset(&a, 0, sizeof a);
    a.max_alloc = workspace_cap(ctx);
    a.ctx = ctx;
    a.training = training;
    char n[64];
    acc_buf(&a, (uint64_t)c->in_channels * in_h * in_w * 4, "input", 0);
    int cin = c->in_channels, h = in_h, w = in_w;
    for (int l = 0; l < c->depth; l++) {
        int o = m->channels[l];
        for (int j = 0; j < 2; j++) {
            snprintf(n, sizeof n, "enc%d.conv%d", l + 1, j + 1);
            acc_conv(&a, j ? o : cin, j ? s.eh[l][0] : h, j ? s.ew[l][0] : w, o, 3);
            acc_t(&a, training, n, o, s.eh[l][j], s.ew[l][j]);
        }
        if (l < c->depth - 1) {
            snprintf(n, sizeof n, "enc%d.pool", l + 1);
            acc_t(&a, training, n, o, s.ph[l], s.pw[l]);
            if (training) acc_buf(&a, (uint64_t)o * s.ph[l] * s.pw[l], "argmax", 0);
            h = s.ph[l];
            w = s.pw[l];
        }
        cin = o;
    }
    int ih = s.eh[c->depth - 1][1], iw = s.ew[c->depth - 1][1];
    for (int l = c->depth - 2; l >= 0; l--) {
        int o = m->channels[l];
        snprintf(n, sizeof n, "dec%d.up", l + 1);
        if (!view_ok(ctx, (size_t)o * s.uh[l] * s.uw[l] * 4)) acc_t(&a, training, n, o, s.uh[l], s.uw[l]);
        size_t uws = unet_upconv_workspace_floats(o, ih, iw);
        if (a.nup < (int)(sizeof a.up / sizeof a.up[0])) {
            a.up[a.nup].cin = cin, a.up[a.nup].h = ih, a.up[a.nup].w = iw, a.up[a.nup].cout = o;
            a.nup++;
        }
        if (a.ws != (size_t)-1 && uws > a.ws) a.ws = uws;
        a.flops += 2.0 * cin * o * 4 * (double)ih * iw;
        snprintf(n, sizeof n, "dec%d.concat", l + 1);
        acc_t(&a, training, n, 2 * o, s.uh[l], s.uw[l]);
        for (int j = 0; j < 2; j++) {
            snprintf(n, sizeof n, "dec%d.conv%d", l + 1, j + 1);
            acc_conv(&a, j ? o : 2 * o, j ? s.dh[l][0] : s.uh[l], j ? s.dw[l][0] : s.uw[l], o, 3);
            acc_t(&a, training, n, o, s.dh[l][j], s.dw[l][j]);
        }
        ih = s.dh[l][1];
        iw = s.dw[l][1];
        cin = o;
    }
    acc_conv(&a, cin, s.out_h, s.out_w, c->classes, 1);
    acc_t(&a, training, "logits", c->classes, s.out_h, s.out_w);
    acc_buf(&a, (uint64_t)c->classes * s.out_h * s.out_w * 4, "probs", 0);
    uint64_t px = (uint64_t)s.out_h * s.out_w;
    acc_buf(&a, px * 4 * 2 + (uint64_t)unet_xent_workspace_floats(px) * 4, "labels+weights", 0);

    live_plan *lp = malloc(sizeof *lp);
    if (!lp) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory planning a tile");
    live_plan_make(m, &s, training, NULL, lp);
    const uint64_t arenas = live_total(lp);
    const int overflow = lp->overflow;
    free(lp);

    memset(info, 0, sizeof *info);
    info->in_h = in_h;
    info->in_w = in_w;
    info->out_h = s.out_h;
    info->out_w = s.out_w;
    info->training = training;
    /* labels, weights and the loss workspace: own buffers, outside the arenas */
    const uint64_t loss_bytes = px * 4 * 2 + (uint64_t)unet_xent_workspace_floats(px) * 4;
    info->unshared_bytes = a.act + a.grad;
    info->activation_bytes = arenas + loss_bytes;
    info->gradient_bytes = 0;
    /* parameters, and gradients + momentum for training (or when the model
     * already holds them from an earlier training use) */
    info->parameter_bytes = (uint64_t)m->nparams * 4 * ((training || m->grads) ? 3 : 1) + a.wcache;
    info->workspace_bytes = a.ws == (size_t)-1 ? 0 : (uint64_t)a.ws * 4;
    /* the CPU GEMM's pack buffers (kept by the context, grown on demand): at
     * most for the largest M (9 cin of an im2col input gradient, 4 cout of an
     * up-convolution) */
    unet_gemm_path gp = UNET_GEMM_CLBLAST;
    if (unet_gemm_path_of(ctx, &gp) == UNET_OK && gp == UNET_GEMM_CPU) {
        size_t mmax = 0;
        for (int l = 0; l < c->depth; l++) {
            const size_t o = (size_t)m->channels[l];
            if (9 * 2 * o > mmax) mmax = 9 * 2 * o;
            if (4 * o > mmax) mmax = 4 * o;
        }
        info->gemm_pack_bytes = unet_gemm_cpu_pack_bound(ctx, mmax, (size_t)1 << 30);
    }
    /* CLBlast's temporaries (GPU path): the largest one GEMM of the plan
     * needs; one buffer of that size is kept by the context and handed to
     * CLBlast (gemm.c), so CLBlast allocates none of its own */
    if (a.ws != (size_t)-1) {
        uint64_t t = 0;
        for (int i = 0; i < a.nconv; i++) {
            const size_t b = unet_conv_blas_temp_bytes(ctx, a.conv[i].cin, a.conv[i].h, a.conv[i].w, a.conv[i].k,
                                                       a.conv[i].cout, a.ws, training);
            if (b > t) t = b;
        }
        for (int i = 0; i < a.nup; i++) {
            const size_t b = unet_upconv_blas_temp_bytes(ctx, a.up[i].cin, a.up[i].h, a.up[i].w, a.up[i].cout, training);
            if (b > t) t = b;
        }
        info->blas_temp_bytes = t;
    }
    info->total_bytes = info->activation_bytes + info->parameter_bytes + info->workspace_bytes +
                        info->gemm_pack_bytes + info->blas_temp_bytes;
    info->largest_buffer_bytes = a.largest;
    snprintf(info->largest_buffer, sizeof info->largest_buffer, "%s", a.largest_name);
    info->forward_flops = a.flops;

    int too_big = a.largest > ctx->info.max_alloc_bytes || a.ws == (size_t)-1 || overflow;
    int too_much = info->total_bytes > ctx->info.global_mem_bytes;
    if (!too_big && !too_much) return UNET_OK;
    if (!report) return UNET_ERR_DOES_NOT_FIT;
    /* find the largest valid square tile that fits, to say what to change */
    int best = 0;
    for (int t = (in_h > in_w ? in_h : in_w) - 1; t > 0; t--) {
        if (!unet_tile_output(c, t)) continue;
        unet_plan_info tmp;
        if (plan_core(m, t, t, training, &tmp, 0) == UNET_OK) {
            best = t;
            break;
        }
    }
    char b1[32], b2[32], b3[32], b4[32];
    char hint[160];
    if (best)
        snprintf(hint, sizeof hint, "use a tile of at most %d (output %d)", best, unet_tile_output(c, best));
    else
        snprintf(hint, sizeof hint, "no tile size fits this model on this device: use fewer base channels or another device");
    if (too_big)
        return unet_seterr(UNET_ERR_DOES_NOT_FIT,
                           "a %dx%d %s tile does not fit on %s: buffer %s needs %s in one allocation but the "
                           "device allows at most %s per buffer (CL_DEVICE_MAX_MEM_ALLOC_SIZE); %s",
                           in_h, in_w, training ? "training" : "inference", ctx->info.name, a.largest_name,
                           unet_format_bytes((double)a.largest, b1, sizeof b1),
                           unet_format_bytes((double)ctx->info.max_alloc_bytes, b2, sizeof b2), hint);
    char b5[32], b6[32];
    return unet_seterr(UNET_ERR_DOES_NOT_FIT,
                       "a %dx%d %s tile needs %s of device memory (activations%s %s, of %s without reuse, "
                       "parameters+momentum %s, workspace %s) but %s has %s; %s",
                       in_h, in_w, training ? "training" : "inference",
                       unet_format_bytes((double)info->total_bytes, b1, sizeof b1),
                       training ? " and gradients" : "",
                       unet_format_bytes((double)info->activation_bytes, b2, sizeof b2),
                       unet_format_bytes((double)info->unshared_bytes, b3, sizeof b3),
                       unet_format_bytes((double)info->parameter_bytes, b4, sizeof b4),
                       unet_format_bytes((double)info->workspace_bytes, b5, sizeof b5), ctx->info.name,
                       unet_format_bytes((double)ctx->info.global_mem_bytes, b6, sizeof b6), hint);
}

unet_status unet_plan(const unet_model *m, int in_h, int in_w, int training, unet_plan_info *info)
{
    if (!m || !info) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_plan: NULL argument");
    return plan_core(m, in_h, in_w, training, info, 1);
}
/* ---- allocation ------------------------------------------------------------ */

void unet_net_destroy(unet_net *n)
{
    if (!n) return;
    int D = UNET_MAX_DEPTH;
    unet_tensor_free(&n->input);
    for (int l = 0; l < D; l++) {
        for (int j = 0; j < 2; j++) {
            unet_tensor_free(&n->enc[l][j]);
            unet_tensor_free(&n->dec[l][j]);
            unet_tensor_free(&n->denc[l][j]);
            unet_tensor_free(&n->ddec[l][j]);
        }
        for (int j = 0; j < 2; j++) {
            unet_conv_wcache_release(&n->wenc[l][j]);
            unet_conv_wcache_release(&n->wdec[l][j]);
        }
        unet_tensor_free(&n->pool[l]);
        unet_tensor_free(&n->dpool[l]);
        unet_tensor_free(&n->up[l]);
        unet_tensor_free(&n->dup[l]);
        unet_tensor_free(&n->cat[l]);
        unet_tensor_free(&n->dcat[l]);
        if (n->argmax[l]) clReleaseMemObject(n->argmax[l]);
    }
    unet_tensor_free(&n->logits);
    unet_tensor_free(&n->dlogits);
    unet_tensor_free(&n->probs);
    if (n->ws) clReleaseMemObject(n->ws);
    if (n->labels) clReleaseMemObject(n->labels);
    if (n->weights) clReleaseMemObject(n->weights);
    if (n->xent_ws) clReleaseMemObject(n->xent_ws);
    /* after the sub-buffers above */
    for (int a = 0; a < n->narena; a++)
        if (n->arena[a]) clReleaseMemObject(n->arena[a]);
    free(n);
}

static unet_status net_alloc(unet_net *n)
{
    unet_model *m = n->m;
    unet_context *ctx = m->ctx;
    const unet_model_config *c = &m->cfg;
    shapes s;
    compute_shapes(c, n->info.in_h, n->info.in_w, &s);
    live_plan *p = malloc(sizeof *p);
    if (!p) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory planning a tile");
    live_plan_make(m, &s, n->training, n, p);
    unet_status st = UNET_OK;
    if (p->overflow)
        st = unet_seterr(UNET_ERR_DOES_NOT_FIT, "the tile's tensors do not fit in %d buffers of at most %llu bytes",
                         UNET_MAX_ARENAS, (unsigned long long)p->cap);
    for (int a = 0; a < p->narena && st == UNET_OK; a++) {
        st = unet_buffer_alloc(ctx, &n->arena[a], p->arena_bytes[a], "activation arena");
        if (st == UNET_OK) n->narena = a + 1;
    }
    /* the placed tensors first, then the views into them */
    for (int pass = 0; pass < 2 && st == UNET_OK; pass++)
        for (int i = 0; i < p->n && st == UNET_OK; i++) {
            const live_buf *b = &p->b[i];
            if ((b->parent >= 0) != pass) continue;
            const live_buf *home = b->parent >= 0 ? &p->b[b->parent] : b;
            if (home->first < 0) continue; /* not used by this plan */
            const uint64_t off = home->off + (b->parent >= 0 ? b->view_off : 0);
            cl_mem arena = n->arena[home->arena];
            if (b->raw) {
                cl_buffer_region reg = {(size_t)off, (size_t)b->bytes};
                cl_int err;
                *b->raw = clCreateSubBuffer(arena, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &reg, &err);
                if (err != CL_SUCCESS) {
                    *b->raw = NULL;
                    st = unet_buffer_alloc(ctx, b->raw, (size_t)b->bytes, b->name);
                }
                continue;
            }
            if (!b->t) continue;
            st = unet_tensor_view(ctx, arena, (size_t)(off / 4), b->t, b->c, b->h, b->w, b->name);
            /* a device that refuses the sub-buffer: the tensor's own buffer */
            if (st == UNET_OK && !b->t->mem) st = unet_tensor_alloc(ctx, b->t, b->c, b->h, b->w, b->name);
        }
    free(p);
    UNET_TRY(st);
    n->ws_floats = (size_t)(n->info.workspace_bytes / 4);
    UNET_TRY(unet_buffer_alloc(ctx, &n->ws, n->ws_floats * 4, "convolution workspace"));
    /* CLBlast's temporary buffer (kept by the context, shared by its networks) */
    if (n->info.blas_temp_bytes) UNET_TRY(unet_gemm_blas_temp_reserve(ctx, (size_t)n->info.blas_temp_bytes));
    size_t px = (size_t)s.out_h * s.out_w;
    UNET_TRY(unet_buffer_alloc(ctx, &n->labels, px * 4, "labels"));
    UNET_TRY(unet_buffer_alloc(ctx, &n->weights, px * 4, "weight map"));
    UNET_TRY(unet_buffer_alloc(ctx, &n->xent_ws, unet_xent_workspace_floats(px) * 4, "loss workspace"));
    return UNET_OK;
}

static int mem_range(cl_mem m, cl_mem *root, size_t *off, size_t *size)
{
    *root = NULL;
    *off = 0;
    if (!m || clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof *size, size, NULL) != CL_SUCCESS) return -1;
    if (clGetMemObjectInfo(m, CL_MEM_ASSOCIATED_MEMOBJECT, sizeof *root, root, NULL) != CL_SUCCESS) return -1;
    if (!*root) *root = m;
    else if (clGetMemObjectInfo(m, CL_MEM_OFFSET, sizeof *off, off, NULL) != CL_SUCCESS) return -1;
    return 0;
}

int unet_net_alias_check(unet_net *n, int *pairs, char *why, size_t whyn)
{
    shapes s;
    compute_shapes(&n->m->cfg, n->info.in_h, n->info.in_w, &s);
    live_plan *p = malloc(sizeof *p);
    if (!p) return -1;
    live_plan_make(n->m, &s, n->training, n, p);
    int bad = 0, checked = 0;
    for (int i = 0; i < p->n && !bad; i++)
        for (int j = i + 1; j < p->n && !bad; j++) {
            const live_buf *a = &p->b[i], *b = &p->b[j];
            const live_buf *ha = a->parent >= 0 ? &p->b[a->parent] : a, *hb = b->parent >= 0 ? &p->b[b->parent] : b;
            if (ha == hb || !live_overlap(ha, hb)) continue; /* a view inside its own concatenation */
            cl_mem ma = a->raw ? *a->raw : a->t ? a->t->mem : NULL, mb = b->raw ? *b->raw : b->t ? b->t->mem : NULL;
            cl_mem ra, rb;
            size_t oa, sa, ob, sb;
            if (mem_range(ma, &ra, &oa, &sa) || mem_range(mb, &rb, &ob, &sb)) continue;
            checked++;
            if (ra == rb && oa < ob + sb && ob < oa + sa) {
                snprintf(why, whyn, "%s [steps %d-%d] and %s [steps %d-%d] share bytes", a->name, ha->first, ha->last,
                         b->name, hb->first, hb->last);
                bad = 1;
            }
        }
    free(p);
    if (pairs) *pairs = checked;
    return bad;
}

unet_status unet_net_create(unet_model *m, int in_h, int in_w, int training, unet_net **out)
{
    if (!m || !out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_net_create: NULL argument");
    *out = NULL;
    unet_net *n = calloc(1, sizeof *n);
    if (!n) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
    n->m = m;
    n->training = training ? 1 : 0;
    /* CPU devices without tuned kernel parameters: the bounded first-use search */
    unet_cpu_tune_first_use(m->ctx);
    unet_status st = unet_plan(m, in_h, in_w, n->training, &n->info);
    if (st == UNET_OK && n->training) st = unet_model_training_buffers(m);
    if (st == UNET_OK) st = net_alloc(n);
    if (st != UNET_OK) {
        unet_net_destroy(n);
        return st;
    }
    *out = n;
    return UNET_OK;
}

const unet_plan_info *unet_net_info(const unet_net *n) { return n ? &n->info : NULL; }

/* ---- forward ---------------------------------------------------------------- */

static void prof_add(unet_net *n, const char *name, double s, double dev)
{
    int i = 0;
    for (; i < n->nprof; i++)
        if (!strcmp(n->prof_name[i], name)) break;
    if (i == n->nprof) {
        if (n->nprof >= 64) return;
        snprintf(n->prof_name[i], sizeof n->prof_name[i], "%s", name);
        n->prof_seconds[i] = 0;
        n->prof_device[i] = 0;
        n->prof_calls[i] = 0;
        n->nprof++;
    }
    n->prof_seconds[i] += s;
    n->prof_device[i] = (n->prof_device[i] < 0 || dev < 0) ? -1.0 : n->prof_device[i] + dev;
    n->prof_calls[i]++;
}

/* Runs one layer; with profiling on, waits for it and records its wall time
 * and the execution time of its commands (OpenCL profiling events, when the
 * context's queue has profiling). */
#define LAYER(n, name, call)                                                          \
    do {                                                                               \
        unet_context *c_ = (n)->m->ctx;                                                \
        double t0_ = 0;                                                                \
        if ((n)->profile) {                                                            \
            UNET_TRY(unet_finish(c_));                                                 \
            (void)unet_events_take(c_);                                                \
            c_->ev_collect = c_->profiling;                                            \
            t0_ = unet_now_s();                                                            \
        }                                                                              \
        unet_status st_ = (call);                                                      \
        if ((n)->profile) {                                                            \
            c_->ev_collect = 0;                                                        \
            if (st_ == UNET_OK) st_ = unet_finish(c_);                                 \
            const double w_ = unet_now_s() - t0_, d_ = unet_events_take(c_);              \
            if (st_ == UNET_OK) prof_add((n), (name), w_, d_);                         \
        }                                                                              \
        UNET_TRY(st_);                                                                 \
    } while (0)

void unet_net_set_profiling(unet_net *n, int on)
{
    if (!n) return;
    n->profile = on ? 1 : 0;
    n->nprof = 0;
}

double unet_net_profile_device(const unet_net *n, int i)
{
    if (!n || i < 0 || i >= n->nprof) return -1.0;
    return n->prof_device[i];
}

int unet_net_profile(const unet_net *n, int i, const char **name, double *seconds, int *calls)
{
    if (!n || i < 0 || i >= n->nprof) return 0;
    if (name) *name = n->prof_name[i];
    if (seconds) *seconds = n->prof_seconds[i];
    if (calls) *calls = n->prof_calls[i];
    return 1;
}

unet_status unet_net_forward_device(unet_net *n, int train_mode, uint64_t seed)
{
    unet_model *m = n->m;
    unet_context *ctx = m->ctx;
    const unet_model_config *c = &m->cfg;
    const unet_tensor *x = &n->input;
    char nm[24];
    for (int l = 0; l < c->depth; l++) {
        for (int j = 0; j < 2; j++) {
            snprintf(nm, sizeof nm, "enc%d.conv%d", l + 1, j + 1);
            LAYER(n, nm, unet_conv_forward_cached(ctx, x, unet_pslice(m, m->enc[l][j].w), unet_pslice(m, m->enc[l][j].b),
                                                  3, 1, &n->enc[l][j], n->ws, n->ws_floats,
                                                  n->training ? NULL : &n->wenc[l][j], m->version));
            x = &n->enc[l][j];
        }
        if (l < c->depth - 1) {
            snprintf(nm, sizeof nm, "enc%d.pool", l + 1);
            LAYER(n, nm, unet_maxpool_forward(ctx, x, &n->pool[l], n->argmax[l]));
            x = &n->pool[l];
        }
    }
    if (train_mode && c->dropout > 0.0f)
        UNET_TRY(unet_dropout_forward(ctx, &n->enc[c->depth - 1][1], c->dropout, seed));
    for (int l = c->depth - 2; l >= 0; l--) {
        snprintf(nm, sizeof nm, "dec%d.up", l + 1);
        LAYER(n, nm, unet_upconv_forward(ctx, x, unet_pslice(m, m->up[l].w), unet_pslice(m, m->up[l].b), c->upconv_relu,
                                     &n->up[l], n->ws, n->ws_floats));
        snprintf(nm, sizeof nm, "dec%d.concat", l + 1);
        LAYER(n, nm, unet_crop_concat_forward(ctx, &n->enc[l][1], &n->up[l], &n->cat[l]));
        x = &n->cat[l];
        for (int j = 0; j < 2; j++) {
            snprintf(nm, sizeof nm, "dec%d.conv%d", l + 1, j + 1);
            LAYER(n, nm, unet_conv_forward_cached(ctx, x, unet_pslice(m, m->dec[l][j].w), unet_pslice(m, m->dec[l][j].b),
                                                  3, 1, &n->dec[l][j], n->ws, n->ws_floats,
                                                  n->training ? NULL : &n->wdec[l][j], m->version));
            x = &n->dec[l][j];
        }
    }
    LAYER(n, "out.conv", unet_conv_forward(ctx, x, unet_pslice(m, m->out.w), unet_pslice(m, m->out.b), 1, 0, &n->logits, n->ws,
                               n->ws_floats));
    return UNET_OK;
}

static unet_status upload_input(unet_net *n, const float *input)
{
    if (!input) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "NULL input tile");
    return unet_tensor_upload(n->m->ctx, &n->input, input);
}

unet_status unet_net_forward(unet_net *n, const float *input, int train_mode, uint64_t seed, float *probs,
                             float *logits)
{
    if (!n) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_net_forward: NULL net");
    UNET_TRY(upload_input(n, input));
    UNET_TRY(unet_net_forward_device(n, train_mode, seed));
    if (logits) UNET_TRY(unet_tensor_download(n->m->ctx, &n->logits, logits));
    if (probs) {
        UNET_TRY(unet_softmax_forward(n->m->ctx, &n->logits, &n->probs));
        UNET_TRY(unet_tensor_download(n->m->ctx, &n->probs, probs));
    }
    return UNET_OK;
}

/* ---- loss and backward -------------------------------------------------------- */

static unet_status upload_targets(unet_net *n, const int32_t *labels, const float *weights)
{
    if (!labels) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "NULL labels");
    size_t px = (size_t)n->info.out_h * n->info.out_w;
    UNET_TRY(unet_buffer_write(n->m->ctx, n->labels, 0, px * 4, labels));
    if (weights) UNET_TRY(unet_buffer_write(n->m->ctx, n->weights, 0, px * 4, weights));
    return UNET_OK;
}

static unet_status loss(unet_net *n, int has_weights, int with_grad, unet_step_result *r)
{
    size_t px = (size_t)n->info.out_h * n->info.out_w;
    double loss = 0, wsum = 0, correct = 0;
    UNET_TRY(unet_softmax_xent(n->m->ctx, &n->logits, n->labels, has_weights ? n->weights : NULL,
                               (float)(1.0 / (double)px), with_grad ? &n->dlogits : NULL, n->xent_ws, &loss,
                               &wsum, &correct));
    if (r) {
        r->loss = loss;
        r->weight_sum = wsum;
        r->correct = correct;
        r->labelled = 0;
    }
    return UNET_OK;
}

unet_status unet_net_loss_backward_device(unet_net *n, int has_weights, uint64_t seed, unet_step_result *r)
{
    unet_model *m = n->m;
    unet_context *ctx = m->ctx;
    const unet_model_config *c = &m->cfg;
    if (!n->training)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "this network was planned for inference: create it with training=1");
    UNET_TRY(unet_net_forward_device(n, 1, seed));
    UNET_TRY(loss(n, has_weights, 1, r));
    int D = c->depth;
    /* output 1x1 convolution */
    unet_tensor *xin = D >= 2 ? &n->dec[0][1] : NULL;
    LAYER(n, "bwd out.conv", unet_conv_backward(ctx, xin, &n->logits, &n->dlogits, unet_pslice(m, m->out.w), 1, 0,
                                                &n->ddec[0][1], 0, unet_gslice(m, m->out.w), unet_gslice(m, m->out.b),
                                                0, n->ws, n->ws_floats));
    char nm[24];
    /* expansive path, from the output upwards in depth */
    for (int l = 0; l <= D - 2; l++) {
        snprintf(nm, sizeof nm, "bwd dec%d.conv2", l + 1);
        LAYER(n, nm, unet_conv_backward(ctx, &n->dec[l][0], &n->dec[l][1], &n->ddec[l][1], unet_pslice(m, m->dec[l][1].w),
                                        3, 1, &n->ddec[l][0], 0, unet_gslice(m, m->dec[l][1].w),
                                        unet_gslice(m, m->dec[l][1].b), 0, n->ws, n->ws_floats));
        snprintf(nm, sizeof nm, "bwd dec%d.conv1", l + 1);
        LAYER(n, nm, unet_conv_backward(ctx, &n->cat[l], &n->dec[l][0], &n->ddec[l][0], unet_pslice(m, m->dec[l][0].w),
                                        3, 1, &n->dcat[l], 0, unet_gslice(m, m->dec[l][0].w),
                                        unet_gslice(m, m->dec[l][0].b), 0, n->ws, n->ws_floats));
        /* first gradient into the skip feature map: overwrite */
        snprintf(nm, sizeof nm, "bwd dec%d.concat", l + 1);
        LAYER(n, nm, unet_crop_concat_backward(ctx, &n->dcat[l], &n->denc[l][1], 0, &n->dup[l], 0));
        unet_tensor *uin = (l == D - 2) ? &n->enc[D - 1][1] : &n->dec[l + 1][1];
        unet_tensor *duin = (l == D - 2) ? &n->denc[D - 1][1] : &n->ddec[l + 1][1];
        snprintf(nm, sizeof nm, "bwd dec%d.up", l + 1);
        LAYER(n, nm, unet_upconv_backward(ctx, uin, &n->up[l], &n->dup[l], unet_pslice(m, m->up[l].w), c->upconv_relu,
                                          duin, 0, unet_gslice(m, m->up[l].w), unet_gslice(m, m->up[l].b), 0, n->ws,
                                          n->ws_floats));
    }
    /* contracting path, from the bottleneck down */
    for (int l = D - 1; l >= 0; l--) {
        snprintf(nm, sizeof nm, "bwd enc%d.pool", l + 1);
        if (l == D - 1) {
            if (c->dropout > 0.0f) LAYER(n, nm, unet_dropout_backward(ctx, &n->denc[l][1], c->dropout, seed));
        } else {
            LAYER(n, nm, unet_maxpool_backward(ctx, &n->dpool[l], n->argmax[l], &n->denc[l][1], 1));
        }
        snprintf(nm, sizeof nm, "bwd enc%d.conv2", l + 1);
        LAYER(n, nm, unet_conv_backward(ctx, &n->enc[l][0], &n->enc[l][1], &n->denc[l][1], unet_pslice(m, m->enc[l][1].w),
                                        3, 1, &n->denc[l][0], 0, unet_gslice(m, m->enc[l][1].w),
                                        unet_gslice(m, m->enc[l][1].b), 0, n->ws, n->ws_floats));
        const unet_tensor *in = l == 0 ? &n->input : &n->pool[l - 1];
        unet_tensor *din = l == 0 ? NULL : &n->dpool[l - 1];
        snprintf(nm, sizeof nm, "bwd enc%d.conv1", l + 1);
        LAYER(n, nm, unet_conv_backward(ctx, in, &n->enc[l][0], &n->denc[l][0], unet_pslice(m, m->enc[l][0].w), 3, 1, din,
                                        0, unet_gslice(m, m->enc[l][0].w), unet_gslice(m, m->enc[l][0].b), 0, n->ws,
                                        n->ws_floats));
    }
    return UNET_OK;
}

/* Pixels whose label is a class (the others are ignored by the loss). */
static double count_labelled(const unet_net *n, const int32_t *labels)
{
    size_t px = (size_t)n->info.out_h * n->info.out_w, k = 0;
    for (size_t i = 0; i < px; i++) k += labels[i] >= 0 && labels[i] < n->m->cfg.classes;
    return (double)k;
}

unet_status unet_net_loss_backward(unet_net *n, const float *input, const int32_t *labels, const float *weights,
                                   uint64_t seed, unet_step_result *r)
{
    if (!n) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_net_loss_backward: NULL net");
    UNET_TRY(upload_input(n, input));
    UNET_TRY(upload_targets(n, labels, weights));
    UNET_TRY(unet_net_loss_backward_device(n, weights != NULL, seed, r));
    if (r) {
        r->labelled = count_labelled(n, labels);
    }
    return UNET_OK;
}

unet_status unet_net_evaluate(unet_net *n, const float *input, const int32_t *labels, const float *weights,
                              float *probs, unet_step_result *r)
{
    if (!n) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_net_evaluate: NULL net");
    UNET_TRY(upload_input(n, input));
    UNET_TRY(upload_targets(n, labels, weights));
    UNET_TRY(unet_net_forward_device(n, 0, 0));
    UNET_TRY(loss(n, weights != NULL, 0, r));
    if (r) {
        r->labelled = count_labelled(n, labels);
    }
    if (probs) {
        UNET_TRY(unet_softmax_forward(n->m->ctx, &n->logits, &n->probs));
        UNET_TRY(unet_tensor_download(n->m->ctx, &n->probs, probs));
    }
    return UNET_OK;
}
