/* SPDX-License-Identifier: MIT */
/*
 * Ring, Poller and Events: the in-process ring of nanostream/ring.h for Python, to feed a
 * consumer written in C from Python or to consume in Python what a C producer publishes.
 * Events are lent as memoryviews (or numpy arrays of the ring's dtype); a poller releases
 * slots to the producers only once no view of them is left, so no Python object ever sees a
 * slot a producer is rewriting.
 */
#include "nspy.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <time.h>

typedef struct {
	PyObject_HEAD
	ns_ring *r;
	PyObject *dtype;      /* a numpy dtype, or NULL */
	PyObject *ndarray;    /* with a dtype: numpy.ndarray and numpy.frombuffer, looked */
	PyObject *frombuffer; /* up once here rather than on every take() and peek() */
	uint32_t slot_size;
} RingObject;

static PyTypeObject ring_type;

static const char *const wait_names[] = { "busy_spin", "yield",		"sleep",
					  "blocking",  "lite_blocking", "timeout_blocking",
					  "phased" };

static int
Ring_init(RingObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = { "capacity", "slot_size", "dtype", "producers", "wait", NULL };
	unsigned long long capacity = 1024;
	PyObject *slot_obj = Py_None, *dtype = Py_None;
	const char *producers = "single", *wait = "blocking";
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|K$OOss:Ring", names, &capacity, &slot_obj,
					 &dtype, &producers, &wait))
		return -1;
	if (self->r != NULL) {
		PyErr_SetString(PyExc_RuntimeError, "Ring.__init__ called twice");
		return -1;
	}
	struct ns_ring_opts o = NS_RING_OPTS_INIT;
	o.capacity = capacity;
	long slot = 0;
	if (dtype != Py_None) {
		PyObject *np = PyImport_ImportModule("numpy");
		if (np == NULL)
			return -1;
		Py_XSETREF(self->ndarray, PyObject_GetAttrString(np, "ndarray"));
		Py_XSETREF(self->frombuffer, PyObject_GetAttrString(np, "frombuffer"));
		Py_DECREF(np);
		if (self->ndarray == NULL || self->frombuffer == NULL)
			return -1;
		PyObject *itemsize = PyObject_GetAttrString(dtype, "itemsize");
		if (itemsize == NULL)
			return -1;
		slot = PyLong_AsLong(itemsize);
		Py_DECREF(itemsize);
		if (slot == -1 && PyErr_Occurred())
			return -1;
		slot = (slot + 7) / 8 * 8; /* slots are multiples of 8 bytes */
		if (slot_obj != Py_None) {
			PyErr_SetString(PyExc_TypeError, "Ring: give slot_size or dtype, not both");
			return -1;
		}
	} else if (slot_obj != Py_None) {
		slot = PyLong_AsLong(slot_obj);
		if (slot == -1 && PyErr_Occurred())
			return -1;
	} else {
		slot = 64;
	}
	if (slot < 8 || slot > 65536) {
		PyErr_Format(PyExc_ValueError, "Ring: slot size %ld outside 8 .. 65536", slot);
		return -1;
	}
	o.slot_size = (uint32_t)slot;
	if (strcmp(producers, "single") == 0)
		o.producer = NS_PRODUCER_SINGLE;
	else if (strcmp(producers, "multi") == 0)
		o.producer = NS_PRODUCER_MULTI;
	else {
		PyErr_Format(PyExc_ValueError, "Ring: producers 'single' or 'multi', not '%s'",
			     producers);
		return -1;
	}
	uint32_t w = 0;
	while (w < sizeof(wait_names) / sizeof(wait_names[0]) && strcmp(wait, wait_names[w]) != 0)
		w++;
	if (w == sizeof(wait_names) / sizeof(wait_names[0])) {
		PyErr_Format(
			PyExc_ValueError,
			"Ring: wait is one of busy_spin, yield, sleep, blocking, lite_blocking, "
			"timeout_blocking, phased; not '%s'",
			wait);
		return -1;
	}
	o.wait = w;
	ns_ring *r = NULL;
	int rc;
	char why[NS_ERRMSG_MAX + 1];
	Py_BEGIN_ALLOW_THREADS
	rc = ns_ring_create(&r, &o);
	snprintf(why, sizeof(why), "%s", ns_errmsg());
	Py_END_ALLOW_THREADS
	if (rc != 0) {
		if (rc == -EINVAL) {
			PyErr_Format(PyExc_ValueError, "Ring: %s", why);
		} else {
			nspy_raise_msg(rc, "Ring", why);
		}
		return -1;
	}
	self->r = r;
	self->slot_size = o.slot_size;
	if (dtype != Py_None)
		self->dtype = Py_NewRef(dtype);
	return 0;
}

static void
Ring_dealloc(RingObject *self)
{
	if (self->r != NULL)
		ns_ring_destroy(self->r);
	Py_XDECREF(self->dtype);
	Py_XDECREF(self->ndarray);
	Py_XDECREF(self->frombuffer);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
ring_ok(RingObject *self)
{
	if (self->r == NULL) {
		PyErr_SetString(PyExc_ValueError, "the ring was not initialised");
		return 0;
	}
	return 1;
}

/* Claim one slot, waiting until @deadline with the GIL released; the sequence, or < 0. */
static int64_t
claim_slot(RingObject *self, int64_t deadline)
{
	int64_t seq = ns_ring_try_claim(self->r);
	while (seq == -EAGAIN) {
		int64_t slice = nspy_slice(deadline);
		Py_BEGIN_ALLOW_THREADS
		seq = ns_ring_claim_until(self->r, 1, slice);
		Py_END_ALLOW_THREADS
		if (seq != -ETIMEDOUT)
			break;
		int over = nspy_slice_over(slice, deadline);
		if (over != 0)
			return over < 0 ? -EINTR : -ETIMEDOUT;
		seq = -EAGAIN;
	}
	return seq;
}

static PyObject *
ring_publish(RingObject *self, PyObject *data, int64_t deadline, int try_only)
{
	if (!ring_ok(self))
		return NULL;
	Py_buffer b;
	if (PyObject_GetBuffer(data, &b, PyBUF_SIMPLE) != 0)
		return NULL;
	if (b.len > (Py_ssize_t)self->slot_size) {
		PyBuffer_Release(&b);
		return PyErr_Format(PyExc_ValueError, "%zd bytes do not fit a slot of %u", b.len,
				    self->slot_size);
	}
	int64_t seq = try_only ? ns_ring_try_claim(self->r) : claim_slot(self, deadline);
	if (seq < 0) {
		PyBuffer_Release(&b);
		if (seq == -EINTR)
			return NULL;
		if (seq == -EAGAIN && try_only)
			Py_RETURN_NONE;
		if (seq == -ETIMEDOUT && !try_only)
			Py_RETURN_NONE;
		return nspy_raise((int)seq, "publish", 0);
	}
	unsigned char *slot = ns_ring_slot(self->r, seq);
	memcpy(slot, b.buf, (size_t)b.len);
	memset(slot + b.len, 0, self->slot_size - (size_t)b.len);
	PyBuffer_Release(&b);
	int rc = ns_ring_publish(self->r, seq);
	if (rc != 0)
		return nspy_raise(rc, "publish", 0);
	return PyLong_FromLongLong(seq);
}

static PyObject *
Ring_publish(RingObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = { "data", "timeout", NULL };
	PyObject *data, *timeout = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:publish", names, &data, &timeout))
		return NULL;
	int64_t deadline;
	if (nspy_deadline(timeout, &deadline) != 0)
		return NULL;
	return ring_publish(self, data, deadline, 0);
}

static PyObject *
Ring_try_publish(RingObject *self, PyObject *data)
{
	return ring_publish(self, data, 0, 1);
}

static PyObject *
Ring_halt(RingObject *self, PyObject *unused)
{
	(void)unused;
	if (!ring_ok(self))
		return NULL;
	int rc = ns_ring_halt(self->r);
	if (rc != 0)
		return nspy_raise(rc, "halt", 0);
	Py_RETURN_NONE;
}

static PyObject *Ring_poller(RingObject *self, PyObject *unused);

static PyObject *
Ring_get_capacity(RingObject *self, void *closure)
{
	(void)closure;
	return ring_ok(self) ? PyLong_FromUnsignedLongLong(ns_ring_capacity(self->r)) : NULL;
}

static PyObject *
Ring_get_slot_size(RingObject *self, void *closure)
{
	(void)closure;
	return ring_ok(self) ? PyLong_FromUnsignedLong(self->slot_size) : NULL;
}

static PyObject *
Ring_get_cursor(RingObject *self, void *closure)
{
	(void)closure;
	return ring_ok(self) ? PyLong_FromLongLong(ns_ring_cursor(self->r)) : NULL;
}

static PyObject *
Ring_get_address(RingObject *self, void *closure)
{
	(void)closure;
	return ring_ok(self) ? PyLong_FromVoidPtr(self->r) : NULL;
}

static PyObject *
Ring_get_capsule(RingObject *self, void *closure)
{
	(void)closure;
	return ring_ok(self) ? PyCapsule_New(self->r, "nanostream.ring", NULL) : NULL;
}

static PyObject *
Ring_get_dtype(RingObject *self, void *closure)
{
	(void)closure;
	return Py_NewRef(self->dtype != NULL ? self->dtype : Py_None);
}

static PyMethodDef Ring_methods[] = {
	{ "publish", (PyCFunction)(void (*)(void))Ring_publish, METH_VARARGS | METH_KEYWORDS,
	  "publish(data, timeout=None) -> int | None\n\n"
	  "Copy `data` (bytes-like, at most slot_size bytes; the rest of the slot is zeroed) into\n"
	  "the next slot and publish it; returns its sequence. Waits while the ring is full, up\n"
	  "to `timeout` seconds (None: no limit; then None), with the GIL released; Ctrl-C\n"
	  "interrupts it. One thread at a time on a 'single' ring." },
	{ "try_publish", (PyCFunction)Ring_try_publish, METH_O,
	  "try_publish(data) -> int | None\n\npublish() without waiting: None when the ring is "
	  "full." },
	{ "poller", (PyCFunction)Ring_poller, METH_NOARGS,
	  "poller() -> Poller\n\nA new consumer of the ring that Python pulls from; it gates the\n"
	  "producers from now on (they never overwrite what it has not released)." },
	{ "halt", (PyCFunction)Ring_halt, METH_NOARGS,
	  "halt()\n\nStop the ring: consumers and pollers finish what was published, then stop." },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef Ring_getset[] = {
	{ "capacity", (getter)Ring_get_capacity, NULL, "Slots in the ring.", NULL },
	{ "slot_size", (getter)Ring_get_slot_size, NULL, "Bytes per slot.", NULL },
	{ "cursor", (getter)Ring_get_cursor, NULL, "The highest sequence published (-1: none).",
	  NULL },
	{ "dtype", (getter)Ring_get_dtype, NULL, "The numpy dtype of a slot, or None.", NULL },
	{ "address", (getter)Ring_get_address, NULL,
	  "The ns_ring * as an integer, for ctypes (valid while this object lives).", NULL },
	{ "capsule", (getter)Ring_get_capsule, NULL,
	  "The ns_ring * in a capsule named 'nanostream.ring', for C extensions\n"
	  "(PyCapsule_GetPointer(obj, \"nanostream.ring\")); valid while this object lives.",
	  NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject ring_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nanostream.Ring",
	.tp_basicsize = sizeof(RingObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc =
		"Ring(capacity=1024, *, slot_size=None, dtype=None, producers='single',\n"
		"     wait='blocking')\n\n"
		"The in-process ring: `capacity` slots (a power of two) of `slot_size` bytes (a\n"
		"multiple of 8; default 64), or of a numpy structured `dtype` (its itemsize\n"
		"rounded up to 8). producers: 'single' (one publishing thread at a time) or\n"
		"'multi'. wait: how C consumers of it wait (busy_spin, yield, sleep, blocking,\n"
		"lite_blocking, timeout_blocking, phased). Hand `address` or `capsule` to C code\n"
		"that publishes or consumes; pull in Python with poller().",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Ring_init,
	.tp_dealloc = (destructor)Ring_dealloc,
	.tp_methods = Ring_methods,
	.tp_getset = Ring_getset,
};

/* ---- Poller ---- */

typedef struct {
	PyObject_HEAD
	RingObject *ring;
	ns_poller *p;
	uint32_t stride;
	Py_ssize_t exports; /* live views of peeked events */
	uint32_t held;	    /* events peeked and to be released once their views are gone */
	int busy;
} PollerObject;

static PyTypeObject poller_type;

static PyObject *
Ring_poller(RingObject *self, PyObject *unused)
{
	(void)unused;
	if (!ring_ok(self))
		return NULL;
	PollerObject *po = PyObject_New(PollerObject, &poller_type);
	if (po == NULL)
		return NULL;
	po->ring = (RingObject *)Py_NewRef(self);
	po->p = NULL;
	po->exports = 0;
	po->held = 0;
	po->busy = 0;
	struct ns_ring_layout lay = NS_RING_LAYOUT_INIT;
	int rc = ns_ring_get_layout(self->r, &lay);
	if (rc != 0) {
		Py_DECREF(po);
		return nspy_raise(rc, "poller", 0);
	}
	po->stride = (uint32_t)lay.stride;
	struct ns_poller_opts o = NS_POLLER_OPTS_INIT;
	rc = ns_poller_create(&po->p, self->r, &o);
	if (rc != 0) {
		Py_DECREF(po);
		return nspy_raise(rc, "poller", 1);
	}
	return (PyObject *)po;
}

static void
Poller_dealloc(PollerObject *self)
{
	if (self->p != NULL)
		ns_poller_destroy(self->p);
	Py_XDECREF(self->ring);
	PyObject_Free(self);
}

/* Release what an earlier peek still holds once nothing views it. 0, or -1 raising. */
static int
settle(PollerObject *self)
{
	if (self->held == 0 || self->exports != 0)
		return 0;
	int rc = ns_poller_release(self->p, self->held);
	self->held = 0;
	if (rc != 0) {
		nspy_raise(rc, "release", 0);
		return -1;
	}
	return 0;
}

static int
poller_ready(PollerObject *self)
{
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the poller is in use by another thread (one at a time)");
		return 0;
	}
	if (settle(self) != 0)
		return 0;
	if (self->held != 0) {
		PyErr_SetString(PyExc_BufferError,
				"events of an earlier peek are still viewed (an array or slice of "
				"them is referenced): drop those views first");
		return 0;
	}
	return 1;
}

/* An event copied out: bytes, or a numpy record of the ring's dtype. */
static PyObject *
event_copy(PollerObject *self, const void *slot)
{
	PyObject *b = PyBytes_FromStringAndSize(slot, self->ring->slot_size);
	if (b == NULL || self->ring->dtype == NULL)
		return b;
	PyObject *arr = PyObject_CallFunction(self->ring->frombuffer, "OOn", b, self->ring->dtype,
					      (Py_ssize_t)1);
	Py_DECREF(b);
	if (arr == NULL)
		return NULL;
	PyObject *rec = PySequence_GetItem(arr, 0);
	Py_DECREF(arr);
	return rec;
}

static PyObject *
Poller_take(PollerObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = { "timeout", NULL };
	PyObject *timeout = NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:take", names, &timeout))
		return NULL;
	if (!poller_ready(self))
		return NULL;
	int64_t deadline = 0;
	if (timeout != NULL && nspy_deadline(timeout, &deadline) != 0)
		return NULL;
	void *first;
	int64_t seq;
	int n = ns_poller_peek(self->p, 1, &first, &seq);
	unsigned spins = 0;
	while (n == 0 && timeout != NULL) {
		int64_t slice = nspy_slice(deadline);
		self->busy = 1;
		Py_BEGIN_ALLOW_THREADS
		/* Spin briefly, then yield, then sleep 50 us at a time. */
		while ((n = ns_poller_peek(self->p, 1, &first, &seq)) == 0 &&
		       ns_clock_ns() < slice) {
			if (++spins < 1000)
				continue;
			if (spins < 2000) {
				sched_yield();
				continue;
			}
			struct timespec ts = { 0, 50000 };
			nanosleep(&ts, NULL);
		}
		Py_END_ALLOW_THREADS
		self->busy = 0;
		if (n != 0)
			break;
		int over = nspy_slice_over(slice, deadline);
		if (over < 0)
			return NULL;
		if (over > 0)
			break;
	}
	if (n == 0)
		Py_RETURN_NONE;
	if (n == -ESHUTDOWN)
		return PyErr_Format(PyExc_EOFError, "the ring was halted and everything was taken");
	if (n < 0)
		return nspy_raise(n, "take", 0);
	PyObject *out = event_copy(self, first);
	if (out == NULL)
		return NULL; /* not released: the event comes again */
	int rc = ns_poller_release(self->p, 1);
	if (rc != 0) {
		Py_DECREF(out);
		return nspy_raise(rc, "take", 0);
	}
	return out;
}

/* ---- Events: the run of one peek, as a context manager ---- */

typedef struct {
	PyObject_HEAD
	PollerObject *poller;
	uint32_t n;
	nspy_view *view;
	PyObject *mv;	  /* the memoryview lent, or NULL */
	PyObject *value;  /* a numpy array of the ring's dtype, or NULL: the Events itself */
	PyObject *slices; /* memoryviews of single events handed out (released at the end) */
	uint32_t slot_size;
	int64_t first_seq;
	int done;
} EventsObject;

static PyTypeObject events_type;

static PyObject *
Poller_peek(PollerObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = { "max", NULL };
	unsigned int max = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|I:peek", names, &max))
		return NULL;
	if (!poller_ready(self))
		return NULL;
	void *first = NULL;
	int64_t seq = -1;
	int n = ns_poller_peek(self->p, max, &first, &seq);
	if (n == -ESHUTDOWN)
		return PyErr_Format(PyExc_EOFError, "the ring was halted and everything was taken");
	if (n < 0)
		return nspy_raise(n, "peek", 0);
	EventsObject *ev = PyObject_New(EventsObject, &events_type);
	if (ev == NULL)
		return NULL;
	ev->poller = (PollerObject *)Py_NewRef(self);
	ev->n = (uint32_t)n;
	ev->mv = NULL;
	ev->value = NULL;
	ev->slices = NULL;
	ev->slot_size = self->ring->slot_size;
	ev->first_seq = seq;
	ev->done = 0;
	ev->view = nspy_view_new((PyObject *)self, &self->exports, 1);
	if (ev->view == NULL) {
		Py_DECREF(ev);
		return NULL;
	}
	ev->mv = nspy_view_begin(ev->view, first, (Py_ssize_t)n * self->stride);
	if (ev->mv == NULL) {
		Py_DECREF(ev);
		return NULL;
	}
	self->held = (uint32_t)n;
	/* A numpy array of the dtype (strided over the slots); without one, the Events object
	 * itself hands out each event as a memoryview (memoryviews do not index 2-D). */
	RingObject *ring = self->ring;
	if (ring->dtype != NULL) {
		PyObject *value = NULL;
		PyObject *kwargs = Py_BuildValue("{s(n)sOsOs(n)}", "shape", (Py_ssize_t)n, "dtype",
						 ring->dtype, "buffer", ev->mv, "strides",
						 (Py_ssize_t)self->stride);
		PyObject *empty = PyTuple_New(0);
		if (kwargs != NULL && empty != NULL)
			value = PyObject_Call(ring->ndarray, empty, kwargs);
		Py_XDECREF(kwargs);
		Py_XDECREF(empty);
		if (value == NULL) {
			Py_DECREF(ev); /* its dealloc ends the view; nothing is released */
			return NULL;
		}
		ev->value = value;
	}
	return (PyObject *)ev;
}

/* End the lending: release @n events when nothing views them (else keep them held). */
static int
events_end(EventsObject *self, int release)
{
	if (self->done)
		return 0;
	self->done = 1;
	PollerObject *po = self->poller;
	Py_CLEAR(self->value);
	if (self->slices != NULL) {
		/* Each event's memoryview is released: kept ones raise ValueError when used. */
		for (Py_ssize_t i = 0; i < PyList_GET_SIZE(self->slices); i++) {
			PyObject *r = PyObject_CallMethod(PyList_GET_ITEM(self->slices, i),
							  "release", NULL);
			if (r == NULL)
				PyErr_Clear();
			Py_XDECREF(r);
		}
		Py_CLEAR(self->slices);
	}
	int kept = 0;
	if (self->mv != NULL) {
		PyObject *mv = self->mv;
		self->mv = NULL;
		kept = nspy_view_end(self->view, mv) != 0;
	}
	if (!release) {
		if (!kept)
			po->held = 0; /* offered again by the next peek */
		else
			PyErr_Clear();
		return 0;
	}
	if (kept)
		return -1; /* BufferError: held until the views are gone, released then */
	return settle(po);
}

static PyObject *
Events_enter(EventsObject *self, PyObject *unused)
{
	(void)unused;
	if (self->done)
		return PyErr_Format(PyExc_ValueError, "these events were already handled");
	return Py_NewRef(self->value != NULL ? self->value : (PyObject *)self);
}

static PyObject *
Events_exit(EventsObject *self, PyObject *args)
{
	PyObject *et = PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : Py_None;
	if (et != Py_None) {
		PyObject *t, *v, *tb;
		PyErr_Fetch(&t, &v, &tb);
		events_end(self, 0);
		PyErr_Restore(t, v, tb);
		Py_RETURN_FALSE;
	}
	if (events_end(self, 1) != 0)
		return NULL;
	Py_RETURN_FALSE;
}

static PyObject *
Events_release(EventsObject *self, PyObject *unused)
{
	(void)unused;
	if (events_end(self, 1) != 0)
		return NULL;
	Py_RETURN_NONE;
}

static Py_ssize_t
Events_len(EventsObject *self)
{
	return (Py_ssize_t)self->n;
}

static void
Events_dealloc(EventsObject *self)
{
	if (!self->done) {
		/* Dropped without a verdict: the events stay unhandled, offered again. */
		PyObject *t, *v, *tb;
		PyErr_Fetch(&t, &v, &tb);
		events_end(self, 0);
		PyErr_Restore(t, v, tb);
	}
	Py_XDECREF(self->value);
	Py_XDECREF(self->slices);
	Py_XDECREF(self->mv);
	Py_XDECREF(self->view);
	Py_XDECREF(self->poller);
	PyObject_Free(self);
}

static PyObject *
Events_first_seq(EventsObject *self, void *closure)
{
	(void)closure;
	return PyLong_FromLongLong(self->first_seq);
}

/* Event @i of the run, a read-only memoryview of its slot valid until the run is handled. */
static PyObject *
Events_item(EventsObject *self, Py_ssize_t i)
{
	if (self->done || self->mv == NULL)
		return PyErr_Format(PyExc_ValueError, "these events were already handled");
	if (i < 0 || i >= (Py_ssize_t)self->n)
		return PyErr_Format(PyExc_IndexError, "event %zd of %u", i, self->n);
	if (self->slices == NULL && (self->slices = PyList_New(0)) == NULL)
		return NULL;
	Py_ssize_t at = i * (Py_ssize_t)self->poller->stride;
	PyObject *slice = PySequence_GetSlice(self->mv, at, at + (Py_ssize_t)self->slot_size);
	if (slice == NULL)
		return NULL;
	if (PyList_Append(self->slices, slice) != 0) {
		Py_DECREF(slice);
		return NULL;
	}
	return slice;
}

static PySequenceMethods events_as_sequence = {
	.sq_length = (lenfunc)Events_len,
	.sq_item = (ssizeargfunc)Events_item,
};

static PyMethodDef Events_methods[] = {
	{ "__enter__", (PyCFunction)Events_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)Events_exit, METH_VARARGS, NULL },
	{ "release", (PyCFunction)Events_release, METH_NOARGS,
	  "release()\n\nHand the events back to the producers (what leaving the block does)." },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef Events_getset[] = {
	{ "first_seq", (getter)Events_first_seq, NULL,
	  "The sequence of the first event (-1 when there are none).", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject events_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nanostream.Events",
	.tp_basicsize = sizeof(EventsObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc =
		"A run of events lent by Poller.peek(): `with poller.peek() as events:` gives\n"
		"a numpy array of the ring's dtype, or, without one, the Events itself: a "
		"sequence\n"
		"whose items are read-only memoryviews of each slot, over the slots themselves.\n"
		"Leaving the block releases them to the\n"
		"producers; an exception leaves them unhandled (the next peek shows them again).\n"
		"A view kept past the block keeps them held (BufferError) until it is dropped.",
	.tp_dealloc = (destructor)Events_dealloc,
	.tp_methods = Events_methods,
	.tp_getset = Events_getset,
	.tp_as_sequence = &events_as_sequence,
};

static PyMethodDef Poller_methods[] = {
	{ "take", (PyCFunction)(void (*)(void))Poller_take, METH_VARARGS | METH_KEYWORDS,
	  "take(timeout=0) -> bytes | numpy.void | None\n\n"
	  "The next event, copied (bytes of slot_size, or a record of the ring's dtype), and its\n"
	  "slot released; None when none arrives within `timeout` seconds (0: do not wait;\n"
	  "None: no limit). The wait releases the GIL; Ctrl-C interrupts it. EOFError once the\n"
	  "ring was halted and everything was taken." },
	{ "peek", (PyCFunction)(void (*)(void))Poller_peek, METH_VARARGS | METH_KEYWORDS,
	  "peek(max=0) -> Events\n\n"
	  "The events available now, at most `max` (0: up to the capacity), in one contiguous\n"
	  "run, lent without a copy: use it as `with poller.peek() as events:` (see Events)." },
	{ NULL, NULL, 0, NULL },
};

static PyTypeObject poller_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nanostream.Poller",
	.tp_basicsize = sizeof(PollerObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A consumer of a Ring that Python pulls from (Ring.poller()); one thread at a\n"
		  "time.",
	.tp_dealloc = (destructor)Poller_dealloc,
	.tp_methods = Poller_methods,
};

int
nspy_ring_init(PyObject *m)
{
	PyTypeObject *types[] = { &ring_type, &poller_type, &events_type };
	const char *names[] = { "Ring", "Poller", "Events" };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (PyType_Ready(types[i]) != 0 ||
		    PyModule_AddObjectRef(m, names[i], (PyObject *)types[i]) != 0)
			return -1;
	}
	return 0;
}
