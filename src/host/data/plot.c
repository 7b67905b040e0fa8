/* Training curves drawn with cairo: loss on a log scale and validation IoU
 * against the step, one colour per run. */
#include "plot.h"
#include "atomicfile.h"
#include "error.h"

#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ---- reading the CSV logs --------------------------------------------------- */

typedef struct series {
    double *x, *y;
    size_t n, cap;
} series;

static int push(series *s, double x, double y)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        double *nx = realloc(s->x, cap * sizeof *nx);
        if (!nx) return 0;
        s->x = nx;
        double *ny = realloc(s->y, cap * sizeof *ny);
        if (!ny) return 0;
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
    return 1;
}

static void series_free(series *s)
{
    free(s->x);
    free(s->y);
    memset(s, 0, sizeof *s);
}

/* Splits a line at commas in place; returns the field count (at most max). */
static int split(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n < max) f[n] = p;
        n++;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

static void chomp(char *s)
{
    size_t l = strlen(s);
    while (l && (s[l - 1] == '\n' || s[l - 1] == '\r')) s[--l] = '\0';
}

#define MAX_FIELDS 64

/* Reads columns `ycols` (names) against column "step" into out[i]. */
static unet_status read_log(const char *path, const char *expected, const char *const *ycols, int ny, series *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return unet_seterr(UNET_ERR_IO, "cannot read the training log %s: %s (is it a folder written by unetcl train?)", path,
                           strerror(errno));
    char *line = NULL, *fld[MAX_FIELDS];
    size_t cap = 0;
    ssize_t len;
    unet_status st = UNET_OK;
    int ncol = 0, xcol = -1, yc[8], lineno = 0;
    if ((len = getline(&line, &cap, f)) <= 0 || line[len - 1] != '\n') {
        st = unet_seterr(UNET_ERR_FORMAT, "%s: no header line (expected \"%s\")", path, expected);
        goto done;
    }
    lineno = 1;
    chomp(line);
    ncol = split(line, fld, MAX_FIELDS);
    if (ncol > MAX_FIELDS) {
        st = unet_seterr(UNET_ERR_FORMAT, "%s line 1: more than %d columns", path, MAX_FIELDS);
        goto done;
    }
    for (int i = 0; i < ny; i++) yc[i] = -1;
    for (int c = 0; c < ncol; c++) {
        if (!strcmp(fld[c], "step")) xcol = c;
        for (int i = 0; i < ny; i++)
            if (!strcmp(fld[c], ycols[i])) yc[i] = c;
    }
    for (int i = -1; i < ny; i++)
        if ((i < 0 ? xcol : yc[i]) < 0) {
            st = unet_seterr(UNET_ERR_FORMAT, "%s line 1: no column \"%s\" in the header (expected \"%s\")", path,
                             i < 0 ? "step" : ycols[i], expected);
            goto done;
        }
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[len - 1] != '\n') break; /* a line being written: left out */
        chomp(line);
        if (!line[0]) continue;
        int n = split(line, fld, MAX_FIELDS);
        if (n != ncol) {
            st = unet_seterr(UNET_ERR_FORMAT, "%s line %d: %d fields, the header has %d", path, lineno, n, ncol);
            goto done;
        }
        double v[MAX_FIELDS];
        for (int c = 0; c < n; c++) {
            if (c != xcol) {
                int used = 0;
                for (int i = 0; i < ny; i++) used |= yc[i] == c;
                if (!used) continue;
            }
            char *end;
            errno = 0;
            v[c] = strtod(fld[c], &end);
            if (end == fld[c] || *end != '\0' || !isfinite(v[c]) || errno == ERANGE) {
                const char *col = "step";
                for (int i = 0; i < ny; i++)
                    if (c == yc[i]) col = ycols[i];
                st = unet_seterr(UNET_ERR_FORMAT, "%s line %d: %s = \"%s\" is not a finite number", path, lineno, col,
                                 fld[c]);
                goto done;
            }
        }
        for (int i = 0; i < ny; i++)
            if (!push(&out[i], v[xcol], v[yc[i]])) {
                st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory reading %s", path);
                goto done;
            }
    }
    if (ferror(f)) st = unet_seterr(UNET_ERR_IO, "reading %s: %s", path, strerror(errno));
done:
    free(line);
    fclose(f);
    return st;
}

/* ---- drawing ----------------------------------------------------------------- */

typedef struct panel {
    double x0, y0, x1, y1; /* pixels: left, top, right, bottom */
    double xmin, xmax, ymin, ymax;
    int logy;
} panel;

static double px(const panel *p, double x) { return p->x0 + (x - p->xmin) / (p->xmax - p->xmin) * (p->x1 - p->x0); }
static double py(const panel *p, double y)
{
    double t = p->logy ? (log10(y) - log10(p->ymin)) / (log10(p->ymax) - log10(p->ymin))
                       : (y - p->ymin) / (p->ymax - p->ymin);
    return p->y1 - t * (p->y1 - p->y0);
}

static double nice_step(double range, int ticks)
{
    double raw = range / ticks, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
}

static void fmt_num(double v, char *b, size_t n)
{
    double a = fabs(v);
    if (a >= 1e6 && fmod(a, 1e5) == 0) snprintf(b, n, "%gM", v / 1e6);
    else if (a >= 1e4 && fmod(a, 100) == 0) snprintf(b, n, "%gk", v / 1e3);
    else snprintf(b, n, "%g", v);
}

static void text(cairo_t *cr, double x, double y, const char *s, double ax, double ay)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.width - e.x_bearing, y - ay * e.height - e.y_bearing);
    cairo_show_text(cr, s);
}

static void axes(cairo_t *cr, const panel *p, const char *title, const char *ylabel)
{
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, p->x0, p->y0, p->x1 - p->x0, p->y1 - p->y0);
    cairo_fill(cr);
    char b[32];
    cairo_set_font_size(cr, 12);
    cairo_set_line_width(cr, 1);
    /* x grid and labels */
    double st = nice_step(p->xmax - p->xmin, 6);
    for (double x = ceil(p->xmin / st) * st; x <= p->xmax + 1e-9 * st; x += st) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, floor(px(p, x)) + 0.5, p->y0);
        cairo_line_to(cr, floor(px(p, x)) + 0.5, p->y1);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        fmt_num(x, b, sizeof b);
        text(cr, px(p, x), p->y1 + 6, b, 0.5, 0);
    }
    /* y grid and labels */
    if (p->logy) {
        double decades = log10(p->ymax / p->ymin);
        for (double d = pow(10, floor(log10(p->ymin) + 1e-9)); d <= p->ymax * 1.0001; d *= 10)
            for (int m = 1; m < 10; m++) {
                double y = d * m;
                if (y > p->ymax * 1.0001) break;
                if (y < p->ymin * 0.9999) continue;
                int major = m == 1, label = major || (decades <= 2.5 && (m == 2 || m == 5));
                cairo_set_source_rgb(cr, major ? 0.82 : 0.93, major ? 0.82 : 0.93, major ? 0.82 : 0.93);
                cairo_move_to(cr, p->x0, floor(py(p, y)) + 0.5);
                cairo_line_to(cr, p->x1, floor(py(p, y)) + 0.5);
                cairo_stroke(cr);
                if (label) {
                    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
                    snprintf(b, sizeof b, "%g", y);
                    text(cr, p->x0 - 6, py(p, y), b, 1, 0.5);
                }
            }
    } else {
        double sy = nice_step(p->ymax - p->ymin, 5);
        for (double y = ceil(p->ymin / sy) * sy; y <= p->ymax + 1e-9; y += sy) {
            cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
            cairo_move_to(cr, p->x0, floor(py(p, y)) + 0.5);
            cairo_line_to(cr, p->x1, floor(py(p, y)) + 0.5);
            cairo_stroke(cr);
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
            snprintf(b, sizeof b, "%g", fabs(y) < 1e-12 ? 0.0 : y);
            text(cr, p->x0 - 6, py(p, y), b, 1, 0.5);
        }
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_rectangle(cr, p->x0 + 0.5, p->y0 + 0.5, p->x1 - p->x0 - 1, p->y1 - p->y0 - 1);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text(cr, (p->x0 + p->x1) / 2, p->y1 + 24, "step", 0.5, 0);
    cairo_save(cr);
    cairo_translate(cr, p->x0 - 52, (p->y0 + p->y1) / 2);
    cairo_rotate(cr, -M_PI / 2);
    text(cr, 0, 0, ylabel, 0.5, 0.5);
    cairo_restore(cr);
    cairo_set_font_size(cr, 14);
    text(cr, (p->x0 + p->x1) / 2, p->y0 - 8, title, 0.5, 1);
}

static void curve(cairo_t *cr, const panel *p, const series *s, const double *ys, int markers)
{
    int pen = 0;
    cairo_save(cr);
    cairo_rectangle(cr, p->x0, p->y0, p->x1 - p->x0, p->y1 - p->y0);
    cairo_clip(cr);
    for (size_t i = 0; i < s->n; i++) {
        double y = ys ? ys[i] : s->y[i];
        if (p->logy && !(y > 0)) {
            pen = 0;
            continue;
        }
        if (pen) cairo_line_to(cr, px(p, s->x[i]), py(p, y));
        else cairo_move_to(cr, px(p, s->x[i]), py(p, y));
        pen = 1;
    }
    cairo_stroke(cr);
    if (markers && s->n <= 200)
        for (size_t i = 0; i < s->n; i++) {
            double y = ys ? ys[i] : s->y[i];
            if (p->logy && !(y > 0)) continue;
            cairo_new_sub_path(cr);
            cairo_arc(cr, px(p, s->x[i]), py(p, y), 2.6, 0, 2 * M_PI);
            cairo_fill(cr);
        }
    cairo_restore(cr);
}

/* The nearest of 1, 2, 5 x 10^k below / above v > 0. */
static double log_floor(double v)
{
    double d = pow(10, floor(log10(v))), r = v / d;
    return (r >= 5 ? 5 : r >= 2 ? 2 : 1) * d;
}

static double log_ceil(double v)
{
    double d = pow(10, floor(log10(v))), r = v / d;
    return r <= 1.000001 ? d : (r <= 2 ? 2 : r <= 5 ? 5 : 10) * d;
}

static const double PALETTE[8][3] = {{0.12, 0.47, 0.71}, {0.84, 0.15, 0.16}, {0.17, 0.63, 0.17}, {1.00, 0.50, 0.05},
                                     {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29}, {0.89, 0.47, 0.76}, {0.09, 0.75, 0.81}};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct run_data {
    series loss, vloss, viou;
    double *avg; /* trailing mean of the training loss */
    int window;
} run_data;

typedef struct bytes {
    unsigned char *p;
    size_t n, cap;
} bytes;

static cairo_status_t to_mem(void *closure, const unsigned char *data, unsigned int length)
{
    bytes *buf = closure;
    size_t need = buf->n + length;
    if (need > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 65536;
        while (cap < need) cap *= 2;
        unsigned char *q = realloc(buf->p, cap);
        if (!q) return CAIRO_STATUS_NO_MEMORY;
        buf->p = q;
        buf->cap = cap;
    }
    memcpy(buf->p + buf->n, data, length);
    buf->n = need;
    return CAIRO_STATUS_SUCCESS;
}

/* right = 0: bottom-left corner (losses fall), 1: bottom-right (IoU rises) */
static void legend(cairo_t *cr, const panel *p, const char *const *labels, const double (*col)[3], const int *style, int n,
                   int right)
{
    cairo_set_font_size(cr, 12);
    double w = 0;
    for (int i = 0; i < n; i++) {
        cairo_text_extents_t e;
        cairo_text_extents(cr, labels[i], &e);
        if (e.x_advance > w) w = e.x_advance;
    }
    double h = 18, x = right ? p->x1 - w - 48 : p->x0 + 14, y = p->y1 - n * h - 10;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, x - 6, y - 4, w + 48, n * h + 6);
    cairo_fill(cr);
    for (int i = 0; i < n; i++) {
        double yy = y + i * h + h / 2;
        cairo_set_source_rgba(cr, col[i][0], col[i][1], col[i][2], style[i] == 3 ? 0.3 : 1);
        cairo_set_line_width(cr, style[i] == 3 ? 1 : 2);
        if (style[i] == 1) {
            double dash[2] = {6, 3};
            cairo_set_dash(cr, dash, 2, 0);
        }
        cairo_move_to(cr, x, yy);
        cairo_line_to(cr, x + 30, yy);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        if (style[i] == 1 || style[i] == 2) {
            cairo_arc(cr, x + 15, yy, 2.6, 0, 2 * M_PI);
            cairo_fill(cr);
        }
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        text(cr, x + 38, yy, labels[i], 0, 0.5);
    }
}

unet_status unet_plot_files(const unet_plot_run *runs, int nruns, const char *png_path, int width, int height)
{
    if (!runs || nruns < 1 || !png_path)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_plot_files: no run or no output path");
    if (nruns > 8) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "plotting %d runs: at most 8 fit on one chart", nruns);
    if (width <= 0 || height <= 0) width = 1200, height = 500;
    if (width < 400 || height < 250 || width > 8000 || height > 8000)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "picture size %dx%d: must be 400..8000 x 250..8000", width, height);
    run_data *rd = calloc((size_t)nruns, sizeof *rd);
    if (!rd) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
    unet_status st = UNET_OK;
    static const char *const tcols[] = {"loss"}, *const vcols[] = {"val_loss", "val_iou"};
    for (int r = 0; r < nruns && st == UNET_OK; r++) {
        st = read_log(runs[r].train_csv, "step,loss,pixel_accuracy,lr,image,seconds", tcols, 1, &rd[r].loss);
        series v[2] = {{0}};
        if (st == UNET_OK) st = read_log(runs[r].val_csv, "step,val_loss,val_pixel_accuracy,val_iou", vcols, 2, v);
        rd[r].vloss = v[0];
        rd[r].viou = v[1];
    }
    double xmax = 1, lmin = INFINITY, lmax = -INFINITY;
    size_t total = 0;
    for (int r = 0; r < nruns && st == UNET_OK; r++) {
        series *s = &rd[r].loss;
        total += s->n + rd[r].vloss.n;
        int w = (int)(s->n / 50);
        rd[r].window = w < 1 ? 1 : w > 1000 ? 1000 : w;
        rd[r].avg = malloc((s->n ? s->n : 1) * sizeof *rd[r].avg);
        if (!rd[r].avg) {
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
            break;
        }
        double acc = 0;
        for (size_t i = 0; i < s->n; i++) {
            acc += s->y[i];
            if (i >= (size_t)rd[r].window) acc -= s->y[i - (size_t)rd[r].window];
            size_t k = i + 1 < (size_t)rd[r].window ? i + 1 : (size_t)rd[r].window;
            rd[r].avg[i] = acc / (double)k;
        }
        /* the scale: every mean and validation value and the highest per-step
         * value; the lowest per-step values only down to their 1st percentile
         * (single near-zero steps would otherwise add decades of empty chart) */
        const series *all[2] = {s, &rd[r].vloss};
        for (int j = 0; j < 2; j++)
            for (size_t i = 0; i < all[j]->n; i++) {
                double v = j ? all[j]->y[i] : rd[r].avg[i];
                if (all[j]->x[i] > xmax) xmax = all[j]->x[i];
                if (v > 0 && v < lmin) lmin = v;
                if (all[j]->y[i] > lmax) lmax = all[j]->y[i];
            }
        double *sorted = malloc((s->n ? s->n : 1) * sizeof *sorted);
        if (!sorted) {
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
            break;
        }
        size_t np = 0;
        for (size_t i = 0; i < s->n; i++)
            if (s->y[i] > 0) sorted[np++] = s->y[i];
        if (np) {
            qsort(sorted, np, sizeof *sorted, cmp_double);
            if (sorted[np / 100] < lmin) lmin = sorted[np / 100];
        }
        free(sorted);
        for (size_t i = 0; i < rd[r].viou.n; i++)
            if (rd[r].viou.x[i] > xmax) xmax = rd[r].viou.x[i];
    }
    if (st == UNET_OK && total == 0)
        st = unet_seterr(UNET_ERR_DATA, "%s%s: the training log has no rows yet: nothing to draw", runs[0].train_csv,
                         nruns > 1 ? " (and the other runs)" : "");
    if (st == UNET_OK && !(lmax > 0)) st = unet_seterr(UNET_ERR_DATA, "%s: no positive loss to draw on a log scale", runs[0].train_csv);

    cairo_surface_t *sf = NULL;
    cairo_t *cr = NULL;
    bytes png = {0};
    if (st == UNET_OK) {
        sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
        cr = cairo_create(sf);
        cairo_set_source_rgb(cr, 0.97, 0.97, 0.97);
        cairo_paint(cr);
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
        double split = width * 0.58;
        panel L = {78, 40, split - 20, height - 52, 0, xmax, log_floor(lmin), log_ceil(lmax), 1};
        if (L.ymax <= L.ymin) L.ymax = L.ymin * 10;
        panel R = {split + 60, 40, width - 20, height - 52, 0, xmax, 0, 1, 0};
        axes(cr, &L, "loss (log scale)", "loss");
        axes(cr, &R, "validation IoU", "IoU");
        const char *labels[3 * 8] = {0};
        char lb[3 * 8][160];
        double col[3 * 8][3], rcol[8][3];
        int sty[3 * 8] = {0}, nl = 0, nr = 0;
        const char *rlabels[8];
        char rlb[8][160];
        int rsty[8];
        for (int r = 0; r < nruns; r++) {
            const double *ct = PALETTE[r], *cv = nruns == 1 ? PALETTE[1] : PALETTE[r];
            const char *name = runs[r].label ? runs[r].label : "";
            const char *sep = nruns > 1 ? ": " : "";
            if (nruns == 1) name = "";
            series *s = &rd[r].loss;
            if (rd[r].window > 1) {
                cairo_set_source_rgba(cr, ct[0], ct[1], ct[2], 0.3);
                cairo_set_line_width(cr, 1);
                curve(cr, &L, s, NULL, 0);
            }
            cairo_set_source_rgb(cr, ct[0], ct[1], ct[2]);
            cairo_set_line_width(cr, 2);
            curve(cr, &L, s, rd[r].avg, 0);
            if (rd[r].window > 1) {
                snprintf(lb[nl], sizeof lb[nl], "%s%straining loss, per step", name, sep);
                memcpy(col[nl], ct, sizeof col[nl]), sty[nl] = 3, nl++;
                snprintf(lb[nl], sizeof lb[nl], "%s%straining loss, mean of %d steps", name, sep, rd[r].window);
            } else {
                snprintf(lb[nl], sizeof lb[nl], "%s%straining loss", name, sep);
            }
            memcpy(col[nl], ct, sizeof col[nl]), sty[nl] = 0, nl++;
            if (rd[r].vloss.n) {
                cairo_set_source_rgb(cr, cv[0], cv[1], cv[2]);
                double dash[2] = {6, 3};
                cairo_set_dash(cr, dash, 2, 0);
                curve(cr, &L, &rd[r].vloss, NULL, 1);
                cairo_set_dash(cr, NULL, 0, 0);
                snprintf(lb[nl], sizeof lb[nl], "%s%svalidation loss", name, sep);
                memcpy(col[nl], cv, sizeof col[nl]), sty[nl] = 1, nl++;
                curve(cr, &R, &rd[r].viou, NULL, 1);
                snprintf(rlb[nr], sizeof rlb[nr], "%s%svalidation IoU", name, sep);
                memcpy(rcol[nr], cv, sizeof rcol[nr]), rsty[nr] = 2, nr++;
            }
        }
        for (int i = 0; i < nl; i++) labels[i] = lb[i];
        for (int i = 0; i < nr; i++) rlabels[i] = rlb[i];
        legend(cr, &L, labels, (const double(*)[3])col, sty, nl, 0);
        if (nr) legend(cr, &R, rlabels, (const double(*)[3])rcol, rsty, nr, 1);
        else {
            cairo_set_source_rgb(cr, 0.4, 0.4, 0.4);
            cairo_set_font_size(cr, 13);
            text(cr, (R.x0 + R.x1) / 2, (R.y0 + R.y1) / 2, "no validation yet", 0.5, 0.5);
        }
        cairo_surface_flush(sf);
        cairo_status_t cs = cairo_status(cr);
        if (cs == CAIRO_STATUS_SUCCESS) cs = cairo_surface_write_to_png_stream(sf, to_mem, &png);
        if (cs != CAIRO_STATUS_SUCCESS)
            st = unet_seterr(UNET_ERR_INTERNAL, "drawing %s: cairo: %s", png_path, cairo_status_to_string(cs));
        else st = unet_write_file_atomic(png_path, png.p, png.n);
    }
    if (cr) cairo_destroy(cr);
    if (sf) cairo_surface_destroy(sf);
    free(png.p);
    for (int r = 0; r < nruns; r++) {
        series_free(&rd[r].loss);
        series_free(&rd[r].vloss);
        series_free(&rd[r].viou);
        free(rd[r].avg);
    }
    free(rd);
    return st;
}

unet_status unet_plot_runs(const char *const *dirs, int nruns, const char *png_path, int width, int height)
{
    if (!dirs || nruns < 1 || !png_path) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_plot_runs: no run folder");
    if (nruns > 8) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "plotting %d runs: at most 8 fit on one chart", nruns);
    unet_plot_run r[8];
    char paths[8][2][4200], labels[8][256];
    for (int i = 0; i < nruns; i++) {
        if (!dirs[i] || strlen(dirs[i]) > 4000)
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_plot_runs: run folder %d: empty or too long", i);
        snprintf(paths[i][0], sizeof paths[i][0], "%s/train_log.csv", dirs[i]);
        snprintf(paths[i][1], sizeof paths[i][1], "%s/val_log.csv", dirs[i]);
        /* label: the folder's last non-empty component */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", dirs[i]);
        size_t l = strlen(tmp);
        while (l > 1 && tmp[l - 1] == '/') tmp[--l] = '\0';
        const char *b = strrchr(tmp, '/');
        snprintf(labels[i], sizeof labels[i], "%s", b && b[1] ? b + 1 : tmp);
        r[i] = (unet_plot_run){labels[i], paths[i][0], paths[i][1]};
    }
    return unet_plot_files(r, nruns, png_path, width, height);
}
