/* The inference pipeline of include/unetcl/infer.h, and its streamed path:
 *  - the streaming readers (PNG rows, TIFF strips, TIFF tiles, BigTIFF) give
 *    the values of unet_image_read, in any row chunks, after a rewind too; the
 *    tiled BigTIFF writer round-trips;
 *  - unet_infer_file streamed (stream_megapixels = 0) writes the same values
 *    as the whole-image path (stream_megapixels huge): bitwise, for 2 and 3
 *    classes, normalize per_image and fixed, 8/16-bit and float, grey and
 *    RGB, PNG, stripped TIFF, tiled BigTIFF, a 2-page stack and TTA; PNG
 *    outputs byte-identical, TIFF outputs tiled BigTIFF;
 *  - the host buffers of a streamed page (the event's stream_host_bytes) do
 *    not depend on the height, and equal the sum of what the parts report
 *    (window rows from unet_predict_stream_window, the reader's and writers'
 *    buffers): the formula of docs/scale.md;
 *  - instances streamed: the files of the whole-image path, bitwise, and the
 *    same object count (components and watershed, a stack, TTA, the float32
 *    file above the 16-bit limit, the stack's error, a region taller than
 *    the labeller may hold: an error, no output); the overlay streamed too;
 *  - above the threshold, [data] scale takes the whole-image
 *    path with a notice, or are refused over the memory limit with a message
 *    naming the setting; NaN input is refused; a callback stops a file and leaves
 *    no output;
 *  - a PNG truncated after its header fails while streaming, naming the
 *    file, with no output; an interlaced PNG takes the whole-image path;
 *  - the in-memory calls equal the file path (probabilities, mask, instances
 *    by components and by watershed). */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include "config.h"
#include "instances.h"
#include "unetcl/image.h"
#include "net.h"
#include "normalize.h"
#include "tiling.h"
#include "unetcl/infer.h"

#include <dirent.h>
#include <png.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[256];

static unet_model *tiny_model(int cin, int classes, int depth, uint64_t seed)
{
    unet_model_config c;
    unet_model_config_default(&c);
    c.in_channels = cin;
    c.classes = classes;
    c.depth = depth;
    c.base_channels = 4;
    unet_model *m = NULL;
    TU_OK(unet_model_create(tu_ctx(), &c, seed, &m));
    return m;
}

/* A random image of values fitting `bits` with some structure (blobs). */
static void random_image(unet_image *img, int w, int h, int c, int bits, uint64_t seed)
{
    TU_OK(unet_image_alloc(img, w, h, c, bits));
    tu_rng r;
    tu_seed(&r, seed);
    float top = bits == 8 ? 255.0f : bits == 16 ? 65535.0f : 3.0f;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double v = 0.5 + 0.3 * sin(x * 0.21 + ch) * cos(y * 0.17) + 0.2 * (tu_uniform(&r) - 0.5);
                float f = (float)(v * top);
                if (bits != 32) f = floorf(f);
                *unet_image_at(img, ch, y, x) = f < 0 ? 0 : f > top ? top : f;
            }
}

static void path_in(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", g_dir, name); }

/* Writes img to name: .png, .tif (strips) or, with tile > 0, a tiled BigTIFF. */
static void write_input(const char *name, const unet_image *img, int tile)
{
    char p[512];
    path_in(p, sizeof p, name);
    if (tile) {
        unet_image_writer *wr = NULL;
        TU_OK(unet_image_writer_open_tiled(p, img->bits, tile, &wr));
        TU_OK(unet_image_writer_begin_page(wr, img->w, img->h, img->c));
        TU_OK(unet_image_writer_rows(wr, img->data, (size_t)img->w * img->h, img->h));
        TU_OK(unet_image_writer_end_page(wr));
        TU_OK(unet_image_writer_close(wr, 1));
    } else
        TU_OK(unet_image_write(p, img, img->bits));
}

/* ---- readers and the tiled writer ------------------------------------------------ */

static void check_reader(const char *name)
{
    char p[512];
    path_in(p, sizeof p, name);
    int pages = 0;
    TU_OK(unet_image_count_pages(p, &pages));
    for (int pg = 0; pg < pages; pg++) {
        unet_image whole;
        TU_OK(unet_image_read(p, pg, &whole));
        unet_image_reader *rd = NULL;
        TU_OK(unet_image_reader_open(p, pg, &rd));
        int w, h, c, bits;
        unet_image_reader_info(rd, &w, &h, &c, &bits);
        assert_int_equal(w, whole.w);
        assert_int_equal(h, whole.h);
        assert_int_equal(c, whole.c);
        assert_int_equal(bits, whole.bits);
        assert_true(unet_image_reader_buffer_bytes(rd) > 0);
        float *buf = malloc((size_t)c * 7 * w * sizeof *buf);
        for (int pass = 0; pass < 2; pass++) {
            for (int y = 0; y < h; y += 7) {
                int n = h - y < 7 ? h - y : 7;
                TU_OK(unet_image_reader_rows(rd, buf, (size_t)n * w, n));
                for (int ch = 0; ch < c; ch++)
                    if (memcmp(buf + (size_t)ch * n * w, unet_image_at(&whole, ch, y, 0), (size_t)n * w * sizeof *buf))
                        fail_msg("%s page %d: rows %d.. of channel %d differ from unet_image_read", name, pg, y, ch);
            }
            assert_int_equal(unet_image_reader_rows(rd, buf, (size_t)w, 1), UNET_ERR_INVALID_ARGUMENT);
            TU_OK(unet_image_reader_rewind(rd));
        }
        free(buf);
        unet_image_reader_close(rd);
        unet_image_free(&whole);
    }
}

static void test_readers(void **state)
{
    (void)state;
    unet_image a, b, c3, f;
    random_image(&a, 37, 45, 1, 8, 1);
    random_image(&b, 50, 29, 1, 16, 2);
    random_image(&c3, 33, 21, 3, 8, 3);
    random_image(&f, 40, 70, 1, 32, 4);
    write_input("r8.png", &a, 0);
    write_input("r16.png", &b, 0);
    write_input("rgb.png", &c3, 0);
    write_input("r16.tif", &b, 0);
    write_input("rf.tif", &f, 0);
    write_input("rgb_tiled.tif", &c3, 16);
    write_input("rf_tiled.tif", &f, 32);
    write_input("r8_tiled.tif", &a, 16);
    /* a 2-page stack */
    char p[512];
    path_in(p, sizeof p, "stack.tif");
    TU_OK(unet_tiff_write(p, &a, 8, 0));
    TU_OK(unet_tiff_write(p, &a, 8, 1));
    const char *names[] = {"r8.png", "r16.png", "rgb.png", "r16.tif", "rf.tif", "rgb_tiled.tif", "rf_tiled.tif",
                           "r8_tiled.tif", "stack.tif"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) check_reader(names[i]);
    /* the tiled writer: BigTIFF header (43), values read back exactly */
    path_in(p, sizeof p, "rf_tiled.tif");
    FILE *fh = fopen(p, "rb");
    unsigned char hdr[4];
    assert_int_equal(fread(hdr, 1, 4, fh), 4);
    fclose(fh);
    assert_int_equal(hdr[2], 43);
    unet_image back;
    TU_OK(unet_image_read(p, 0, &back));
    assert_memory_equal(back.data, f.data, unet_image_count(&f) * sizeof(float));
    unet_image_free(&back);
    /* bad tiles */
    unet_image_writer *wr = NULL;
    assert_int_equal(unet_image_writer_open_tiled(p, 8, 20, &wr), UNET_ERR_INVALID_ARGUMENT);
    unet_image_free(&a);
    unet_image_free(&b);
    unet_image_free(&c3);
    unet_image_free(&f);
}

/* ---- the pipeline, streamed vs whole ----------------------------------------------- */

typedef struct events {
    int pages, streamed, tiles, stop_at, notices;
    char notice[600];
    uint64_t host_bytes;
    int tile, tile_out;
    int objects, instance_rows;
} events;

static int on_event(const unet_infer_event *ev, void *user)
{
    events *e = user;
    if (ev->kind == UNET_INFER_EV_TILE) {
        e->tiles++;
        if (e->stop_at && e->tiles >= e->stop_at) return 1;
    } else if (ev->kind == UNET_INFER_EV_NOTICE) {
        e->notices++;
        snprintf(e->notice, sizeof e->notice, "%s", ev->message);
    } else if (ev->kind == UNET_INFER_EV_PAGE) {
        e->pages++;
        e->streamed += ev->streamed;
        e->host_bytes = ev->stream_host_bytes;
        e->tile = ev->tile;
        e->tile_out = ev->tile_out;
        e->objects = ev->objects;
        e->instance_rows = ev->stream_instance_rows;
    }
    return 0;
}

static void out_dir(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", g_dir, name);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", buf, buf);
    assert_int_equal(system(cmd), 0);
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static unet_status run_file_opt(unet_model *m, const unet_config *cfg, const char *input, const char *dir, double mp,
                                int tile, int tta, uint64_t limit, events *ev)
{
    unet_infer_options o;
    unet_infer_options_default(&o);
    unet_infer_options_from_config(cfg, &o);
    o.memory_limit_bytes = limit;
    o.stream_megapixels = mp;
    o.tile = tile;
    o.tta = tta;
    o.callback = on_event;
    o.user = ev;
    unet_infer *inf = NULL;
    TU_OK(unet_infer_create(m, cfg, &o, &inf));
    char p[512];
    path_in(p, sizeof p, input);
    unet_status st = unet_infer_file(inf, p, dir);
    unet_infer_destroy(inf);
    return st;
}

static unet_status run_file(unet_model *m, const unet_config *cfg, const char *input, const char *dir, double mp,
                            int tile, int tta, events *ev)
{
    return run_file_opt(m, cfg, input, dir, mp, tile, tta, 0, ev);
}

static unet_status run_file_limit(unet_model *m, const unet_config *cfg, const char *input, const char *dir, double mp,
                                  uint64_t limit, events *ev)
{
    return run_file_opt(m, cfg, input, dir, mp, 0, 0, limit, ev);
}

static int file_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    assert_non_null(fa);
    assert_non_null(fb);
    int same = 1, ca, cb;
    do {
        ca = fgetc(fa);
        cb = fgetc(fb);
        if (ca != cb) same = 0;
    } while (same && ca != EOF);
    fclose(fa);
    fclose(fb);
    return same;
}

/* Every output of the whole-image run in A equals the streamed run's in B
 * (sel: UNET_OUT_* bits; inst = 2: NAME_instances.tif, float32). */
static void compare_outputs_sel(const char *A, const char *B, const char *stem, int classes, int stack, unsigned sel,
                                int inst)
{
    assert_true(strlen(stem) < 64 && strlen(A) < 512 && strlen(B) < 512);
    char names[260][128];
    int n = 0;
    if (!(sel & UNET_OUT_PROB));
    else if (classes == 2) snprintf(names[n++], 128, "%s_prob.%s", stem, stack ? "tif" : "png");
    else
        for (int k = 0; k < classes; k++) snprintf(names[n++], 128, "%s_prob_c%d.tif", stem, k);
    if (sel & UNET_OUT_MASK) snprintf(names[n++], 128, "%s_mask.%s", stem, stack ? "tif" : "png");
    if (sel & UNET_OUT_INSTANCES)
        snprintf(names[n++], 128, "%s_instances.%s", stem, stack || inst == 2 ? "tif" : "png");
    if (sel & UNET_OUT_OVERLAY) snprintf(names[n++], 128, "%s_overlay.%s", stem, stack ? "tif" : "png");
    assert_int_equal(count_files(A), n);
    assert_int_equal(count_files(B), n);
    for (int i = 0; i < n; i++) {
        char pa[1024], pb[1024];
        snprintf(pa, sizeof pa, "%s/%.127s", A, names[i]);
        snprintf(pb, sizeof pb, "%s/%.127s", B, names[i]);
        int pages_a = 0, pages_b = 0;
        TU_OK(unet_image_count_pages(pa, &pages_a));
        TU_OK(unet_image_count_pages(pb, &pages_b));
        assert_int_equal(pages_a, pages_b);
        for (int pg = 0; pg < pages_a; pg++) {
            unet_image ia, ib;
            TU_OK(unet_image_read(pa, pg, &ia));
            TU_OK(unet_image_read(pb, pg, &ib));
            assert_int_equal(ia.w, ib.w);
            assert_int_equal(ia.h, ib.h);
            if (memcmp(ia.data, ib.data, unet_image_count(&ia) * sizeof(float)))
                fail_msg("%s page %d: the streamed output differs from the whole-image output", names[i], pg);
            unet_image_free(&ia);
            unet_image_free(&ib);
        }
        if (strstr(names[i], ".png") || (inst == 2 && strstr(names[i], "_instances")))
            assert_true(file_equal(pa, pb)); /* (float32 instances: a plain TIFF, as the whole-image path) */
        else { /* streamed TIFF outputs: tiled BigTIFF */
            FILE *f = fopen(pb, "rb");
            unsigned char hdr[4];
            assert_int_equal(fread(hdr, 1, 4, f), 4);
            fclose(f);
            assert_int_equal(hdr[2], 43);
        }
    }
}

static void compare_outputs(const char *A, const char *B, const char *stem, int classes, int stack)
{
    compare_outputs_sel(A, B, stem, classes, stack, UNET_OUT_PROB | UNET_OUT_MASK, 0);
}

typedef struct scase {
    const char *input;
    int cin, classes, depth, fixed, tile, tta, stack;
} scase;

static void test_stream_equals_whole(void **state)
{
    (void)state;
    /* inputs: made by test_readers (run first) */
    const scase cases[] = {
        {"r8.png", 1, 2, 2, 0, 0, 0, 0},      {"r16.png", 1, 2, 3, 1, 0, 0, 0},  {"r16.tif", 1, 3, 2, 0, 0, 0, 0},
        {"r8_tiled.tif", 1, 3, 2, 1, 0, 0, 0}, {"rf.tif", 1, 2, 2, 0, 28, 0, 0}, {"rf_tiled.tif", 1, 2, 3, 1, 60, 0, 0},
        {"rgb_tiled.tif", 3, 2, 2, 0, 0, 0, 0}, {"rgb.png", 3, 4, 2, 1, 0, 0, 0}, {"stack.tif", 1, 2, 2, 0, 0, 0, 1},
        {"r8.png", 1, 2, 2, 0, 28, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const scase *s = &cases[i];
        unet_model *m = tiny_model(s->cin, s->classes, s->depth, 11 + i);
        unet_config cfg;
        unet_config_default(&cfg);
        cfg.infer.outputs = UNET_OUT_PROB | UNET_OUT_MASK;
        cfg.data.normalize = s->fixed ? UNET_NORM_FIXED : UNET_NORM_PER_IMAGE;
        cfg.data.norm_mean = 0.4;
        cfg.data.norm_std = 0.2;
        char A[300], B[300], stem[64];
        out_dir(A, sizeof A, "whole");
        out_dir(B, sizeof B, "streamed");
        events ea = {0}, eb = {0};
        TU_OK(run_file(m, &cfg, s->input, A, 1e6, s->tile, s->tta, &ea));
        TU_OK(run_file(m, &cfg, s->input, B, 0, s->tile, s->tta, &eb));
        int pages = s->stack ? 2 : 1;
        assert_int_equal(ea.pages, pages);
        assert_int_equal(ea.streamed, 0);
        assert_int_equal(eb.pages, pages);
        assert_int_equal(eb.streamed, pages);
        assert_true(eb.host_bytes > 0);
        snprintf(stem, sizeof stem, "%s", s->input);
        *strrchr(stem, '.') = '\0';
        compare_outputs(A, B, stem, s->classes, s->stack);
        unet_model_destroy(m);
    }
}

/* The host bytes the streamed page reports, recomputed from what the parts
 * report: docs/scale.md's formula. */
static uint64_t expected_bytes(unet_model *m, int tile, int h, int w, int c, int K, const char *input)
{
    unet_net *net = NULL;
    TU_OK(unet_net_create(m, tile, tile, 0, &net));
    const unet_plan_info *pi = unet_net_info(net);
    int R = 0;
    TU_OK(unet_predict_stream_window(net, h, w, &R));
    assert_true(R <= 2 * tile); /* the window: at most two input tiles, whatever h */
    unet_tile_grid gy;
    TU_OK(unet_tile_grid_make(h, pi->in_h, pi->out_h, 1 << (unet_model_get_config(m)->depth - 1), &gy));
    char p[512];
    path_in(p, sizeof p, input);
    unet_image_reader *rd = NULL;
    TU_OK(unet_image_reader_open(p, 0, &rd));
    uint64_t reader = unet_image_reader_buffer_bytes(rd);
    unet_image_reader_close(rd);
    uint64_t writers = (uint64_t)w * 2 + (uint64_t)w; /* prob PNG (16-bit) and mask PNG (8-bit): a row each */
    uint64_t b = 4 * ((uint64_t)c * (R + 64) * w + (uint64_t)c * pi->in_h * pi->in_w +
                      (uint64_t)K * pi->out_h * pi->out_w + (uint64_t)K * gy.stride * w + (uint64_t)3 * 64 * w) +
                 reader + writers;
    unet_net_destroy(net);
    return b;
}

static void test_stream_memory(void **state)
{
    (void)state;
    const int w = 96, tile = 44;
    unet_model *m = tiny_model(1, 2, 2, 5);
    unet_config cfg;
    unet_config_default(&cfg);
    cfg.infer.outputs = UNET_OUT_PROB | UNET_OUT_MASK;
    const int heights[] = {300, 3000};
    const char *kinds[] = {"png", "tif"};
    for (int k = 0; k < 2; k++) {
        uint64_t got[2];
        for (int i = 0; i < 2; i++) {
            unet_image img;
            random_image(&img, w, heights[i], 1, 8, 40 + i);
            char name[64];
            snprintf(name, sizeof name, "tall%d.%s", heights[i], kinds[k]);
            write_input(name, &img, 0);
            unet_image_free(&img);
            char B[300];
            out_dir(B, sizeof B, "mem");
            events e = {0};
            TU_OK(run_file(m, &cfg, name, B, 0, tile, 0, &e));
            assert_int_equal(e.streamed, 1);
            assert_int_equal(e.tile, tile);
            got[i] = e.host_bytes;
            uint64_t want = expected_bytes(m, tile, heights[i], w, 1, 2, name);
            if (got[i] != want)
                fail_msg("%s: stream_host_bytes %llu, the formula gives %llu", name, (unsigned long long)got[i],
                         (unsigned long long)want);
        }
        /* ten times the height: the same buffers */
        assert_int_equal(got[0], got[1]);
    }
    /* the output folder is created with its parents */
    char deep[400];
    snprintf(deep, sizeof deep, "%s/new/deeper", g_dir);
    events e = {0};
    TU_OK(run_file(m, &cfg, "tall300.png", deep, 0, tile, 0, &e));
    assert_int_equal(count_files(deep), 2);
    unet_model_destroy(m);
}

/* Instances streamed (docs/scale.md, "Instances"): the same files as the
 * whole-image path, bitwise (PNG byte for byte), the same object count, for
 * components and the watershed (2 classes, border3), both connectivities,
 * min_seed, min_size, fill_holes, a 2-page stack, TTA and a 3000-row image,
 * normalize per_image and fixed; the overlay with and without instances;
 * the float32 file above the 16-bit limit (lowered here) and the stack's
 * error; the labeller's rows and buffers in stream_host_bytes. */
typedef struct icase {
    const char *input;
    int classes, ws, conn, min_seed, min_size, holes, tile, tta, stack;
    unsigned sel; /* 0: prob, mask, instances, overlay */
    int too_tall; /* 1: a region of more than 1024 rows: an error at stream_megapixels = 0 */
} icase;

static void test_stream_instances(void **state)
{
    (void)state;
    const icase cases[] = {
        {"r8.png", 2, 0, 8, 0, 4, 1, 0, 0, 0, 0, 0},     {"r16.tif", 3, 1, 4, 2, 0, 1, 0, 0, 0, 0, 0},
        {"stack.tif", 2, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0},  {"rf_tiled.tif", 2, 1, 8, 0, 3, 1, 60, 1, 0, 0, 0},
        {"tall3000.png", 2, 0, 8, 0, 6, 1, 44, 0, 0, 0, 0}, {"tall3000.png", 3, 1, 8, 3, 10, 1, 44, 0, 0, 0, 1},
        {"tall300.tif", 3, 1, 4, 0, 0, 0, 44, 0, 0, 0, 0}, {"r8_tiled.tif", 3, 0, 4, 0, 2, 0, 0, 0, 0, 0, 0},
        /* the overlay without instances (class contours), and instances without it */
        {"rgb.png", 3, 0, 8, 0, 0, 0, 0, 0, 0, UNET_OUT_MASK | UNET_OUT_OVERLAY, 0},
        {"stack.tif", 3, 0, 8, 0, 0, 0, 0, 0, 1, UNET_OUT_OVERLAY, 0},
        {"tall300.png", 2, 1, 8, 0, 0, 1, 44, 0, 0, UNET_OUT_INSTANCES, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const icase *c = &cases[i];
        int cin = strstr(c->input, "rgb") ? 3 : 1;
        unet_model *m = tiny_model(cin, c->classes, 2, 61 + i);
        unet_config cfg;
        unet_config_default(&cfg);
        unsigned sel = c->sel ? c->sel : UNET_OUT_PROB | UNET_OUT_MASK | UNET_OUT_INSTANCES | UNET_OUT_OVERLAY;
        cfg.infer.outputs = sel;
        /* odd cases: normalize = fixed (the overlay's min and max in a pass of their own) */
        cfg.data.normalize = i % 2 ? UNET_NORM_FIXED : UNET_NORM_PER_IMAGE;
        cfg.data.norm_mean = 0.4;
        cfg.data.norm_std = 0.2;
        cfg.infer.instances = c->ws ? UNET_INSTANCES_WATERSHED : UNET_INSTANCES_COMPONENTS;
        if (c->classes == 3) cfg.data.targets = UNET_TARGETS_BORDER3;
        cfg.infer.connectivity = c->conn;
        cfg.infer.min_seed = c->min_seed;
        cfg.infer.min_size = c->min_size;
        cfg.infer.fill_holes = c->holes;
        char A[300], B[300], stem[64];
        out_dir(A, sizeof A, "iwhole");
        out_dir(B, sizeof B, "istreamed");
        events ea = {0}, eb = {0};
        TU_OK(run_file(m, &cfg, c->input, A, 1e6, c->tile, c->tta, &ea));
        double mp = 0;
        if (c->too_tall) {
            /* the labeller may hold max(1024, stream_megapixels * 1e6 / w)
             * rows: refused with a message naming the rows, nothing written;
             * with stream_megapixels = 0.28799 (3000 rows of 96) it streams */
            assert_int_equal(run_file(m, &cfg, c->input, B, 0, c->tile, c->tta, &eb), UNET_ERR_DATA);
            printf("%s\n", unet_last_error());
            assert_non_null(strstr(unet_last_error(), "tall3000.png: instances: a connected region of cell pixels "
                                                      "spans rows 0..1024"));
            assert_non_null(strstr(unet_last_error(), "more than the 1024 rows"));
            assert_int_equal(count_files(B), 0);
            mp = 0.28799;
        }
        TU_OK(run_file(m, &cfg, c->input, B, mp, c->tile, c->tta, &eb));
        int pages = c->stack ? 2 : 1;
        assert_int_equal(ea.streamed, 0);
        assert_int_equal(eb.streamed, pages);
        assert_int_equal(eb.notices, 0);
        assert_int_equal(eb.objects, ea.objects);
        assert_true((eb.instance_rows > 0) == ((sel & UNET_OUT_INSTANCES) != 0));
        snprintf(stem, sizeof stem, "%s", c->input);
        *strrchr(stem, '.') = '\0';
        compare_outputs_sel(A, B, stem, c->classes, c->stack, sel, 1);
        printf("%s (%d classes, %s, %d-connected): %d objects, streamed with at most %d rows held\n", c->input,
               c->classes, c->ws ? "watershed" : "components", c->conn, eb.objects, eb.instance_rows);
        if (i == 0) {
            /* the reported buffers: those of prob and mask plus the labeller's
             * window at its peak, its row buffers and the instance writers
             * (16-bit PNG row, float32 TIFF row) */
            unet_config pm = cfg;
            pm.infer.outputs = UNET_OUT_PROB | UNET_OUT_MASK;
            cfg.infer.outputs = UNET_OUT_PROB | UNET_OUT_MASK | UNET_OUT_INSTANCES;
            memset(&eb, 0, sizeof eb);
            TU_OK(run_file(m, &cfg, c->input, B, 0, c->tile, c->tta, &eb));
            events ep = {0};
            out_dir(B, sizeof B, "istreamed");
            TU_OK(run_file(m, &pm, c->input, B, 0, c->tile, c->tta, &ep));
            unet_instance_options io;
            unet_instance_options_from_config(&cfg, &io);
            int w = 37;
            uint64_t extra = (uint64_t)eb.instance_rows * w * unet_inst_stream_row_bytes(&io) + 2ull * 64 * w * 4 +
                             2ull * w + 4ull * w;
            assert_int_equal(eb.host_bytes, ep.host_bytes + extra);
            /* above the 16-bit limit (lowered to reach it): float32 TIFF on
             * both paths, with the same notice */
            int keep = unet_infer_u16_max;
            unet_infer_u16_max = ea.objects - 1;
            out_dir(A, sizeof A, "iwhole");
            out_dir(B, sizeof B, "istreamed");
            memset(&ea, 0, sizeof ea);
            memset(&eb, 0, sizeof eb);
            TU_OK(run_file(m, &cfg, c->input, A, 1e6, c->tile, c->tta, &ea));
            TU_OK(run_file(m, &cfg, c->input, B, 0, c->tile, c->tta, &eb));
            unet_infer_u16_max = keep;
            assert_int_equal(eb.notices, 1);
            assert_string_equal(ea.notice, eb.notice);
            assert_non_null(strstr(eb.notice, "instances written as float32 TIFF"));
            compare_outputs_sel(A, B, stem, c->classes, 0, cfg.infer.outputs, 2);
        }
        if (c->stack && (sel & UNET_OUT_INSTANCES)) {
            /* a stack above the 16-bit limit: the same error, no output */
            int keep = unet_infer_u16_max;
            unet_infer_u16_max = ea.objects > 1 ? 1 : 0;
            out_dir(A, sizeof A, "iwhole");
            out_dir(B, sizeof B, "istreamed");
            assert_int_equal(run_file(m, &cfg, c->input, A, 1e6, c->tile, c->tta, &ea), UNET_ERR_DATA);
            char msg[600];
            snprintf(msg, sizeof msg, "%s", unet_last_error());
            assert_int_equal(run_file(m, &cfg, c->input, B, 0, c->tile, c->tta, &eb), UNET_ERR_DATA);
            unet_infer_u16_max = keep;
            assert_string_equal(unet_last_error(), msg);
            assert_non_null(strstr(msg, "do not fit the 16-bit instance stack"));
            assert_int_equal(count_files(A), 0);
            assert_int_equal(count_files(B), 0);
        }
        unet_model_destroy(m);
    }
}

static void test_stream_refusals(void **state)
{
    (void)state;
    unet_model *m = tiny_model(1, 2, 2, 6);
    unet_config cfg;
    unet_config_default(&cfg);
    char B[300];
    out_dir(B, sizeof B, "refused");
    events e = {0};
    /* the default outputs (prob, mask, instances, overlay) all stream,
     * whatever the memory limit */
    TU_OK(run_file_limit(m, &cfg, "r8.png", B, 0, 1000, &e));
    assert_int_equal(e.streamed, 1);
    assert_int_equal(e.notices, 0);
    assert_int_equal(count_files(B), 4);
    out_dir(B, sizeof B, "refused");
    /* [data] scale above the memory limit: refused, nothing written */
    cfg.infer.outputs = UNET_OUT_PROB | UNET_OUT_MASK;
    cfg.data.scale = 0.5;
    unet_status st = run_file_limit(m, &cfg, "r8.png", B, 0, 1000, &e);
    assert_int_equal(st, UNET_ERR_OUT_OF_MEMORY);
    assert_non_null(strstr(unet_last_error(), "r8.png: 37x45 (0 megapixels) would need about"));
    assert_non_null(strstr(unet_last_error(), "set [data] scale = 1 to segment it streamed"));
    assert_int_equal(count_files(B), 0);
    /* [data] scale: the whole-image path, with a notice */
    memset(&e, 0, sizeof e);
    TU_OK(run_file(m, &cfg, "r8.png", B, 0, 0, 0, &e));
    assert_int_equal(e.streamed, 0);
    assert_non_null(strstr(e.notice, "[data] scale resizes the whole image"));
    assert_int_equal(count_files(B), 2);
    out_dir(B, sizeof B, "refused");
    /* a NaN in a float TIFF: per_image (first pass) and fixed (while predicting) */
    cfg.data.scale = 1;
    unet_image f;
    random_image(&f, 30, 40, 1, 32, 9);
    *unet_image_at(&f, 0, 31, 7) = NAN;
    write_input("nan_tiled.tif", &f, 16);
    unet_image_free(&f);
    for (int fixed = 0; fixed < 2; fixed++) {
        cfg.data.normalize = fixed ? UNET_NORM_FIXED : UNET_NORM_PER_IMAGE;
        assert_int_equal(run_file(m, &cfg, "nan_tiled.tif", B, 0, 0, 0, &e), UNET_ERR_DATA);
        assert_non_null(strstr(unet_last_error(), "nan_tiled.tif: image pixel 937 of channel 0 is not a finite number"));
        assert_int_equal(count_files(B), 0);
    }
    /* stopped by the callback after 2 tiles: no output */
    cfg.data.normalize = UNET_NORM_PER_IMAGE;
    events stop = {0};
    stop.stop_at = 2;
    assert_int_equal(run_file(m, &cfg, "rf.tif", B, 0, 28, 0, &stop), UNET_ERR_INTERRUPTED);
    assert_int_equal(count_files(B), 0);
    stop.tiles = 0;
    assert_int_equal(run_file(m, &cfg, "rf.tif", B, 1e6, 28, 0, &stop), UNET_ERR_INTERRUPTED);
    assert_int_equal(count_files(B), 0);
    unet_model_destroy(m);
}

/* ---- in memory ---------------------------------------------------------------------- */

static void test_in_memory(void **state)
{
    (void)state;
    for (int ws = 0; ws < 2; ws++) {
        int K = ws ? 3 : 2;
        unet_model *m = tiny_model(1, K, 2, 21 + ws);
        unet_config cfg;
        unet_config_default(&cfg);
        cfg.infer.outputs = UNET_OUT_PROB | UNET_OUT_MASK | UNET_OUT_INSTANCES;
        if (ws) {
            cfg.infer.instances = UNET_INSTANCES_WATERSHED;
            cfg.data.targets = UNET_TARGETS_BORDER3;
        }
        char A[300];
        out_dir(A, sizeof A, "mem_whole");
        events e = {0};
        TU_OK(run_file(m, &cfg, "r16.png", A, 1e6, 0, 0, &e));
        unet_image img;
        char p[600];
        path_in(p, sizeof p, "r16.png");
        TU_OK(unet_image_read(p, 0, &img));
        int w = img.w, h = img.h;
        size_t n = (size_t)w * h;
        unet_infer_options o;
        unet_infer_options_default(&o);
        unet_infer_options_from_config(&cfg, &o);
        unet_infer *inf = NULL;
        TU_OK(unet_infer_create(m, &cfg, &o, &inf));
        float *probs = malloc((size_t)K * n * sizeof *probs), *ref = malloc((size_t)K * n * sizeof *ref);
        TU_OK(unet_infer_image(inf, img.data, 1, h, w, img.bits, probs));
        /* the same as normalising and predicting by hand with the tile the file path used */
        unet_image norm;
        TU_OK(unet_image_alloc(&norm, w, h, 1, img.bits));
        TU_OK(unet_normalize_image(&cfg, &img, norm.data));
        unet_net *net = NULL;
        TU_OK(unet_net_create(m, e.tile, e.tile, 0, &net));
        TU_OK(unet_predict_image_ex(net, norm.data, h, w, 0, ref, NULL, NULL));
        assert_memory_equal(probs, ref, (size_t)K * n * sizeof *probs);
        unet_net_destroy(net);
        unet_image_free(&norm);
        /* mask: the file's values are class * 255 / (K - 1) */
        uint8_t *mask = malloc(n);
        TU_OK(unet_infer_mask(probs, K, h, w, mask));
        unet_image mf, inf_file;
        snprintf(p, sizeof p, "%s/r16_mask.png", A);
        TU_OK(unet_image_read(p, 0, &mf));
        for (size_t i = 0; i < n; i++) assert_int_equal((int)mf.data[i], mask[i] * (255 / (K - 1)));
        assert_int_equal(unet_infer_mask(probs, 1, h, w, mask), UNET_ERR_INVALID_ARGUMENT);
        /* instances: the ids of the file */
        int32_t *ids = malloc(n * sizeof *ids);
        int count = -1;
        TU_OK(unet_infer_instances(inf, probs, h, w, ids, &count));
        assert_int_equal(count, e.objects);
        snprintf(p, sizeof p, "%s/r16_instances.png", A);
        TU_OK(unet_image_read(p, 0, &inf_file));
        for (size_t i = 0; i < n; i++) assert_int_equal((int)inf_file.data[i], ids[i]);
        /* a wrong channel count */
        assert_int_equal(unet_infer_image(inf, img.data, 3, h, w, img.bits, probs), UNET_ERR_INVALID_ARGUMENT);
        unet_infer_destroy(inf);
        unet_image_free(&mf);
        unet_image_free(&inf_file);
        unet_image_free(&img);
        free(probs);
        free(ref);
        free(mask);
        free(ids);
        unet_model_destroy(m);
    }
}

/* An interlaced PNG (libpng directly: our writers never interlace). */
static void write_interlaced_png(const char *path, const unet_image *img)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) fail_msg("libpng failed writing %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_ADAM7,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_bytep buf = malloc((size_t)img->w * img->h);
    png_bytep *rows = malloc(sizeof *rows * (size_t)img->h);
    for (int y = 0; y < img->h; y++) {
        rows[y] = buf + (size_t)y * img->w;
        for (int x = 0; x < img->w; x++) rows[y][x] = (png_byte)*unet_image_at(img, 0, y, x);
    }
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    free(buf);
    free(rows);
}

/* Inputs the streamed path reads differently: a PNG truncated after its
 * header fails while streaming, with the file named and no output left; an
 * interlaced PNG cannot be read by rows and takes the whole-image path. */
static void test_stream_bad_inputs(void **state)
{
    (void)state;
    unet_model *m = tiny_model(1, 2, 2, 8);
    unet_config cfg;
    unet_config_default(&cfg);
    cfg.infer.outputs = UNET_OUT_PROB | UNET_OUT_MASK;
    unet_image img;
    random_image(&img, 120, 90, 1, 8, 12);
    write_input("cut.png", &img, 0);
    char p[512], B[300];
    path_in(p, sizeof p, "cut.png");
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fclose(f);
    assert_int_equal(truncate(p, len / 2), 0);
    out_dir(B, sizeof B, "bad");
    events e = {0};
    for (int fixed = 0; fixed < 2; fixed++) {
        cfg.data.normalize = fixed ? UNET_NORM_FIXED : UNET_NORM_PER_IMAGE;
        assert_int_equal(run_file(m, &cfg, "cut.png", B, 0, 0, 0, &e), UNET_ERR_FORMAT);
        const char *msg = unet_last_error(), *at = strstr(msg, "cut.png");
        assert_non_null(at);
        assert_null(strstr(at + 1, "cut.png")); /* the file named once */
        assert_non_null(strstr(msg, "corrupt or truncated PNG"));
        assert_int_equal(count_files(B), 0);
    }
    path_in(p, sizeof p, "inter.png");
    write_interlaced_png(p, &img);
    unet_image_reader *rd = NULL;
    assert_int_equal(unet_image_reader_open(p, 0, &rd), UNET_ERR_FORMAT);
    assert_non_null(strstr(unet_last_error(), "interlaced PNG cannot be read row by row"));
    assert_null(rd);
    memset(&e, 0, sizeof e);
    TU_OK(run_file(m, &cfg, "inter.png", B, 0, 0, 0, &e));
    assert_int_equal(e.pages, 1);
    assert_int_equal(e.streamed, 0);
    assert_int_equal(count_files(B), 2);
    unet_image_free(&img);
    unet_model_destroy(m);
}

static void test_bad_options(void **state)
{
    (void)state;
    unet_model *m = tiny_model(1, 2, 2, 7);
    unet_config cfg;
    unet_config_default(&cfg);
    unet_infer_options o;
    unet_infer_options_default(&o);
    unet_infer *inf = NULL;
    o.stream_megapixels = -1;
    assert_int_equal(unet_infer_create(m, &cfg, &o, &inf), UNET_ERR_INVALID_ARGUMENT);
    assert_null(inf);
    unet_infer_options_default(&o);
    o.outputs = 64;
    assert_int_equal(unet_infer_create(m, &cfg, &o, &inf), UNET_ERR_INVALID_ARGUMENT);
    unet_infer_options_default(&o);
    o.tile = 45;
    assert_int_equal(unet_infer_create(m, &cfg, &o, &inf), UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_infer_create(m, NULL, &o, &inf), UNET_ERR_INVALID_ARGUMENT);
    unet_model_destroy(m);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/unetcl_infer_stream_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    if (setup(NULL)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers),        cmocka_unit_test(test_stream_equals_whole),
        cmocka_unit_test(test_stream_memory),  cmocka_unit_test(test_stream_instances),
        cmocka_unit_test(test_stream_refusals),
        cmocka_unit_test(test_in_memory),      cmocka_unit_test(test_stream_bad_inputs),
        cmocka_unit_test(test_bad_options),
    };
    int rc = TU_RUN("infer_stream", tests);
    teardown(NULL);
    return rc;
}
