/* SPDX-License-Identifier: MIT */
/* Stand-ins for peers this build has no library for (see meson options bench_ck, bench_rte). */
#include "nsb.h"

#if NSB_NO_CK
const struct nsb_workload nsb_ck_workloads[] = { { NULL, NULL, 0, 0, NULL, { 0 }, NULL } };
#endif
#if NSB_NO_RTE
const struct nsb_workload nsb_rte_workloads[] = { { NULL, NULL, 0, 0, NULL, { 0 }, NULL } };
#endif
