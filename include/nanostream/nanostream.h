/* SPDX-License-Identifier: MIT */
#ifndef NANOSTREAM_NANOSTREAM_H
#define NANOSTREAM_NANOSTREAM_H

/* The umbrella header: includes every public nanostream header. */
#include <nanostream/common.h>
#include <nanostream/memory.h>
#include <nanostream/ring.h>
#include <nanostream/consumer.h>

#endif /* NANOSTREAM_NANOSTREAM_H */
