/* Trains a U-Net on a folder of images and labels with a configuration file,
 * printing the loss every 10 steps; stops early when the loss drops below a
 * target. Usage: train CONFIG.ini [IMAGES LABELS [STEPS]] */
#include <stdio.h>
#include <stdlib.h>
#include <unetcl/unetcl.h>

static int on_step(const unet_train_progress *p, void *user)
{
    double target = *(const double *)user;
    if (p->step % 10 == 0 || p->step == p->total) printf("step %d/%d  loss %.4f\n", p->step, p->total, p->loss);
    return p->loss < target; /* non-zero: checkpoint and stop */
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONFIG.ini [IMAGES LABELS [STEPS]]\n", argv[0]);
        return 2;
    }
    unet_config *cfg = NULL;
    char set[4200];
    unet_status st = unet_config_new(&cfg);
    if (st == UNET_OK) st = unet_config_load(cfg, argv[1]);
    if (st == UNET_OK && argc > 3) {
        snprintf(set, sizeof set, "data.train_images=%s", argv[2]);
        st = unet_config_set(cfg, set);
        snprintf(set, sizeof set, "data.train_labels=%s", argv[3]);
        if (st == UNET_OK) st = unet_config_set(cfg, set);
    }
    if (st == UNET_OK && argc > 4) {
        snprintf(set, sizeof set, "train.iterations=%s", argv[4]);
        st = unet_config_set(cfg, set);
    }
    if (st == UNET_OK) st = unet_config_validate(cfg);
    double target = 1e-3;
    unet_train_options o = {0};
    o.log = stderr;
    o.quiet = 1;
    o.on_step = on_step;
    o.user = &target;
    unet_train_summary s;
    if (st == UNET_OK) st = unet_train(cfg, &o, &s);
    unet_config_free(cfg);
    if (st != UNET_OK && st != UNET_ERR_INTERRUPTED) {
        fprintf(stderr, "train: %s\n", unet_last_error());
        return 1;
    }
    printf("trained %d steps, final loss %.4f\n", s.steps_done, s.last_loss);
    return 0;
}
