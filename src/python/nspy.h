/* SPDX-License-Identifier: MIT */
/*
 * The Python binding (module nanostream._nanostream), written against the public headers only.
 * Shared declarations of its three files: module.c (errors, waits, monitoring, the module),
 * client.c (Client, Publication, Claim, Subscription, Image, Header, the message views) and
 * ring.c (Ring, Poller, Events).
 *
 * Rules every object follows:
 * - a closed object raises ValueError ("... is closed") from every method but close();
 * - an object busy in a call that released the GIL, or inside one of its own callbacks,
 *   refuses close() with RuntimeError instead of freeing what that call uses;
 * - memory of the library handed to Python (messages, claims, ring events) goes out as a
 *   buffer exporter that counts its exports: the owner refuses to close while one is live,
 *   so no Python object can ever point into unmapped memory.
 */
#ifndef NSPY_H
#define NSPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <nanostream/nanostream.h>

/* Exceptions and the enum of offer outcomes (module.c). */
extern PyObject *nspy_error;	      /* nanostream.Error(OSError) */
extern PyObject *nspy_driver_timeout; /* nanostream.DriverTimeout(Error) */
extern PyObject *nspy_offer_failed;   /* nanostream.OfferFailed(Error) */
extern PyObject *nspy_offer_result;   /* nanostream.OfferResult (enum.IntEnum) */

/*
 * Raise nanostream.Error (DriverTimeout for NS_EDRIVER_TIMEOUT, TimeoutError for -ETIMEDOUT)
 * for @code, with @what and the library's words (ns_errmsg() when @use_errmsg and it has
 * any, else ns_strerror()). Returns NULL.
 */
PyObject *nspy_raise(int code, const char *what, int use_errmsg);
/* The same with the library's words given (@msg: a copy of ns_errmsg() taken on the thread
 * that failed; NULL or "": ns_strerror()). */
PyObject *nspy_raise_msg(int code, const char *what, const char *msg);
/* The OfferResult member of a negative offer outcome, or NULL after raising for another code. */
PyObject *nspy_offer_outcome(int64_t code, const char *what);
/* A timeout argument (None: forever; seconds >= 0) as an absolute deadline; -1 after raising. */
int nspy_deadline(PyObject *timeout, int64_t *deadline_ns);
/* The next slice of a wait that checks for signals between slices (100 ms at most). */
int64_t nspy_slice(int64_t deadline_ns);
/*
 * After a slice that timed out (GIL held again): -1 when a signal handler raised (Ctrl-C:
 * the exception is set), 1 when the whole wait's deadline passed, 0 to wait another slice.
 */
int nspy_slice_over(int64_t slice, int64_t deadline_ns);

/* The message view: a buffer exporter over library memory, valid while `valid` is set. */
typedef struct {
	PyObject_HEAD
	void *buf;
	Py_ssize_t len;
	int readonly;
	int valid;
	Py_ssize_t exports;
	Py_ssize_t *owner_exports; /* the owner's count of live exports, kept in step */
	PyObject *owner;	   /* borrowed; a reference is held while exported */
} nspy_view;

extern PyTypeObject nspy_view_type;
/* A new view object over @buf of @owner (whose export count is @owner_exports). */
nspy_view *nspy_view_new(PyObject *owner, Py_ssize_t *owner_exports, int readonly);
/*
 * Hand @v out as a memoryview for one call: returns the memoryview (a new reference), or
 * NULL after raising. nspy_view_end() ends that call: the memoryview is released (later use
 * raises ValueError) and the view invalidated; returns 0, or -1 with BufferError raised when
 * a derived export (a slice, numpy array) still lives.
 */
PyObject *nspy_view_begin(nspy_view *v, void *buf, Py_ssize_t len);
int nspy_view_end(nspy_view *v, PyObject *mv);

int nspy_client_init(PyObject *module);
int nspy_ring_init(PyObject *module);

#endif /* NSPY_H */
