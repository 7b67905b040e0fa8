/* MPI glue of the CLI (`mpirun -np N unetcl train|infer ...`). The library
 * never links MPI: it gets the collectives it needs as a unet_dist (train.h).
 * Without MPI (UNETCL_HAVE_MPI undefined) every process is rank 0 of 1, and a
 * process started by a launcher with more than one process refuses to run. */
#ifndef UNETCL_CLI_DIST_H
#define UNETCL_CLI_DIST_H

#include "unetcl/train.h"

/* Starts MPI when the process was started by an MPI launcher (mpirun, srun)
 * as one of several. Returns 0, or an exit code after printing why. */
int cli_dist_init(int *argc, char ***argv, const char *cmd);
void cli_dist_finalize(void);

/* This process's rank and the collectives (size 1 without a launcher). */
const unet_dist *cli_dist(void);
/* Rank among the processes of this host (0 without a launcher). */
int cli_dist_local_rank(void);

/* The exit code every rank returns: rc if all ranks had rc == 0, else the
 * first failing rank's (with a line naming it on the others). Collective. */
int cli_dist_agree_rc(const unet_dist *d, int rc, const char *cmd);

#endif
