/* SPDX-License-Identifier: MIT */
/** @file
 * The umbrella header: includes every public nanostream header.
 */
#ifndef NANOSTREAM_NANOSTREAM_H
#define NANOSTREAM_NANOSTREAM_H

#include <nanostream/common.h>
#include <nanostream/memory.h>
#include <nanostream/ring.h>
#include <nanostream/consumer.h>
#include <nanostream/ipc.h>
#include <nanostream/stat.h>

#endif /* NANOSTREAM_NANOSTREAM_H */
