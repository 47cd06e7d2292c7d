/* SPDX-License-Identifier: MIT */
#ifndef NSI_MEM_GUARD_H
#define NSI_MEM_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * SIGBUS guard for shared file mappings. Another process of the same user can truncate a
 * mapped file (cnc.dat, a log); touching a page past the new end raises SIGBUS, which would
 * kill the process. A guarded mapping that faults is replaced, in the signal handler, by
 * private zero-filled memory at the same address (so the faulting instruction completes and
 * reads zeros: "nothing written here"), and its owner's flag is set; the owner then treats the
 * mapping as broken (an error for that image, publication or client) at its next check. A
 * fault outside guarded mappings goes to whatever handled SIGBUS before (the default: the
 * process dies, as it would have).
 *
 * The handler is installed when the first mapping is guarded, once per process. The table has
 * NSI_GUARD_MAX entries; a mapping beyond that is not guarded (nsi_guard_add says so).
 */

#define NSI_GUARD_MAX 4096

/*
 * Guard [base, base + bytes). @broken is set to 1 (atomically) if the mapping faults; it must
 * stay valid until nsi_guard_remove(). Returns the entry (>= 0), -ENOSPC (table full: not
 * guarded), -ENOSYS (guarding is off, or SIGBUS could not be handled) or -EINVAL. Thread
 * safety: any thread. Not on a hot path.
 */
int nsi_guard_add(void *base, size_t bytes, uint32_t *broken);

/*
 * Stop guarding entry @slot (a negative value is ignored); returns once no handler uses it, so
 * the caller may then unmap the memory and free the flag.
 */
void nsi_guard_remove(int slot);

/* Whether guarding is on for this process (NANOSTREAM_NO_SIGBUS_GUARD=1 turns it off). */
bool nsi_guard_enabled(void);

#endif /* NSI_MEM_GUARD_H */
