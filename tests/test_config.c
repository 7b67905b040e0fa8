/* Configuration: defaults, INI parsing, errors with file:line, overrides,
 * INI and JSON round trips, the shipped presets. No OpenCL needed. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char g_dir[256];

static const char *write_tmp(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_defaults(void **state)
{
    (void)state;
    unet_config c;
    unet_config_default(&c);
    assert_int_equal(c.model.in_channels, 1);
    assert_int_equal(c.model.classes, 2);
    assert_int_equal(c.model.depth, 5);
    assert_int_equal(c.model.base_channels, 64);
    assert_true(c.model.dropout == 0.5);
    assert_int_equal(c.train.tile, 572);
    assert_int_equal(c.device.precision, UNET_PRECISION_FP32);
    assert_true(c.train.momentum == 0.99);
    assert_true(c.train.lr == 0.01);
    assert_int_equal(c.augment.elastic_grid, 3);
    assert_true(c.augment.elastic_sigma == 10.0);
    assert_true(c.weights.w0 == 10.0);
    assert_true(c.weights.sigma == 5.0);
    assert_int_equal(c.data.label_type, UNET_LABEL_INSTANCES);
    assert_int_equal(c.data.foreground_value, 255);
    assert_true(c.data.val_fraction == 0.2);
    assert_string_equal(c.device.select, "auto");
    assert_string_equal(c.output.dir, "runs/unet");
    assert_int_equal(c.infer.outputs, UNET_OUT_PROB | UNET_OUT_MASK | UNET_OUT_INSTANCES | UNET_OUT_OVERLAY);
    assert_int_equal(c.train.seed, 1);
    TU_OK(unet_config_validate(&c));
    /* an empty file and a comments-only file change nothing */
    unet_config d;
    unet_config_default(&d);
    TU_OK(unet_config_load(&d, write_tmp("empty.ini", "")));
    TU_OK(unet_config_load(&d, write_tmp("comments.ini", "; a\n# b\n\n   ; c\n[train]\n")));
    assert_true(unet_config_equal(&c, &d));
}

static void test_good_file(void **state)
{
    (void)state;
    char longpath[400];
    memset(longpath, 'p', sizeof longpath);
    memcpy(longpath, "/data/", 6);
    longpath[300] = '\0'; /* longer than inih's 200-byte line limit */
    char text[4096];
    snprintf(text, sizeof text,
             "\xEF\xBB\xBF; preset\r\n"
             "[model]\r\n"
             "depth = 4\r\n"
             "base_channels=16 ; inline comment\n"
             "dropout = 0.25   # another\n"
             "upconv_relu = No\n"
             "  [ data ]  ; spaced header\n"
             "train_images = /my data/imgs with spaces/*.png\n"
             "train_labels = \"/q/ with ; and # \\\"quote\\\" \"\n"
             "val_images = %s\n"
             "val_labels = a#b;c\n"
             "label_type = BINARY\n"
             "normalize = fixed\n"
             "norm_mean = 0.5\n"
             "norm_std = 2.5e-1\n"
             "invert_labels = on\n"
             "[train]\n"
             "lr = 1e-3\n"
             "lr_schedule = poly\n"
             "seed = 18446744073709551615\n"
             "iterations = 200\n"
             "[augment]\n"
             "rotate = 0\n"
             "gray = off\n"
             "[infer]\n"
             "outputs = mask, overlay\n"
             "tile = 0\n"
             "[device]\n"
             "cache_dir =\n"
             "precision = FP16\n"
             "select = cpu\n",
             longpath);
    unet_config c;
    unet_config_default(&c);
    TU_OK(unet_config_load(&c, write_tmp("good.ini", text)));
    assert_int_equal(c.model.depth, 4);
    assert_int_equal(c.model.base_channels, 16);
    assert_true(c.model.dropout == 0.25);
    assert_int_equal(c.model.upconv_relu, 0);
    assert_string_equal(c.data.train_images, "/my data/imgs with spaces/*.png");
    assert_string_equal(c.data.train_labels, "/q/ with ; and # \"quote\" ");
    assert_string_equal(c.data.val_images, longpath);
    assert_string_equal(c.data.val_labels, "a#b;c");
    assert_int_equal(c.data.label_type, UNET_LABEL_BINARY);
    assert_int_equal(c.data.normalize, UNET_NORM_FIXED);
    assert_true(c.data.norm_mean == 0.5);
    assert_true(c.data.norm_std == 0.25);
    assert_int_equal(c.data.invert_labels, 1);
    assert_true(c.train.lr == 1e-3);
    assert_int_equal(c.train.lr_schedule, UNET_LR_POLY);
    assert_true(c.train.seed == UINT64_MAX);
    assert_int_equal(c.train.iterations, 200);
    assert_int_equal(c.augment.rotate, 0);
    assert_int_equal(c.augment.gray, 0);
    assert_int_equal(c.augment.elastic, 1); /* untouched default */
    assert_int_equal(c.infer.outputs, UNET_OUT_MASK | UNET_OUT_OVERLAY);
    assert_string_equal(c.device.cache_dir, "");
    assert_string_equal(c.device.select, "cpu");
    assert_int_equal(c.device.precision, UNET_PRECISION_FP16);
    assert_int_equal(c.train.tile, 572);
    TU_OK(unet_config_validate(&c));
}

typedef struct err_case {
    const char *text;
    int line;
    const char *needle; /* substring of the message after "file:line: " */
} err_case;

static void test_errors(void **state)
{
    (void)state;
    static const err_case cases[] = {
        {"[model]\ndepth = 4\n[modle]\n", 3, "unknown section [modle]; did you mean [model]"},
        {"[train]\nlr = 0.1\n\n; c\nlearning_rate = 0.1\n", 5, "unknown key 'learning_rate'"},
        {"[train]\nlrr = 0.1\n", 2, "did you mean 'lr'"},
        {"[model]\ntile = 572\n", 2, "'tile' belongs in [train]"},
        {"[train]\nmomentum = 0.9x\n", 2, "malformed number \"0.9x\""},
        {"[train]\n\nlr = 1e999\n", 3, "not finite or too large"},
        {"[train]\nlr = nan\n", 2, "not finite"},
        {"[train]\nlr = inf\n", 2, "not finite"},
        {"[train]\nlr =\n", 2, "empty value"},
        {"[device]\nprecision = fp8\n", 2, "fp32, fp16"},
        {"[train]\nlr = ; just a comment\n", 2, "empty value"},
        {"[train]\nlr = -0.01\n", 2, "out of range"},
        {"[train]\nlr = 0\n", 2, "must be a number > 0"},
        {"[model]\ndropout = 1\n", 2, "out of range"},
        {"[model]\ndropout = 1.5\n", 2, "out of range"},
        {"[model]\ndepth = 99\n", 2, "an integer from 2 to 8"},
        {"[model]\ndepth = 4.5\n", 2, "\"4.5\" is not an integer"},
        {"[model]\ndepth = four\n", 2, "malformed integer"},
        {"[train]\niterations = 99999999999999999999\n", 2, "too large"},
        {"[train]\nseed = -1\n", 2, "malformed unsigned"},
        {"[train]\nseed = 18446744073709551616\n", 2, "does not fit in 64 bits"},
        {"[train]\nmomentum = 0.9\nlr = 0.1\nmomentum = 0.95\n", 4, "duplicate key 'momentum' in [train] (first set on line 2)"},
        {"[train]\nlr = 0.1\n[model]\ndepth=4\n[train]\nlr = 0.2\n", 6, "duplicate key 'lr'"},
        {"[augment]\nflip = maybe\n", 2, "not a boolean"},
        {"[data]\nlabel_type = masks\n", 2, "not one of: instances, binary, classes"},
        {"[infer]\noutputs = prob,heatmap\n", 2, "\"heatmap\" is not one of"},
        {"[infer]\noutputs = ,\n", 2, "empty list"},
        {"lr = 0.1\n[train]\n", 1, "before any [section]"},
        {"[train]\nlr 0.1\n", 2, "expected 'key = value'"},
        {"[train\nlr = 0.1\n", 1, "without ']'"},
        {"[train] x\n", 1, "unexpected text after the section header"},
        {"[data]\ntrain_images = \"abc\n", 2, "unterminated quoted value"},
        {"[data]\ntrain_images = \"abc\" def\n", 2, "unexpected text after the closing quote"},
        {"[train]\n = 3\n", 2, "missing key name"},
        {"[weights]\nsigma = 0\n", 2, "out of range"},
        {"[augment]\nrotate_max_deg = 181\n", 2, "out of range"},
        {"[data]\nnorm_std = -1\n", 2, "out of range"},
        {"[train]\nlr = 0.1\nlr_gamma = 1.0000001\n", 3, "out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "err%02zu.ini", i);
        const char *path = write_tmp(name, cases[i].text);
        unet_config c, d;
        unet_config_default(&c);
        unet_config_default(&d);
        unet_clear_error();
        unet_status st = unet_config_load(&c, path);
        const char *msg = unet_last_error();
        char want[600];
        snprintf(want, sizeof want, "%s:%d: ", path, cases[i].line);
        if (st != UNET_ERR_CONFIG || strncmp(msg, want, strlen(want)) != 0 || !strstr(msg, cases[i].needle))
            fail_msg("case %zu (%s): status %d, message \"%s\"; wanted prefix \"%s\" and \"%s\"", i,
                     cases[i].text, (int)st, msg, want, cases[i].needle);
        assert_true(unet_config_equal(&c, &d)); /* unchanged on error */
    }
    /* a NUL byte (binary file) */
    const char bin[] = "[train]\nlr = 0.1\n\x89PNG\0\0\n";
    char path[512];
    snprintf(path, sizeof path, "%s/bin.ini", g_dir);
    FILE *f = fopen(path, "wb");
    fwrite(bin, 1, sizeof bin - 1, f);
    fclose(f);
    unet_config c;
    unet_config_default(&c);
    assert_int_equal(unet_config_load(&c, path), UNET_ERR_CONFIG);
    assert_non_null(strstr(unet_last_error(), ":3: NUL byte"));
    /* missing file */
    snprintf(path, sizeof path, "%s/does-not-exist.ini", g_dir);
    assert_int_equal(unet_config_load(&c, path), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), "does-not-exist.ini"));
    /* parse_string uses the given name */
    assert_int_equal(unet_config_parse_string(&c, "[x]\n", "preset"), UNET_ERR_CONFIG);
    assert_non_null(strstr(unet_last_error(), "preset:1: unknown section [x]"));
}

static void test_overrides(void **state)
{
    (void)state;
    unet_config c, d;
    unet_config_default(&c);
    TU_OK(unet_config_set(&c, "train.lr=0.001"));
    assert_true(c.train.lr == 0.001);
    TU_OK(unet_config_set(&c, " model.depth = 3 "));
    assert_int_equal(c.model.depth, 3);
    TU_OK(unet_config_set(&c, "data.train_images=/a b/c;d#e.tif"));
    assert_string_equal(c.data.train_images, "/a b/c;d#e.tif");
    TU_OK(unet_config_set(&c, "augment.enabled=no"));
    assert_int_equal(c.augment.enabled, 0);
    TU_OK(unet_config_set(&c, "infer.outputs=instances"));
    assert_int_equal(c.infer.outputs, UNET_OUT_INSTANCES);
    TU_OK(unet_config_set(&c, "output.checkpoint="));
    assert_string_equal(c.output.checkpoint, "");
    TU_OK(unet_config_set(&c, "train.seed=0xdeadbeefcafef00d"));
    assert_true(c.train.seed == 0xdeadbeefcafef00dULL);

    static const struct {
        const char *ov, *needle;
    } bad[] = {
        {"train.lr=abc", "override \"train.lr=abc\": [train] lr: malformed number"},
        {"train.lr=-1", "override \"train.lr=-1\": [train] lr: -1 is out of range"},
        {"model.dropout=1", "override \"model.dropout=1\""},
        {"trian.lr=1", "unknown section [trian]; did you mean [train]"},
        {"train.nokey=1", "override \"train.nokey=1\": unknown key 'nokey' in [train]"},
        {"trainlr=1", "expected section.key=value"},
        {"train.lr", "expected section.key=value"},
        {".lr=1", "expected section.key=value"},
        {"train.=1", "expected section.key=value"},
        {"train.tile=", "override \"train.tile=\": [train] tile: empty value"},
        {"data.train_images=a\tb\nc", "control character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = c;
        unet_status st = unet_config_set(&d, bad[i].ov);
        if (st != UNET_ERR_CONFIG || !strstr(unet_last_error(), bad[i].needle))
            fail_msg("override %s: status %d, message \"%s\"", bad[i].ov, (int)st, unet_last_error());
        assert_true(unet_config_equal(&c, &d));
    }
}

static void test_validate(void **state)
{
    (void)state;
    unet_config c;
    unet_config_default(&c);
    TU_OK(unet_config_set(&c, "data.val_images=v/*.png"));
    assert_int_equal(unet_config_validate(&c), UNET_ERR_CONFIG);
    assert_non_null(strstr(unet_last_error(), "val_labels is empty"));
    TU_OK(unet_config_set(&c, "data.val_labels=vl/*.png"));
    TU_OK(unet_config_validate(&c));
    TU_OK(unet_config_set(&c, "data.train_labels=l/*.png"));
    assert_int_equal(unet_config_validate(&c), UNET_ERR_CONFIG);
    assert_non_null(strstr(unet_last_error(), "train_images is empty"));
    TU_OK(unet_config_set(&c, "data.train_images=i/*.png"));
    TU_OK(unet_config_validate(&c));
    TU_OK(unet_config_set(&c, "model.classes=3"));
    assert_int_equal(unet_config_validate(&c), UNET_ERR_CONFIG);
    assert_non_null(strstr(unet_last_error(), "classes = 3"));
    TU_OK(unet_config_set(&c, "data.label_type=classes"));
    TU_OK(unet_config_validate(&c));
}

/* A configuration where every field differs from the default, with awkward
 * strings and reals that need 17 digits. */
static void odd_config(unet_config *c)
{
    unet_config_default(c);
    c->model.in_channels = 3;
    c->model.classes = 4;
    c->model.depth = 3;
    c->model.base_channels = 7;
    c->model.dropout = 0.1 + 0.2; /* 0.30000000000000004 */
    c->model.upconv_relu = 0;
    strcpy(c->data.train_images, " leading space/and trailing ");
    strcpy(c->data.train_labels, "quote\"and\\backslash");
    strcpy(c->data.val_images, "semi ; hash # path");
    strcpy(c->data.val_labels, "\"starts with quote");
    c->data.val_fraction = 1.0 / 3.0;
    c->data.label_type = UNET_LABEL_CLASSES;
    c->data.foreground_value = 1;
    c->data.normalize = UNET_NORM_FIXED;
    c->data.norm_mean = -1e-300;
    c->data.norm_std = 123456.789e10;
    c->data.invert_labels = 1;
    c->train.tile = 188;
    c->train.iterations = 77;
    c->train.lr = 3e-7;
    c->train.momentum = 0.0;
    c->train.weight_decay = 5e-4;
    c->train.lr_schedule = UNET_LR_STEP;
    c->train.lr_step = 11;
    c->train.lr_gamma = 0.5;
    c->train.lr_power = 2.0;
    c->train.seed = UINT64_MAX - 1; /* beyond 2^53 */
    c->train.val_every = 0;
    c->train.checkpoint_every = 0;
    c->train.log_every = 1;
    c->augment.enabled = 0;
    c->augment.elastic = 0;
    c->augment.elastic_grid = 5;
    c->augment.elastic_sigma = 0.0;
    c->augment.rotate = 0;
    c->augment.rotate_max_deg = 90.0;
    c->augment.flip = 0;
    c->augment.shift = 2.5;
    c->augment.gray = 0;
    c->augment.brightness = 0.0;
    c->augment.contrast = 0.999;
    c->augment.gamma = 0.25;
    c->augment.noise_std = 0.0;
    c->weights.enabled = 0;
    c->weights.w0 = 0.0;
    c->weights.sigma = 0.1;
    c->weights.class_balance = 0;
    c->weights.balance_from = UNET_BALANCE_DATASET;
    c->weights.border = 0;
    strcpy(c->device.select, "gpu:1");
    strcpy(c->device.cache_dir, "/tmp/c a c h e");
    c->device.no_cache = 1;
    strcpy(c->infer.model, "m.safetensors");
    strcpy(c->infer.input, "in/*.tif");
    strcpy(c->infer.output, "out dir");
    c->infer.tile = 700;
    c->infer.tta = 1;
    c->infer.outputs = UNET_OUT_PROB | UNET_OUT_OVERLAY;
    strcpy(c->output.dir, "runs/x");
    strcpy(c->output.checkpoint, "ck.safetensors");
    strcpy(c->output.log_csv, "log.csv");
}

static char *ini_text(const unet_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    TU_OK(unet_config_to_ini(c, f));
    fclose(f);
    return buf;
}

static void test_ini_round_trip(void **state)
{
    (void)state;
    unet_config a, b, def;
    odd_config(&a);
    unet_config_default(&def);
    assert_false(unet_config_equal(&a, &def));
    char *t1 = ini_text(&a);
    unet_config_default(&b);
    TU_OK(unet_config_load(&b, write_tmp("rt.ini", t1)));
    assert_true(unet_config_equal(&a, &b));
    assert_string_equal(b.data.train_images, a.data.train_images);
    assert_true(b.model.dropout == 0.1 + 0.2);
    char *t2 = ini_text(&b);
    assert_string_equal(t1, t2);
    /* the defaults round-trip too */
    char *t3 = ini_text(&def);
    odd_config(&b);
    TU_OK(unet_config_parse_string(&b, t3, "defaults"));
    assert_true(unet_config_equal(&b, &def));
    free(t1);
    free(t2);
    free(t3);
}

static void test_json_round_trip(void **state)
{
    (void)state;
    unet_config a, b, def;
    odd_config(&a);
    unet_config_default(&def);
    char *j = NULL;
    TU_OK(unet_config_to_json(&a, &j));
    assert_non_null(strstr(j, "\"seed\":\"18446744073709551614\""));
    b = def;
    TU_OK(unet_config_from_json(&b, j));
    assert_true(unet_config_equal(&a, &b));
    free(j);
    TU_OK(unet_config_to_json(&def, &j));
    odd_config(&b);
    TU_OK(unet_config_from_json(&b, j));
    assert_true(unet_config_equal(&b, &def));
    free(j);

    /* partial objects keep the other values; numbers as strings work */
    b = def;
    TU_OK(unet_config_from_json(&b, "{\"train\":{\"lr\":0.5,\"tile\":\"188\",\"seed\":7},\"model\":{}}"));
    assert_true(b.train.lr == 0.5);
    assert_int_equal(b.train.tile, 188);
    assert_true(b.train.seed == 7);
    assert_int_equal(b.model.depth, 5);

    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"[1,2]", "not a JSON object"},
        {"{\"train\":", "not a JSON object"},
        {"{\"nope\":{}}", "unknown section \"nope\""},
        {"{\"train\":3}", "section \"train\" is not an object"},
        {"{\"train\":{\"lrr\":1}}", "unknown key \"lrr\""},
        {"{\"train\":{\"lr\":\"abc\"}}", "[train] lr: malformed number"},
        {"{\"train\":{\"lr\":-1}}", "[train] lr: -1 is out of range"},
        {"{\"train\":{\"tile\":1.5}}", "[train] tile: \"1.5\" is not an integer"},
        {"{\"train\":{\"tile\":null}}", "expected a string, number or boolean"},
        {"{\"train\":{\"lr\":0.1,\"lr\":0.2}}", "duplicate key \"lr\""},
        {"{\"augment\":{\"flip\":2}}", "not a boolean"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = def;
        unet_status st = unet_config_from_json(&b, bad[i].json);
        if (st != UNET_ERR_CONFIG || !strstr(unet_last_error(), bad[i].needle))
            fail_msg("json %s: status %d, message \"%s\"", bad[i].json, (int)st, unet_last_error());
        assert_true(unet_config_equal(&b, &def));
    }
}

/* Every shipped preset in configs/ loads and validates. */
static void test_presets(void **state)
{
    (void)state;
    const char *src = getenv("UNETCL_SOURCE_DIR");
    if (!src) skip();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/configs", src);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".ini") != 0) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unet_config c;
        unet_config_default(&c);
        TU_OK(unet_config_load(&c, path));
        TU_OK(unet_config_validate(&c));
        if (strcmp(e->d_name, "small.ini") == 0) {
            assert_true(c.model.depth <= 4);
            assert_true(c.model.base_channels <= 16);
            assert_true(c.train.tile <= 252);
        }
        if (strcmp(e->d_name, "isbi2012.ini") == 0) {
            assert_int_equal(c.train.tile, 572);
            assert_true(c.train.momentum == 0.99);
            assert_int_equal(c.model.depth, 5);
            assert_int_equal(c.model.base_channels, 64);
        }
        n++;
    }
    closedir(d);
    assert_true(n >= 3);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/unet_test_config_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_errors),         cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_validate),       cmocka_unit_test(test_ini_round_trip),
        cmocka_unit_test(test_json_round_trip), cmocka_unit_test(test_presets),
    };
    int rc = cmocka_run_group_tests_name("config", tests, NULL, NULL);
    /* remove the temporary files */
    DIR *d = opendir(g_dir);
    if (d) {
        struct dirent *e;
        char p[1024];
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(g_dir);
    return rc;
}
