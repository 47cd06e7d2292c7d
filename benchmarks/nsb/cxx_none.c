/* SPDX-License-Identifier: MIT */
/* Without a C++ compiler: no workloads through the C++ wrapper (cxx.cpp has them). */
#include "nsb.h"

const struct nsb_workload nsb_cxx_workloads[] = { { NULL, NULL, NSB_RATE, 0, NULL, { 0 }, NULL } };
