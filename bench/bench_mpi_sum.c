/* The gradient sum of data-parallel training (cli/dist.c: reduce-scatter by
 * Alltoallv, slices added in rank order, Allgatherv) against MPI_Allreduce:
 * time per sum of n floats (default 31,030,658: the paper network) and a
 * check that the result is bitwise the sum in rank order ((v0 + v1) + v2 ...)
 * on every rank. Run: mpirun -np N bench_mpi_sum [n] [repetitions] */
#include "../cli/dist.h"  /* the CLI's MPI layer, itself on the public API */
#include "unetcl/unetcl.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static float value(int rank, size_t i)
{
    /* values of mixed magnitude and sign, so that the order of additions matters */
    uint32_t h = (uint32_t)(i * 2654435761u) ^ (uint32_t)(rank * 40503u + 7u);
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    return ((float)(h & 0xFFFFFF) / 16777216.0f - 0.5f) * (float)(1 << (h >> 28));
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 31030658;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    if (cli_dist_init(&argc, &argv, "bench_mpi_sum") != 0) return 1;
    const unet_dist *d = cli_dist();
    if (d->size < 2) {
        fprintf(stderr, "bench_mpi_sum: run it with mpirun -np N (N >= 2)\n");
        cli_dist_finalize();
        return 2;
    }
    float *buf = malloc(n * sizeof *buf), *ref = malloc(n * sizeof *ref);
    if (!buf || !ref) return 1;
    int bad = 0;
    double t_sum = 0, t_mpi = 0;
    for (int r = 0; r < reps; r++) {
        for (size_t i = 0; i < n; i++) buf[i] = value(d->rank, i);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now();
        if (d->sum(buf, n, d->user) != UNET_OK) {
            fprintf(stderr, "rank %d: %s\n", d->rank, unet_last_error());
            return 1;
        }
        MPI_Barrier(MPI_COMM_WORLD);
        t_sum += now() - t0;
        if (r == 0)
            for (size_t i = 0; i < n; i++) {
                float s = value(0, i);
                for (int q = 1; q < d->size; q++) s += value(q, i);
                if (memcmp(&s, &buf[i], sizeof s)) bad++;
            }
        for (size_t i = 0; i < n; i++) ref[i] = value(d->rank, i);
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = now();
        MPI_Allreduce(MPI_IN_PLACE, ref, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
        t_mpi += now() - t0;
    }
    int all_bad = 0;
    MPI_Reduce(&bad, &all_bad, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (d->rank == 0)
        printf("ranks %d floats %zu (%.1f MB): rank-order sum %.4f s, MPI_Allreduce %.4f s per sum (mean of %d); "
               "values differing from the rank-order sum: %d\n",
               d->size, n, n * 4e-6, t_sum / reps, t_mpi / reps, reps, all_bad);
    free(buf);
    free(ref);
    cli_dist_finalize();
    return all_bad ? 1 : 0;
}
