/*
 * fabric-mpi.h - the ICI fabric over MPI (docs/multichip.md, "MPI"): a
 * vtpu_fabric_transport whose messages are MPI messages between the
 * ranks of MPI_COMM_WORLD, each rank holding a contiguous block of the
 * slice's chips, and the slice_comm vtpu-run --topology uses under
 * mpirun.  A library of its own (libvtpu-fabric-mpi), so that the engine
 * has no MPI dependency; built only when Meson finds MPI.
 */
#ifndef VTPU_FABRIC_MPI_H
#define VTPU_FABRIC_MPI_H

#include <stdbool.h>

#include "slice-run.h"

/*
 * True if this process was started by an MPI launcher (mpirun, srun):
 * its environment says so (OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK).
 */
bool fabric_mpi_launched(void);

/*
 * MPI_Init_thread(MPI_THREAD_MULTIPLE) and the slice_comm over
 * MPI_COMM_WORLD.  Ends the process with a message when MPI cannot give
 * MPI_THREAD_MULTIPLE (TC threads send while the progress thread
 * receives).
 */
const slice_comm *fabric_mpi_init(int *argc, char ***argv);

/* Leave MPI (MPI_Finalize: every rank gets here, after the slice_comm's
 * finish completed any launch barrier left half done) and exit with
 * `status`; never returns. */
void fabric_mpi_exit(int status) __attribute__((noreturn));

/* Time limit of the launch barrier, seconds; VTPU_MPI_TIMEOUT overrides
 * (default 600).  A barrier that runs out fails the launch with a
 * message (a rank never launched). */
double fabric_mpi_timeout(void);

#endif /* VTPU_FABRIC_MPI_H */
