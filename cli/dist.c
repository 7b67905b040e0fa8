/* MPI glue of the CLI: see dist.h. */
#include "dist.h"
#include "unetcl/unetcl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef UNETCL_HAVE_MPI
#include <mpi.h>
#endif

/* Launched as one of several processes? (Open MPI, PMIx and PMI launchers) */
static int launcher_size(void)
{
    const char *v[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        const char *s = getenv(v[i]);
        if (s && atoi(s) > 0) return atoi(s);
    }
    return 1;
}

static unet_dist g_dist = {0, 1, NULL, NULL, NULL};
static int g_local_rank;
const unet_dist *cli_dist(void) { return &g_dist; }
int cli_dist_local_rank(void) { return g_local_rank; }

#ifdef UNETCL_HAVE_MPI
static int g_mpi;

static unet_status mpi_fail(int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return unet_seterr(UNET_ERR_IO, "%s failed: %s (MPI); check the network between the ranks", what, msg);
}

static unet_status mpi_allgather(const void *mine, size_t bytes, void *all, void *user)
{
    (void)user;
    if (bytes > (size_t)1 << 30) return unet_seterr(UNET_ERR_INTERNAL, "allgather of %zu bytes", bytes);
    int rc = MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? UNET_OK : mpi_fail(rc, "MPI_Allgather");
}

/* Sum over ranks in rank order, the same bits on every rank and in every
 * run: a reduce-scatter by hand (MPI_Alltoallv: rank q receives slice q of
 * every rank's buffer), slice q summed by rank q as ((b0 + b1) + b2) + ...,
 * then MPI_Allgatherv of the summed slices. MPI_Allreduce promises the same
 * result on every rank but not one order of additions across runs or
 * process counts (its algorithm depends on the message size and the
 * network); here the order is fixed by the code. Traffic per rank
 * 2 (N-1)/N x the buffer, as a ring allreduce. */
static unet_status mpi_sum(float *buf, size_t n, void *user)
{
    (void)user;
    int N, r;
    MPI_Comm_size(MPI_COMM_WORLD, &N);
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    if (n > (size_t)0x7fffffff) return unet_seterr(UNET_ERR_INTERNAL, "sum of %zu floats over MPI", n);
    int *cnt = malloc(4 * (size_t)N * sizeof *cnt);
    size_t mine = n * (size_t)(r + 1) / (size_t)N - n * (size_t)r / (size_t)N;
    float *recv = malloc((mine ? mine : 1) * (size_t)N * sizeof *recv);
    /* a failed allocation still takes part (with nothing received) so that no rank waits forever */
    int ok = cnt && recv, rc = MPI_SUCCESS;
    int all_ok = 0;
    rc = MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS || !all_ok) {
        free(cnt);
        free(recv);
        return rc != MPI_SUCCESS ? mpi_fail(rc, "MPI_Allreduce")
                                 : unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the gradient sum (%zu floats) on "
                                                                       "a rank", n);
    }
    int *dis = cnt + N, *rcnt = cnt + 2 * N, *rdis = cnt + 3 * N;
    for (int q = 0; q < N; q++) {
        dis[q] = (int)(n * (size_t)q / (size_t)N);
        cnt[q] = (int)(n * (size_t)(q + 1) / (size_t)N) - dis[q];
        rcnt[q] = (int)mine;
        rdis[q] = (int)mine * q;
    }
    rc = MPI_Alltoallv(buf, cnt, dis, MPI_FLOAT, recv, rcnt, rdis, MPI_FLOAT, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS) {
        float *out = buf + dis[r];
        for (size_t i = 0; i < mine; i++) {
            float s = recv[i];
            for (int q = 1; q < N; q++) s += recv[(size_t)q * mine + i];
            out[i] = s;
        }
        rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cnt, dis, MPI_FLOAT, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) {
            free(cnt);
            free(recv);
            return mpi_fail(rc, "MPI_Allgatherv");
        }
    }
    free(cnt);
    free(recv);
    return rc == MPI_SUCCESS ? UNET_OK : mpi_fail(rc, "MPI_Alltoallv");
}
#endif

int cli_dist_init(int *argc, char ***argv, const char *cmd)
{
    unet_dist *d = &g_dist;
    int *local_rank = &g_local_rank;
    int n = launcher_size();
#ifdef UNETCL_HAVE_MPI
    if (n <= 1 && !getenv("PMIX_RANK")) return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "unetcl %s: MPI_Init failed: start it with mpirun/srun of the Open MPI it was built with\n", cmd);
        return 1;
    }
    g_mpi = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    if (d->size == 1) return 0;
    /* rank among the processes of this host: one GPU each ([device] select = gpu) */
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
        MPI_Comm_rank(local, local_rank);
        MPI_Comm_free(&local);
    } else if (getenv("OMPI_COMM_WORLD_LOCAL_RANK"))
        *local_rank = atoi(getenv("OMPI_COMM_WORLD_LOCAL_RANK"));
    d->allgather = mpi_allgather;
    d->sum = mpi_sum;
    return 0;
#else
    (void)argc;
    (void)argv;
    (void)d;
    (void)local_rank;
    if (n <= 1) return 0;
    fprintf(stderr,
            "unetcl %s: started as one of %d processes (mpirun/srun), but this unetcl was built without MPI: each "
            "process would run alone and they would overwrite each other's files. Install Open MPI "
            "(libopenmpi-dev) and rebuild (cmake -DUNETCL_MPI=ON), or run one process.\n",
            cmd, n);
    return 2;
#endif
}

void cli_dist_finalize(void)
{
#ifdef UNETCL_HAVE_MPI
    if (g_mpi) MPI_Finalize();
    g_mpi = 0;
#endif
}

int cli_dist_agree_rc(const unet_dist *d, int rc, const char *cmd)
{
    if (d->size <= 1) return rc;
    int *all = calloc((size_t)d->size, sizeof *all);
    if (!all || d->allgather(&rc, sizeof rc, all, d->user) != UNET_OK) {
        fprintf(stderr, "unetcl %s (rank %d): %s\n", cmd, d->rank, all ? unet_last_error() : "out of host memory");
        free(all);
        return rc ? rc : 1;
    }
    for (int q = 0; q < d->size; q++)
        if (all[q] != 0) {
            if (rc == 0)
                fprintf(stderr, "unetcl %s (rank %d): rank %d of %d failed (exit code %d; its message is above)\n",
                        cmd, d->rank, q, d->size, all[q]);
            int r = rc ? rc : all[q];
            free(all);
            return r;
        }
    free(all);
    return rc;
}
