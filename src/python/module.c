/* SPDX-License-Identifier: MIT */
/*
 * nanostream._nanostream: errors, waits, the message view, monitoring and the module itself.
 */
#include "nspy.h"

#include <errno.h>
#include <string.h>

PyObject *nspy_error;
PyObject *nspy_driver_timeout;
PyObject *nspy_offer_failed;
PyObject *nspy_offer_result;

/* The OfferResult members by code, made once at import (a busy offer loop meets them). */
static const int64_t outcome_codes[] = { NS_NOT_CONNECTED, NS_BACK_PRESSURED, NS_ADMIN_ACTION,
					 NS_PUBLICATION_CLOSED, NS_MAX_POSITION_EXCEEDED };
#define OUTCOMES ((int)(sizeof(outcome_codes) / sizeof(outcome_codes[0])))
static PyObject *outcomes[OUTCOMES];

#define SEC_NS 1000000000LL

PyObject *
nspy_raise(int code, const char *what, int use_errmsg)
{
	return nspy_raise_msg(code, what, use_errmsg ? ns_errmsg() : NULL);
}

PyObject *
nspy_raise_msg(int code, const char *what, const char *msg)
{
	if (code > 0)
		code = -code;
	if (msg == NULL || msg[0] == '\0')
		msg = ns_strerror(code);
	PyObject *type = code == NS_EDRIVER_TIMEOUT ? nspy_driver_timeout
			 : code == -ETIMEDOUT	    ? PyExc_TimeoutError
						    : nspy_error;
	PyObject *text = PyUnicode_FromFormat("%s: %s", what, msg);
	if (text == NULL)
		return NULL;
	PyObject *args = Py_BuildValue("(iN)", -code, text);
	if (args != NULL) {
		PyErr_SetObject(type, args);
		Py_DECREF(args);
	}
	return NULL;
}

PyObject *
nspy_offer_outcome(int64_t code, const char *what)
{
	for (int i = 0; i < OUTCOMES; i++) {
		if (code == outcome_codes[i])
			return Py_NewRef(outcomes[i]);
	}
	return nspy_raise((int)code, what, 0);
}

int
nspy_deadline(PyObject *timeout, int64_t *deadline_ns)
{
	if (timeout == NULL || timeout == Py_None) {
		*deadline_ns = INT64_MAX;
		return 0;
	}
	double s = PyFloat_AsDouble(timeout);
	if (s == -1.0 && PyErr_Occurred())
		return -1;
	if (!(s >= 0)) {
		PyErr_SetString(PyExc_ValueError, "timeout must be None or seconds >= 0");
		return -1;
	}
	int64_t now = ns_clock_ns();
	*deadline_ns = s >= (double)(INT64_MAX - now) / 1e9 ? INT64_MAX : now + (int64_t)(s * 1e9);
	return 0;
}

int64_t
nspy_slice(int64_t deadline_ns)
{
	int64_t now = ns_clock_ns();
	return deadline_ns - now > SEC_NS / 10 ? now + SEC_NS / 10 : deadline_ns;
}

int
nspy_slice_over(int64_t slice, int64_t deadline_ns)
{
	if (PyErr_CheckSignals() != 0)
		return -1;
	return slice >= deadline_ns;
}

/* ---- the message view ---- */

static int
view_getbuffer(PyObject *self, Py_buffer *b, int flags)
{
	nspy_view *v = (nspy_view *)self;
	if (!v->valid) {
		PyErr_SetString(
			PyExc_ValueError,
			"this message or claim is no longer valid: its view lives only during "
			"the call or block that handed it out (copy it with bytes())");
		b->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(b, self, v->buf, v->len, v->readonly, flags) != 0)
		return -1;
	/* While exported, the owner (whose memory this is) stays alive. */
	if (v->exports++ == 0)
		Py_XINCREF(v->owner);
	if (v->owner_exports != NULL)
		(*v->owner_exports)++;
	return 0;
}

static void
view_releasebuffer(PyObject *self, Py_buffer *b)
{
	(void)b;
	nspy_view *v = (nspy_view *)self;
	if (v->owner_exports != NULL)
		(*v->owner_exports)--;
	if (--v->exports == 0)
		Py_XDECREF(v->owner);
}

static PyBufferProcs view_as_buffer = {
	.bf_getbuffer = view_getbuffer,
	.bf_releasebuffer = view_releasebuffer,
};

static void
view_dealloc(PyObject *self)
{
	Py_TYPE(self)->tp_free(self);
}

PyTypeObject nspy_view_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nanostream._View",
	.tp_basicsize = sizeof(nspy_view),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Library memory lent to Python for one call (internal).",
	.tp_as_buffer = &view_as_buffer,
	.tp_dealloc = view_dealloc,
};

nspy_view *
nspy_view_new(PyObject *owner, Py_ssize_t *owner_exports, int readonly)
{
	nspy_view *v = PyObject_New(nspy_view, &nspy_view_type);
	if (v == NULL)
		return NULL;
	v->buf = NULL;
	v->len = 0;
	v->readonly = readonly;
	v->valid = 0;
	v->exports = 0;
	v->owner_exports = owner_exports;
	v->owner = owner;
	return v;
}

PyObject *
nspy_view_begin(nspy_view *v, void *buf, Py_ssize_t len)
{
	v->buf = buf;
	v->len = len;
	v->valid = 1;
	PyObject *mv = PyMemoryView_FromObject((PyObject *)v);
	if (mv == NULL)
		v->valid = 0;
	return mv;
}

int
nspy_view_end(nspy_view *v, PyObject *mv)
{
	v->valid = 0;
	if (Py_REFCNT(mv) == 1) {
		Py_DECREF(mv); /* nobody else has it: freeing it releases the export */
	} else {
		PyObject *r = PyObject_CallMethod(mv, "release", NULL);
		Py_DECREF(mv);
		if (r == NULL) {
			PyErr_Clear();
		} else {
			Py_DECREF(r);
		}
	}
	if (v->exports != 0) {
		PyErr_SetString(
			PyExc_BufferError,
			"a view of a message, claim or event was kept past the call or block "
			"that lent it (a slice or an array made from it): copy it with "
			"bytes() instead");
		return -1;
	}
	return 0;
}

/* ---- monitoring ---- */

static PyStructSequence_Field counter_fields[] = {
	{ "id", "the counter's number in the driver's file" },
	{ "type", "what it counts: system, pub-pos, pub-lim, sub-pos, snd-pos, ... (ns-stat(1))" },
	{ "value", "its value when read" },
	{ "label", "what it is, e.g. 'publication 3: ns:ipc stream 10 session 7'" },
	{ "type_id", "the type as a number" },
	{ "owner_id", "the client or driver object it belongs to" },
	{ "key", "its type's key" },
	{ NULL, NULL },
};
static PyStructSequence_Desc counter_desc = {
	"nanostream.Counter", "One counter of a media driver (nanostream.counters()).",
	counter_fields, 4
};
static PyTypeObject *counter_type;

static PyStructSequence_Field error_fields[] = {
	{ "count", "how many times it happened" },
	{ "text", "the message" },
	{ "first_ns", "when first, on nanostream.clock_ns()'s clock" },
	{ "last_ns", "when last" },
	{ NULL, NULL },
};
static PyStructSequence_Desc error_desc = {
	"nanostream.ErrorRecord", "One distinct error in a driver's log (nanostream.errors()).",
	error_fields, 4
};
static PyTypeObject *error_type;

static PyStructSequence_Field driver_fields[] = {
	{ "state", "'running', 'hung' or 'gone'" },
	{ "pid", "the driver's process, as its file says" },
	{ "started", "when it started, seconds since the epoch" },
	{ "heartbeat_age", "seconds since its last heartbeat" },
	{ "counters_age", "seconds since it refreshed its copied counters (None: unknown)" },
	{ "timeout", "heartbeat age past which it counts as hung, seconds" },
	{ NULL, NULL },
};
static PyStructSequence_Desc driver_desc = { "nanostream.DriverInfo",
					     "A media driver's state (nanostream.driver_info()).",
					     driver_fields, 6 };
static PyTypeObject *driver_type;

/* Open the stat view of @dir_obj (None or str); NULL after raising. */
static ns_stat *
stat_open(PyObject *dir_obj)
{
	const char *dir = NULL;
	PyObject *bytes = NULL;
	if (dir_obj != NULL && dir_obj != Py_None) {
		if (!PyUnicode_FSConverter(dir_obj, &bytes))
			return NULL;
		dir = PyBytes_AS_STRING(bytes);
	}
	ns_stat *st = NULL;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = ns_stat_open(&st, dir);
	Py_END_ALLOW_THREADS
	if (rc != 0) {
		/* ns_errmsg() is this thread's: the call above ran on it. */
		nspy_raise(rc, "cannot read the driver's file", 1);
	}
	Py_XDECREF(bytes);
	return rc == 0 ? st : NULL;
}

struct list_ctx {
	PyObject *list;
	int failed;
};

/* Append a record of @type made of @n new references (NULL ones fail it) to the list. */
static void
append_record(struct list_ctx *l, PyTypeObject *type, PyObject *const *items, Py_ssize_t n)
{
	PyObject *t = l->failed ? NULL : PyStructSequence_New(type);
	for (Py_ssize_t i = 0; i < n; i++) {
		if (t == NULL || items[i] == NULL) {
			l->failed = 1;
			Py_XDECREF(items[i]);
		} else {
			PyStructSequence_SET_ITEM(t, i, items[i]);
		}
	}
	if (t != NULL && (l->failed || PyList_Append(l->list, t) != 0))
		l->failed = 1;
	Py_XDECREF(t);
}

static void
add_counter(void *ctx, const struct ns_counter *c)
{
	PyObject *items[] = {
		PyLong_FromLong(c->id),
		PyUnicode_FromString(c->type_name),
		PyLong_FromLongLong(c->value),
		PyUnicode_DecodeUTF8(c->label, (Py_ssize_t)strlen(c->label), "replace"),
		PyLong_FromLong(c->type_id),
		PyLong_FromLongLong(c->owner_id),
		PyLong_FromLongLong(c->key),
	};
	append_record(ctx, counter_type, items, 7);
}

static PyObject *
py_counters(PyObject *self, PyObject *args, PyObject *kw)
{
	(void)self;
	static char *names[] = { "dir", NULL };
	PyObject *dir = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:counters", names, &dir))
		return NULL;
	ns_stat *st = stat_open(dir);
	if (st == NULL)
		return NULL;
	struct list_ctx l = { PyList_New(0), 0 };
	int rc = l.list == NULL ? 0 : ns_stat_counters(st, add_counter, &l);
	ns_stat_close(st);
	if (l.list == NULL || l.failed) {
		Py_XDECREF(l.list);
		return PyErr_Occurred() ? NULL : PyErr_NoMemory();
	}
	if (rc < 0) {
		Py_DECREF(l.list);
		return nspy_raise(rc, "reading the counters", 0);
	}
	return l.list;
}

static void
add_error(void *ctx, const struct ns_error_record *e)
{
	PyObject *items[] = {
		PyLong_FromLong(e->count),
		PyUnicode_DecodeUTF8(e->text, (Py_ssize_t)strlen(e->text), "replace"),
		PyLong_FromLongLong(e->first_ns),
		PyLong_FromLongLong(e->last_ns),
	};
	append_record(ctx, error_type, items, 4);
}

static PyObject *
py_errors(PyObject *self, PyObject *args, PyObject *kw)
{
	(void)self;
	static char *names[] = { "dir", NULL };
	PyObject *dir = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:errors", names, &dir))
		return NULL;
	ns_stat *st = stat_open(dir);
	if (st == NULL)
		return NULL;
	struct list_ctx l = { PyList_New(0), 0 };
	int rc = l.list == NULL ? 0 : ns_stat_errors(st, add_error, &l);
	if (rc < 0 && l.list != NULL && !l.failed) {
		nspy_raise(rc, "reading the error log", 1);
		l.failed = 1;
	}
	ns_stat_close(st);
	if (l.list == NULL || l.failed) {
		Py_XDECREF(l.list);
		return PyErr_Occurred() ? NULL : PyErr_NoMemory();
	}
	return l.list;
}

static PyObject *
py_driver_info(PyObject *self, PyObject *args, PyObject *kw)
{
	(void)self;
	static char *names[] = { "dir", NULL };
	PyObject *dir = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:driver_info", names, &dir))
		return NULL;
	ns_stat *st = stat_open(dir);
	if (st == NULL)
		return NULL;
	struct ns_driver_info d = NS_DRIVER_INFO_INIT;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = ns_stat_driver(st, &d);
	Py_END_ALLOW_THREADS
	ns_stat_close(st);
	if (rc != 0)
		return nspy_raise(rc, "reading the driver's state", 0);
	static const char *const states[] = { "running", "hung", "gone" };
	PyObject *t = PyStructSequence_New(driver_type);
	if (t == NULL)
		return NULL;
	PyObject *age = d.counters_age_ns < 0 ? Py_NewRef(Py_None)
					      : PyFloat_FromDouble((double)d.counters_age_ns / 1e9);
	PyStructSequence_SET_ITEM(t, 0, PyUnicode_FromString(states[d.state]));
	PyStructSequence_SET_ITEM(t, 1, PyLong_FromLongLong(d.pid));
	PyStructSequence_SET_ITEM(t, 2, PyFloat_FromDouble((double)d.start_time_ms / 1e3));
	PyStructSequence_SET_ITEM(t, 3, PyFloat_FromDouble((double)d.heartbeat_age_ns / 1e9));
	PyStructSequence_SET_ITEM(t, 4, age);
	PyStructSequence_SET_ITEM(t, 5, PyFloat_FromDouble((double)d.timeout_ns / 1e9));
	for (Py_ssize_t i = 0; i < 6; i++) {
		if (PyStructSequence_GET_ITEM(t, i) == NULL) {
			Py_DECREF(t);
			return NULL;
		}
	}
	return t;
}

static PyObject *
py_clock_ns(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	return PyLong_FromLongLong(ns_clock_ns());
}

static PyObject *
py_check_uri(PyObject *self, PyObject *arg)
{
	(void)self;
	const char *uri = PyUnicode_AsUTF8(arg);
	if (uri == NULL)
		return NULL;
	char msg[256];
	int rc = ns_uri_check(uri, msg, sizeof(msg));
	if (rc != 0)
		return PyErr_Format(PyExc_ValueError, "%s", msg);
	Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
	{ "counters", (PyCFunction)(void (*)(void))py_counters, METH_VARARGS | METH_KEYWORDS,
	  "counters(dir=None) -> list[Counter]\n\n"
	  "The counters of the media driver of `dir` (None: $NANOSTREAM_DIR, else\n"
	  "/dev/shm/nanostream-USER), read now from another process through a read-only\n"
	  "mapping: what `ns-stat` prints. Raises nanostream.Error (errno ENOENT when no driver\n"
	  "has run there)." },
	{ "errors", (PyCFunction)(void (*)(void))py_errors, METH_VARARGS | METH_KEYWORDS,
	  "errors(dir=None) -> list[ErrorRecord]\n\n"
	  "The distinct errors in the driver's error log, oldest first: what `ns-stat --errors`\n"
	  "prints. Raises nanostream.Error (EBADMSG for an impossible record)." },
	{ "driver_info", (PyCFunction)(void (*)(void))py_driver_info, METH_VARARGS | METH_KEYWORDS,
	  "driver_info(dir=None) -> DriverInfo\n\n"
	  "The driver's process, start time, heartbeat and state ('running', 'hung', 'gone')." },
	{ "clock_ns", py_clock_ns, METH_NOARGS,
	  "clock_ns() -> int\n\nThe library's clock (CLOCK_MONOTONIC, ns): ErrorRecord times use "
	  "it." },
	{ "check_uri", py_check_uri, METH_O,
	  "check_uri(channel: str) -> None\n\n"
	  "Raise ValueError naming what is wrong with a channel URI; return None when it is "
	  "good." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module_def = {
	PyModuleDef_HEAD_INIT,
	.m_name = "nanostream._nanostream",
	.m_doc = "The compiled part of the nanostream package (import nanostream instead).",
	.m_size = -1,
	.m_methods = module_methods,
};

static PyObject *
make_offer_result(void)
{
	PyObject *enum_mod = PyImport_ImportModule("enum");
	if (enum_mod == NULL)
		return NULL;
	PyObject *members = Py_BuildValue(
		"[(si)(si)(si)(si)(si)]", "NOT_CONNECTED", NS_NOT_CONNECTED, "BACK_PRESSURED",
		NS_BACK_PRESSURED, "ADMIN_ACTION", NS_ADMIN_ACTION, "CLOSED", NS_PUBLICATION_CLOSED,
		"MAX_POSITION_EXCEEDED", NS_MAX_POSITION_EXCEEDED);
	PyObject *cls = members == NULL ? NULL
					: PyObject_CallMethod(enum_mod, "IntEnum", "sO",
							      "OfferResult", members);
	Py_XDECREF(members);
	Py_DECREF(enum_mod);
	if (cls == NULL)
		return NULL;
	PyObject *mod = PyUnicode_FromString("nanostream");
	PyObject *doc = PyUnicode_FromString(
		"Why an offer or claim did not go through (negative, as the C library's codes):\n"
		"NOT_CONNECTED (no subscriber), BACK_PRESSURED (the slowest subscriber is a "
		"window\n"
		"behind: try again), ADMIN_ACTION (the log is rotating: try again at once), "
		"CLOSED\n"
		"(the publication was closed), MAX_POSITION_EXCEEDED (the stream reached its "
		"end).");
	int rc = mod == NULL || doc == NULL ? -1
		 : PyObject_SetAttrString(cls, "__module__", mod) != 0 ||
				 PyObject_SetAttrString(cls, "__doc__", doc) != 0
			 ? -1
			 : 0;
	Py_XDECREF(mod);
	Py_XDECREF(doc);
	if (rc != 0) {
		Py_DECREF(cls);
		return NULL;
	}
	return cls;
}

PyMODINIT_FUNC PyInit__nanostream(void);

PyMODINIT_FUNC
PyInit__nanostream(void)
{
	PyObject *m = PyModule_Create(&module_def);
	if (m == NULL)
		return NULL;
	if (PyType_Ready(&nspy_view_type) != 0)
		goto fail;
	nspy_error = PyErr_NewExceptionWithDoc(
		"nanostream.Error",
		"A failure of the library or its driver: args are (errno, message), the message\n"
		"the library's own words (errno: the positive code, e.g. errno.EINVAL).",
		PyExc_OSError, NULL);
	nspy_driver_timeout =
		nspy_error == NULL
			? NULL
			: PyErr_NewExceptionWithDoc(
				  "nanostream.DriverTimeout",
				  "The media driver stopped answering (its heartbeat is older "
				  "than the driver timeout, or its process is gone).",
				  nspy_error, NULL);
	nspy_offer_failed =
		nspy_error == NULL
			? NULL
			: PyErr_NewExceptionWithDoc(
				  "nanostream.OfferFailed",
				  "A claim used in a with-statement did not go through; .result is "
				  "the OfferResult.",
				  nspy_error, NULL);
	nspy_offer_result = make_offer_result();
	if (nspy_error == NULL || nspy_driver_timeout == NULL || nspy_offer_failed == NULL ||
	    nspy_offer_result == NULL)
		goto fail;
	for (int i = 0; i < OUTCOMES; i++) {
		outcomes[i] =
			PyObject_CallFunction(nspy_offer_result, "L", (long long)outcome_codes[i]);
		if (outcomes[i] == NULL)
			goto fail;
	}
	counter_type = PyStructSequence_NewType(&counter_desc);
	error_type = PyStructSequence_NewType(&error_desc);
	driver_type = PyStructSequence_NewType(&driver_desc);
	if (counter_type == NULL || error_type == NULL || driver_type == NULL)
		goto fail;
	if (PyModule_AddObjectRef(m, "Error", nspy_error) != 0 ||
	    PyModule_AddObjectRef(m, "DriverTimeout", nspy_driver_timeout) != 0 ||
	    PyModule_AddObjectRef(m, "OfferFailed", nspy_offer_failed) != 0 ||
	    PyModule_AddObjectRef(m, "OfferResult", nspy_offer_result) != 0 ||
	    PyModule_AddObjectRef(m, "Counter", (PyObject *)counter_type) != 0 ||
	    PyModule_AddObjectRef(m, "ErrorRecord", (PyObject *)error_type) != 0 ||
	    PyModule_AddObjectRef(m, "DriverInfo", (PyObject *)driver_type) != 0 ||
	    PyModule_AddStringConstant(m, "library_version", ns_version()) != 0 ||
	    PyModule_AddStringConstant(m, "header_version", NS_VERSION_STRING) != 0)
		goto fail;
	if (nspy_client_init(m) != 0 || nspy_ring_init(m) != 0)
		goto fail;
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
