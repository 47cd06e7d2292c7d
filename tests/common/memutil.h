/* SPDX-License-Identifier: MIT */
#ifndef NS_TESTS_MEMUTIL_H
#define NS_TESTS_MEMUTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/*
 * What the kernel says about this process's memory, read independently of the library: the
 * tests check the library's own report against these.
 */

/* A "<key> <n> kB" field of the smaps entry whose range holds @addr, in bytes; -1 if none. */
static inline int64_t
mu_smaps_field(const void *addr, const char *key)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[1024];
	bool inside = false;
	size_t klen = strlen(key);
	int64_t result = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;
		char c;
		if (sscanf(line, "%lx-%lx %c", &lo, &hi, &c) == 3 && strchr(line, '-') != NULL &&
		    line[0] != ' ' && strncmp(line, key, klen) != 0) {
			if (inside)
				break;
			inside = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		} else if (inside && strncmp(line, key, klen) == 0) {
			result = strtoll(line + klen, NULL, 10) * 1024;
			break;
		}
	}
	fclose(f);
	return result;
}

/* Lines in /proc/self/maps: one per mapping. */
static inline int
mu_mapping_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;
	if (f == NULL)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* Open file descriptors of this process. */
static inline int
mu_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the directory's own descriptor */
}

/* A "<key> <n>" line of /proc/meminfo (the number as printed); -1 if absent. */
static inline int64_t
mu_meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	size_t klen = strlen(key);
	int64_t v = -1;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, klen) == 0) {
			v = strtoll(line + klen, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* The number in a one-number file such as /proc/sys/vm/nr_hugepages; -1 if unreadable. */
static inline long
mu_read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;
	if (f != NULL) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* Write a number into such a file. Returns 0 or a negative errno. */
static inline int
mu_write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -errno;
	int rc = fprintf(f, "%ld\n", v) > 0 ? 0 : -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* Standard error redirected into an unlinked file, to see whether anything was printed. */
struct mu_capture {
	int saved, file;
};

static inline struct mu_capture
mu_capture_stderr(void)
{
	char path[] = "/tmp/ns-stderr-XXXXXX";
	struct mu_capture c = { -1, mkstemp(path) };
	if (c.file >= 0) {
		unlink(path);
		fflush(stderr);
		c.saved = dup(2);
		dup2(c.file, 2);
	}
	return c;
}

/* Put standard error back. Returns the bytes written meanwhile, or -1 if capture failed. */
static inline long
mu_release_stderr(struct mu_capture c)
{
	if (c.file < 0 || c.saved < 0)
		return -1;
	fflush(stderr);
	dup2(c.saved, 2);
	close(c.saved);
	long n = (long)lseek(c.file, 0, SEEK_END);
	close(c.file);
	return n;
}

/* Minor page faults taken by the calling thread so far. */
static inline long
mu_minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_minflt;
}

/*
 * Write one word into each of @n slots of @stride bytes. Not instrumented: a sanitizer's
 * shadow checks would take page faults of their own and blur the count.
 */
__attribute__((noinline, unused, no_sanitize("address", "thread", "undefined"))) static void
mu_touch_slots(uint8_t *first, size_t n, size_t stride)
{
	for (size_t i = 0; i < n; i++)
		*(volatile uint64_t *)(void *)(first + i * stride) = i;
}

#ifdef CMOCKA_H_
#include <nanostream/nanostream.h>

/* For cmocka tests: a ring's memory info, asserting that the call succeeds. */
static inline struct ns_mem_info
mu_info_of(const ns_ring *r)
{
	struct ns_mem_info info = NS_MEM_INFO_INIT;
	assert_int_equal(ns_ring_mem_info(r, &info), 0);
	return info;
}
#endif

#endif /* NS_TESTS_MEMUTIL_H */
