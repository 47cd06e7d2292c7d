/* SPDX-License-Identifier: MIT */
/*
 * Client, Publication, Claim, Subscription, Header and Image: the IPC and UDP API of
 * nanostream/ipc.h for Python (nspy.h states the rules every object follows).
 */
#include "nspy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- Client ---- */

/* Publications and subscriptions of a client, so that closing it closes them first. */
struct child {
	struct child *prev, *next;
	PyObject *self; /* borrowed: a child unlinks itself when it closes or goes away */
	int (*busy)(PyObject *self);
	void (*close_now)(PyObject *self);
};

typedef struct {
	PyObject_HEAD
	ns_client *c;
	PyObject *dir; /* str or None */
	struct child children;
	int busy; /* calls that released the GIL */
} ClientObject;

static PyTypeObject client_type;

static int
client_ok(ClientObject *self)
{
	if (self->c == NULL) {
		PyErr_SetString(PyExc_ValueError, "the client is closed");
		return 0;
	}
	return 1;
}

static void
child_link(ClientObject *cl, struct child *ch, PyObject *self, int (*busy)(PyObject *),
	   void (*close_now)(PyObject *))
{
	ch->self = self;
	ch->busy = busy;
	ch->close_now = close_now;
	ch->next = cl->children.next;
	ch->prev = &cl->children;
	cl->children.next->prev = ch;
	cl->children.next = ch;
}

static void
child_unlink(struct child *ch)
{
	if (ch->next != NULL) {
		ch->prev->next = ch->next;
		ch->next->prev = ch->prev;
		ch->next = ch->prev = NULL;
	}
}

static int
Client_init(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = { "dir", "embedded",	  "timeout", "term_length",
				 "mtu", "driver_timeout", NULL };
	PyObject *dir = Py_None, *timeout = Py_None, *driver_timeout = Py_None;
	int embedded = 1, term_length = 0, mtu = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O$pOiiO:Client", names, &dir, &embedded,
					 &timeout, &term_length, &mtu, &driver_timeout))
		return -1;
	if (self->c != NULL) {
		PyErr_SetString(PyExc_RuntimeError, "Client.__init__ called twice");
		return -1;
	}
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	PyObject *dir_bytes = NULL;
	if (dir != Py_None) {
		if (!PyUnicode_FSConverter(dir, &dir_bytes))
			return -1;
		o.dir = PyBytes_AS_STRING(dir_bytes);
	}
	if (!embedded)
		o.flags |= NS_CLIENT_NO_EMBEDDED;
	o.term_length = term_length;
	o.mtu = mtu;
	double t;
	if (timeout != Py_None) {
		t = PyFloat_AsDouble(timeout);
		if ((t == -1.0 && PyErr_Occurred()) || !(t > 0 && t < 1e6)) {
			Py_XDECREF(dir_bytes);
			if (!PyErr_Occurred())
				PyErr_SetString(PyExc_ValueError, "timeout: seconds > 0");
			return -1;
		}
		o.timeout_ns = (int64_t)(t * 1e9);
	}
	if (driver_timeout != Py_None) {
		t = PyFloat_AsDouble(driver_timeout);
		if ((t == -1.0 && PyErr_Occurred()) || !(t > 0 && t < 1e6)) {
			Py_XDECREF(dir_bytes);
			if (!PyErr_Occurred())
				PyErr_SetString(PyExc_ValueError, "driver_timeout: seconds > 0");
			return -1;
		}
		o.driver_timeout_ns = (int64_t)(t * 1e9);
	}
	ns_client *c = NULL;
	int rc;
	char msg[NS_ERRMSG_MAX + 1];
	Py_BEGIN_ALLOW_THREADS
	rc = ns_client_create(&c, &o);
	snprintf(msg, sizeof(msg), "%s", ns_errmsg());
	Py_END_ALLOW_THREADS
	Py_XDECREF(dir_bytes);
	if (rc != 0) {
		nspy_raise_msg(rc, "cannot connect to a driver", msg);
		return -1;
	}
	self->c = c;
	Py_XSETREF(self->dir, Py_NewRef(dir));
	return 0;
}

static PyObject *
Client_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	(void)args;
	(void)kw;
	ClientObject *self = (ClientObject *)type->tp_alloc(type, 0);
	if (self == NULL)
		return NULL;
	self->children.next = self->children.prev = &self->children;
	self->dir = Py_NewRef(Py_None);
	return (PyObject *)self;
}

/* Close the client and, first, its children; 0, or -1 with nothing closed after raising. */
static int
client_close(ClientObject *self)
{
	if (self->c == NULL)
		return 0;
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the client is in use by a call in another thread");
		return -1;
	}
	for (struct child *ch = self->children.next; ch != &self->children; ch = ch->next) {
		if (ch->busy(ch->self))
			return -1;
	}
	while (self->children.next != &self->children) {
		struct child *ch = self->children.next;
		child_unlink(ch);
		ch->close_now(ch->self);
	}
	ns_client *c = self->c;
	self->c = NULL;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = ns_client_close(c);
	Py_END_ALLOW_THREADS
	if (rc != 0) {
		nspy_raise(rc, "closing the client", 0);
		return -1;
	}
	return 0;
}

static PyObject *
Client_close(ClientObject *self, PyObject *unused)
{
	(void)unused;
	if (client_close(self) != 0)
		return NULL;
	Py_RETURN_NONE;
}

static void
Client_dealloc(ClientObject *self)
{
	if (self->c != NULL) {
		/* Children hold a reference: none is left. */
		ns_client_close(self->c);
		self->c = NULL;
	}
	Py_XDECREF(self->dir);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Client_enter(PyObject *self, PyObject *unused)
{
	(void)unused;
	if (!client_ok((ClientObject *)self))
		return NULL;
	return Py_NewRef(self);
}

static PyObject *
Client_exit(ClientObject *self, PyObject *args)
{
	(void)args;
	if (client_close(self) != 0)
		return NULL;
	Py_RETURN_FALSE;
}

static PyObject *
Client_is_embedded(ClientObject *self, void *closure)
{
	(void)closure;
	if (!client_ok(self))
		return NULL;
	return PyBool_FromLong(ns_client_is_embedded(self->c) == 1);
}

static PyObject *
Client_closed(ClientObject *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->c == NULL);
}

static PyObject *Client_add_publication(ClientObject *self, PyObject *args, PyObject *kw);
static PyObject *Client_add_subscription(ClientObject *self, PyObject *args, PyObject *kw);

static PyMethodDef Client_methods[] = {
	{ "add_publication", (PyCFunction)(void (*)(void))Client_add_publication,
	  METH_VARARGS | METH_KEYWORDS,
	  "add_publication(channel, stream_id, exclusive=False) -> Publication\n\n"
	  "Publish on `channel` ('ns:ipc', 'ns:udp?endpoint=host:port', ...) and `stream_id`.\n"
	  "exclusive=True: a log of its own, written by one thread at a time (faster).\n"
	  "Raises ValueError for a bad URI, nanostream.Error when the driver refuses." },
	{ "add_subscription", (PyCFunction)(void (*)(void))Client_add_subscription,
	  METH_VARARGS | METH_KEYWORDS,
	  "add_subscription(channel, stream_id, on_available=None, on_unavailable=None)\n"
	  "    -> Subscription\n\n"
	  "Subscribe to `stream_id` on `channel`. The callbacks get an Image when a publisher's\n"
	  "stream arrives or leaves; they run inside poll(), receive() and iteration." },
	{ "close", (PyCFunction)Client_close, METH_NOARGS,
	  "close()\n\nClose the client's publications and subscriptions, then the client (an\n"
	  "embedded driver stops with it). Idempotent. RuntimeError while one of them is busy\n"
	  "in another thread; BufferError while a claim or message view of theirs is live." },
	{ "__enter__", Client_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)Client_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef Client_getset[] = {
	{ "is_embedded", (getter)Client_is_embedded, NULL,
	  "Whether this client started the driver it uses (it stops when the client closes).",
	  NULL },
	{ "closed", (getter)Client_closed, NULL, "Whether close() was called.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyMemberDef Client_members[] = {
	{ "dir", T_OBJECT, offsetof(ClientObject, dir), READONLY,
	  "The driver directory given (None: $NANOSTREAM_DIR, else /dev/shm/nanostream-USER)." },
	{ NULL, 0, 0, 0, NULL },
};

static PyTypeObject client_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nanostream.Client",
	.tp_basicsize = sizeof(ClientObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc =
		"Client(dir=None, *, embedded=True, timeout=None, term_length=0, mtu=0,\n"
		"       driver_timeout=None)\n\n"
		"A connection to the media driver of a directory (None: $NANOSTREAM_DIR, else\n"
		"/dev/shm/nanostream-USER), starting an embedded driver in this process when none\n"
		"runs (embedded=False: nanostream.Error ECONNREFUSED instead). timeout: seconds "
		"to\n"
		"wait for the driver's answers (default 5); term_length, mtu: an embedded "
		"driver's\n"
		"defaults. A context manager: leaving the block closes it.",
	.tp_new = Client_new,
	.tp_init = (initproc)Client_init,
	.tp_dealloc = (destructor)Client_dealloc,
	.tp_methods = Client_methods,
	.tp_getset = Client_getset,
	.tp_members = Client_members,
};

/* ---- Publication ---- */

typedef struct {
	PyObject_HEAD
	struct child link;
	ClientObject *client;
	ns_publication *p;
	PyObject *channel;
	int32_t stream_id;
	int exclusive;
	int busy;		/* calls that released the GIL */
	Py_ssize_t open_claims; /* claims neither committed nor aborted */
	Py_ssize_t exports;	/* live exports of claim buffers */
} PublicationObject;

static PyTypeObject publication_type;

static int
pub_ok(PublicationObject *self)
{
	if (self->p == NULL) {
		PyErr_SetString(PyExc_ValueError, "the publication is closed");
		return 0;
	}
	return 1;
}

static int
pub_busy(PyObject *obj)
{
	PublicationObject *self = (PublicationObject *)obj;
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the publication is in use by a call in another thread");
		return 1;
	}
	if (self->open_claims != 0 || self->exports != 0) {
		PyErr_SetString(PyExc_BufferError,
				"the publication has an open claim, or a claim's buffer is still "
				"referenced: commit or abort it and drop its views first");
		return 1;
	}
	return 0;
}

static void
pub_close_now(PyObject *obj)
{
	PublicationObject *self = (PublicationObject *)obj;
	ns_publication *p = self->p;
	self->p = NULL;
	if (p == NULL)
		return;
	Py_BEGIN_ALLOW_THREADS
	ns_publication_close(p);
	Py_END_ALLOW_THREADS
}

static PyObject *
Client_add_publication(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = { "channel", "stream_id", "exclusive", NULL };
	PyObject *channel;
	int stream_id, exclusive = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "Ui|p:add_publication", names, &channel,
					 &stream_id, &exclusive))
		return NULL;
	if (!client_ok(self))
		return NULL;
	const char *uri = PyUnicode_AsUTF8(channel);
	if (uri == NULL)
		return NULL;
	char msg[256];
	if (ns_uri_check(uri, msg, sizeof(msg)) != 0)
		return PyErr_Format(PyExc_ValueError, "%s", msg);
	PublicationObject *pub = PyObject_New(PublicationObject, &publication_type);
	if (pub == NULL)
		return NULL;
	pub->p = NULL;
	pub->link.next = pub->link.prev = NULL;
	pub->client = (ClientObject *)Py_NewRef(self);
	pub->channel = Py_NewRef(channel);
	pub->stream_id = stream_id;
	pub->exclusive = exclusive;
	pub->busy = 0;
	pub->open_claims = 0;
	pub->exports = 0;
	ns_publication *p = NULL;
	int rc;
	char why[NS_ERRMSG_MAX + 1];
	self->busy++;
	Py_BEGIN_ALLOW_THREADS
	rc = ns_publication_add(self->c, uri, stream_id, exclusive ? NS_PUBLICATION_EXCLUSIVE : 0,
				&p);
	snprintf(why, sizeof(why), "%s", ns_errmsg());
	Py_END_ALLOW_THREADS
	self->busy--;
	if (rc != 0) {
		Py_DECREF(pub);
		char what[320];
		snprintf(what, sizeof(what), "cannot add a publication on %.256s stream %d", uri,
			 stream_id);
		return nspy_raise_msg(rc, what, why);
	}
	pub->p = p;
	child_link(self, &pub->link, (PyObject *)pub, pub_busy, pub_close_now);
	return (PyObject *)pub;
}

static void
Publication_dealloc(PublicationObject *self)
{
	child_unlink(&self->link);
	pub_close_now((PyObject *)self);
	Py_XDECREF(self->client);
	Py_XDECREF(self->channel);
	PyObject_Free(self);
}

static int
exclusive_free(PublicationObject *self)
{
	if (self->exclusive && self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"an exclusive publication is written by one thread at a time, and "
				"another thread is in offer_wait() on it");
		return 0;
	}
	return 1;
}

static PyObject *
Publication_offer(PublicationObject *self, PyObject *data)
{
	if (!pub_ok(self) || !exclusive_free(self))
		return NULL;
	Py_buffer b;
	if (PyObject_GetBuffer(data, &b, PyBUF_SIMPLE) != 0)
		return NULL;
	int64_t r = ns_offer(self->p, b.buf, (size_t)b.len);
	PyBuffer_Release(&b);
	if (r > 0)
		return PyLong_FromLongLong(r);
	return nspy_offer_outcome(r, "offer");
}

static PyObject *
Publication_offer_wait(PublicationObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = { "data", "timeout", NULL };
	PyObject *data, *timeout = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:offer_wait", names, &data, &timeout))
		return NULL;
	if (!pub_ok(self) || !exclusive_free(self))
		return NULL;
	int64_t deadline;
	if (nspy_deadline(timeout, &deadline) != 0)
		return NULL;
	Py_buffer b;
	if (PyObject_GetBuffer(data, &b, PyBUF_SIMPLE) != 0)
		return NULL;
	int64_t r = ns_offer(self->p, b.buf, (size_t)b.len);
	while (r == NS_NOT_CONNECTED || r == NS_BACK_PRESSURED || r == NS_ADMIN_ACTION) {
		int64_t slice = nspy_slice(deadline);
		self->busy++;
		Py_BEGIN_ALLOW_THREADS
		r = ns_offer_wait(self->p, b.buf, (size_t)b.len, NS_WAIT_PHASED, slice);
		Py_END_ALLOW_THREADS
		self->busy--;
		if (r != -ETIMEDOUT)
			break;
		int over = nspy_slice_over(slice, deadline);
		if (over < 0) {
			PyBuffer_Release(&b);
			return NULL;
		}
		if (over > 0)
			break;
		r = NS_BACK_PRESSURED;
	}
	PyBuffer_Release(&b);
	if (r > 0)
		return PyLong_FromLongLong(r);
	if (r == -ETIMEDOUT)
		return nspy_raise(-ETIMEDOUT, "offer_wait: the timeout passed", 0);
	return nspy_offer_outcome(r, "offer_wait");
}

static PyObject *
Publication_wait_connected(PublicationObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = { "timeout", NULL };
	PyObject *timeout = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:wait_connected", names, &timeout))
		return NULL;
	if (!pub_ok(self))
		return NULL;
	int64_t deadline;
	if (nspy_deadline(timeout, &deadline) != 0)
		return NULL;
	for (;;) {
		int64_t slice = nspy_slice(deadline);
		int rc;
		self->busy++;
		Py_BEGIN_ALLOW_THREADS
		rc = ns_publication_wait_connected(self->p, slice);
		Py_END_ALLOW_THREADS
		self->busy--;
		if (rc == 0)
			Py_RETURN_TRUE;
		if (rc != -ETIMEDOUT)
			return nspy_raise(rc, "wait_connected", 0);
		int over = nspy_slice_over(slice, deadline);
		if (over != 0)
			return over < 0 ? NULL : Py_NewRef(Py_False);
	}
}

static PyObject *Publication_try_claim(PublicationObject *self, PyObject *arg);

static PyObject *
Publication_close(PublicationObject *self, PyObject *unused)
{
	(void)unused;
	if (self->p == NULL)
		Py_RETURN_NONE;
	if (pub_busy((PyObject *)self))
		return NULL;
	child_unlink(&self->link);
	pub_close_now((PyObject *)self);
	Py_RETURN_NONE;
}

static PyObject *
Publication_enter(PublicationObject *self, PyObject *unused)
{
	(void)unused;
	if (!pub_ok(self))
		return NULL;
	return Py_NewRef(self);
}

static PyObject *
Publication_exit(PublicationObject *self, PyObject *args)
{
	(void)args;
	PyObject *r = Publication_close(self, NULL);
	if (r == NULL)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_FALSE;
}

static PyObject *
Publication_position(PublicationObject *self, void *closure)
{
	(void)closure;
	if (!pub_ok(self))
		return NULL;
	int64_t r = ns_publication_position(self->p);
	return r < 0 ? nspy_raise((int)r, "position", 0) : PyLong_FromLongLong(r);
}

static PyObject *
Publication_session_id(PublicationObject *self, void *closure)
{
	(void)closure;
	if (!pub_ok(self))
		return NULL;
	return PyLong_FromLong(ns_publication_session_id(self->p));
}

static PyObject *
Publication_max_message(PublicationObject *self, void *closure)
{
	(void)closure;
	if (!pub_ok(self))
		return NULL;
	return PyLong_FromLong(ns_publication_max_message(self->p));
}

static PyObject *
Publication_max_payload(PublicationObject *self, void *closure)
{
	(void)closure;
	if (!pub_ok(self))
		return NULL;
	return PyLong_FromLong(ns_publication_max_payload(self->p));
}

static PyObject *
Publication_is_connected(PublicationObject *self, void *closure)
{
	(void)closure;
	if (!pub_ok(self))
		return NULL;
	return PyBool_FromLong(ns_publication_is_connected(self->p) == 1);
}

static PyObject *
Publication_closed(PublicationObject *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->p == NULL);
}

static PyMethodDef Publication_methods[] = {
	{ "offer", (PyCFunction)Publication_offer, METH_O,
	  "offer(data) -> int | OfferResult\n\n"
	  "Append one message: `data` is any C-contiguous bytes-like object (bytes, bytearray,\n"
	  "memoryview, array, numpy array), read in place, never copied on the way. Returns\n"
	  "the stream position after it (> 0), or an OfferResult member (negative) saying why\n"
	  "it did not go: NOT_CONNECTED, BACK_PRESSURED, ADMIN_ACTION, CLOSED,\n"
	  "MAX_POSITION_EXCEEDED. Raises nanostream.Error with EMSGSIZE for a message longer\n"
	  "than max_message. Never blocks." },
	{ "offer_wait", (PyCFunction)(void (*)(void))Publication_offer_wait,
	  METH_VARARGS | METH_KEYWORDS,
	  "offer_wait(data, timeout=None) -> int | OfferResult\n\n"
	  "offer(), waiting through NOT_CONNECTED, BACK_PRESSURED and ADMIN_ACTION until it\n"
	  "goes or `timeout` seconds pass (None: no limit): then TimeoutError. Returns the\n"
	  "position, or OfferResult.CLOSED / MAX_POSITION_EXCEEDED. The wait releases the GIL\n"
	  "and Ctrl-C interrupts it (KeyboardInterrupt)." },
	{ "try_claim", (PyCFunction)Publication_try_claim, METH_O,
	  "try_claim(length) -> Claim\n\n"
	  "Reserve `length` bytes (at most max_payload) in the log to write a message in place:\n"
	  "    with pub.try_claim(8) as buf:\n"
	  "        buf[:] = b'12345678'\n"
	  "commits on leaving the block, aborts on an exception (subscribers then skip it).\n"
	  "A claim that did not go through is falsy, its .result the OfferResult; entering it\n"
	  "raises nanostream.OfferFailed." },
	{ "wait_connected", (PyCFunction)(void (*)(void))Publication_wait_connected,
	  METH_VARARGS | METH_KEYWORDS,
	  "wait_connected(timeout=None) -> bool\n\n"
	  "Wait until a subscriber is connected (True) or `timeout` seconds pass (False).\n"
	  "Releases the GIL; Ctrl-C interrupts it." },
	{ "close", (PyCFunction)Publication_close, METH_NOARGS,
	  "close()\n\nClose the publication (idempotent). RuntimeError while another thread is\n"
	  "in a call on it; BufferError while a claim is open or its buffer referenced." },
	{ "__enter__", (PyCFunction)Publication_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)Publication_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef Publication_getset[] = {
	{ "position", (getter)Publication_position, NULL,
	  "The stream position of the next message.", NULL },
	{ "session_id", (getter)Publication_session_id, NULL, "The publication's session id.",
	  NULL },
	{ "max_message", (getter)Publication_max_message, NULL,
	  "The longest message offer() takes (it is sent in fragments past max_payload).", NULL },
	{ "max_payload", (getter)Publication_max_payload, NULL,
	  "The longest message of one frame: the most try_claim() reserves.", NULL },
	{ "is_connected", (getter)Publication_is_connected, NULL,
	  "Whether a subscriber is connected.", NULL },
	{ "closed", (getter)Publication_closed, NULL, "Whether close() was called.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyMemberDef Publication_members[] = {
	{ "channel", T_OBJECT, offsetof(PublicationObject, channel), READONLY, "The channel URI." },
	{ "stream_id", T_INT, offsetof(PublicationObject, stream_id), READONLY, "The stream id." },
	{ NULL, 0, 0, 0, NULL },
};

static PyTypeObject publication_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nanostream.Publication",
	.tp_basicsize = sizeof(PublicationObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc =
		"A publication (Client.add_publication()). Thread safety: any thread may offer\n"
		"on a shared one; an exclusive one is written by one thread at a time. A context\n"
		"manager: leaving the block closes it.",
	.tp_dealloc = (destructor)Publication_dealloc,
	.tp_methods = Publication_methods,
	.tp_getset = Publication_getset,
	.tp_members = Publication_members,
};

/* ---- Claim ---- */

typedef struct {
	PyObject_HEAD
	PublicationObject *pub;
	struct ns_claim claim;
	int64_t result;	  /* the claim's outcome: > 0 claimed */
	int open;	  /* claimed and neither committed nor aborted */
	nspy_view *view;  /* the claim's bytes, writable */
	PyObject *buffer; /* the memoryview handed out, or NULL */
} ClaimObject;

static PyTypeObject claim_type;

static PyObject *
Publication_try_claim(PublicationObject *self, PyObject *arg)
{
	Py_ssize_t n = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
	if (n == -1 && PyErr_Occurred())
		return NULL;
	if (!pub_ok(self) || !exclusive_free(self))
		return NULL;
	if (n < 0)
		return PyErr_Format(PyExc_ValueError, "try_claim: a length >= 0, not %zd", n);
	ClaimObject *c = PyObject_New(ClaimObject, &claim_type);
	if (c == NULL)
		return NULL;
	c->pub = (PublicationObject *)Py_NewRef(self);
	c->open = 0;
	c->buffer = NULL;
	c->view = nspy_view_new((PyObject *)self, &self->exports, 0);
	if (c->view == NULL) {
		Py_DECREF(c);
		return NULL;
	}
	memset(&c->claim, 0, sizeof(c->claim));
	c->result = ns_try_claim(self->p, (size_t)n, &c->claim);
	if (c->result > 0) {
		c->open = 1;
		self->open_claims++;
		return (PyObject *)c;
	}
	switch (c->result) {
	case NS_NOT_CONNECTED:
	case NS_BACK_PRESSURED:
	case NS_ADMIN_ACTION:
	case NS_PUBLICATION_CLOSED:
	case NS_MAX_POSITION_EXCEEDED:
		return (PyObject *)c;
	default:
		Py_DECREF(c);
		return nspy_raise((int)c->result, "try_claim", 0);
	}
}

/* End the claim: commit (1) or abort (0). Returns 0, or -1 after raising. */
static int
claim_end(ClaimObject *self, int commit)
{
	if (!self->open) {
		PyErr_SetString(PyExc_ValueError,
				self->result > 0 ? "the claim was already committed or aborted"
						 : "nothing was claimed (see .result)");
		return -1;
	}
	int kept = 0;
	if (self->buffer != NULL) {
		PyObject *mv = self->buffer;
		self->buffer = NULL;
		kept = nspy_view_end(self->view, mv) != 0;
	}
	self->open = 0;
	self->pub->open_claims--;
	int rc = commit && !kept ? ns_claim_commit(&self->claim) : ns_claim_abort(&self->claim);
	if (kept)
		return -1; /* BufferError, raised by nspy_view_end(); the claim was aborted */
	if (rc != 0) {
		nspy_raise(rc, commit ? "commit" : "abort", 0);
		return -1;
	}
	return 0;
}

static PyObject *
Claim_buffer(ClaimObject *self, void *closure)
{
	(void)closure;
	if (!self->open)
		return PyErr_Format(PyExc_ValueError,
				    self->result > 0 ? "the claim was already committed or aborted"
						     : "nothing was claimed (see .result)");
	if (self->buffer == NULL) {
		self->buffer = nspy_view_begin(self->view, self->claim.data,
					       (Py_ssize_t)self->claim.length);
		if (self->buffer == NULL)
			return NULL;
	}
	return Py_NewRef(self->buffer);
}

static PyObject *
Claim_commit(ClaimObject *self, PyObject *unused)
{
	(void)unused;
	if (claim_end(self, 1) != 0)
		return NULL;
	return PyLong_FromLongLong(self->claim.position);
}

static PyObject *
Claim_abort(ClaimObject *self, PyObject *unused)
{
	(void)unused;
	if (claim_end(self, 0) != 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *
Claim_enter(ClaimObject *self, PyObject *unused)
{
	(void)unused;
	if (self->result <= 0) {
		PyObject *member = nspy_offer_outcome(self->result, "try_claim");
		if (member == NULL)
			return NULL;
		PyObject *name = PyObject_GetAttrString(member, "name");
		PyObject *text =
			name == NULL
				? NULL
				: PyUnicode_FromFormat("try_claim did not go through: %U", name);
		Py_XDECREF(name);
		PyObject *a = text == NULL ? NULL : Py_BuildValue("(iN)", (int)-self->result, text);
		if (a != NULL) {
			PyObject *exc = PyObject_Call(nspy_offer_failed, a, NULL);
			Py_DECREF(a);
			if (exc != NULL) {
				if (PyObject_SetAttrString(exc, "result", member) == 0)
					PyErr_SetObject(nspy_offer_failed, exc);
				Py_DECREF(exc);
			}
		}
		Py_DECREF(member);
		return NULL;
	}
	return Claim_buffer(self, NULL);
}

static PyObject *
Claim_exit(ClaimObject *self, PyObject *args)
{
	PyObject *et = PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : Py_None;
	if (!self->open)
		Py_RETURN_FALSE; /* ended inside the block by commit() or abort() */
	if (et != Py_None) {
		/* An exception leaves the block: abort quietly, let it propagate. */
		PyObject *t, *v, *tb;
		PyErr_Fetch(&t, &v, &tb);
		if (claim_end(self, 0) != 0)
			PyErr_Clear();
		PyErr_Restore(t, v, tb);
		Py_RETURN_FALSE;
	}
	if (claim_end(self, 1) != 0)
		return NULL;
	Py_RETURN_FALSE;
}

static int
Claim_bool(ClaimObject *self)
{
	return self->result > 0;
}

static PyObject *
Claim_result(ClaimObject *self, void *closure)
{
	(void)closure;
	if (self->result > 0)
		Py_RETURN_NONE;
	return nspy_offer_outcome(self->result, "try_claim");
}

static PyObject *
Claim_position(ClaimObject *self, void *closure)
{
	(void)closure;
	if (self->result <= 0)
		Py_RETURN_NONE;
	return PyLong_FromLongLong(self->claim.position);
}

static void
Claim_dealloc(ClaimObject *self)
{
	if (self->open) {
		/* Dropped without an end: abort (subscribers skip it) rather than stall them. */
		PyObject *t, *v, *tb;
		PyErr_Fetch(&t, &v, &tb);
		if (claim_end(self, 0) != 0)
			PyErr_Clear();
		PyErr_Restore(t, v, tb);
	}
	Py_XDECREF(self->buffer);
	Py_XDECREF(self->view);
	Py_XDECREF(self->pub);
	PyObject_Free(self);
}

static PyNumberMethods claim_as_number = {
	.nb_bool = (inquiry)Claim_bool,
};

static PyMethodDef Claim_methods[] = {
	{ "commit", (PyCFunction)Claim_commit, METH_NOARGS,
	  "commit() -> int\n\nPublish the claimed message; returns the position after it." },
	{ "abort", (PyCFunction)Claim_abort, METH_NOARGS,
	  "abort()\n\nGive the claim up: subscribers skip it." },
	{ "__enter__", (PyCFunction)Claim_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)Claim_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef Claim_getset[] = {
	{ "buffer", (getter)Claim_buffer, NULL,
	  "The claimed bytes, a writable memoryview, valid until commit() or abort() (later\n"
	  "use raises ValueError).",
	  NULL },
	{ "result", (getter)Claim_result, NULL,
	  "None when claimed, else the OfferResult saying why not.", NULL },
	{ "position", (getter)Claim_position, NULL,
	  "The stream position after the message once committed (None: nothing claimed).", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject claim_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nanostream.Claim",
	.tp_basicsize = sizeof(ClaimObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Space claimed in a publication's log (Publication.try_claim()).",
	.tp_dealloc = (destructor)Claim_dealloc,
	.tp_methods = Claim_methods,
	.tp_getset = Claim_getset,
	.tp_as_number = &claim_as_number,
};

/* ---- Header ---- */

typedef struct {
	PyObject_HEAD
	long long position;
	int session_id, stream_id, term_id, term_offset;
	unsigned int flags;
	long long reserved_value;
} HeaderObject;

static PyTypeObject header_type;

static PyObject *
Header_repr(HeaderObject *self)
{
	return PyUnicode_FromFormat("Header(position=%lld, session_id=%d, stream_id=%d)",
				    self->position, self->session_id, self->stream_id);
}

static PyMemberDef Header_members[] = {
	{ "position", T_LONGLONG, offsetof(HeaderObject, position), READONLY,
	  "The stream position after the message." },
	{ "session_id", T_INT, offsetof(HeaderObject, session_id), READONLY,
	  "The publisher's session." },
	{ "stream_id", T_INT, offsetof(HeaderObject, stream_id), READONLY, "The stream." },
	{ "term_id", T_INT, offsetof(HeaderObject, term_id), READONLY,
	  "The term its (last) frame is in." },
	{ "term_offset", T_INT, offsetof(HeaderObject, term_offset), READONLY,
	  "That frame's offset in its term." },
	{ "flags", T_UINT, offsetof(HeaderObject, flags), READONLY, "Frame flags." },
	{ "reserved_value", T_LONGLONG, offsetof(HeaderObject, reserved_value), READONLY,
	  "The frame's reserved value." },
	{ NULL, 0, 0, 0, NULL },
};

static PyTypeObject header_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nanostream.Header",
	.tp_basicsize = sizeof(HeaderObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Where a message came from (the second argument of a poll handler).",
	.tp_members = Header_members,
	.tp_repr = (reprfunc)Header_repr,
	.tp_dealloc = (destructor)PyObject_Free,
};

/* ---- Image ---- */

typedef struct {
	PyObject_HEAD
	const ns_image *img; /* NULL once its callback returned */
	int session_id;
} ImageObject;

static PyTypeObject image_type;

static int
image_ok(ImageObject *self)
{
	if (self->img == NULL) {
		PyErr_SetString(PyExc_ValueError,
				"an Image is valid only during the callback that got it");
		return 0;
	}
	return 1;
}

static PyObject *
Image_position(ImageObject *self, void *closure)
{
	(void)closure;
	if (!image_ok(self))
		return NULL;
	return PyLong_FromLongLong(ns_image_position(self->img));
}

static PyObject *
Image_end_of_stream(ImageObject *self, void *closure)
{
	(void)closure;
	if (!image_ok(self))
		return NULL;
	return PyBool_FromLong(ns_image_is_end_of_stream(self->img) == 1);
}

static PyObject *
Image_repr(ImageObject *self)
{
	return PyUnicode_FromFormat("Image(session_id=%d)", self->session_id);
}

static PyGetSetDef Image_getset[] = {
	{ "position", (getter)Image_position, NULL, "The subscriber's position in it.", NULL },
	{ "end_of_stream", (getter)Image_end_of_stream, NULL,
	  "Whether its publisher closed and everything was read.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyMemberDef Image_members[] = {
	{ "session_id", T_INT, offsetof(ImageObject, session_id), READONLY,
	  "The publisher's session (kept after the callback)." },
	{ NULL, 0, 0, 0, NULL },
};

static PyTypeObject image_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nanostream.Image",
	.tp_basicsize = sizeof(ImageObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "One publisher's stream in a subscription, as an image callback sees it (valid\n"
		  "during the callback; session_id stays readable).",
	.tp_getset = Image_getset,
	.tp_members = Image_members,
	.tp_repr = (reprfunc)Image_repr,
	.tp_dealloc = (destructor)PyObject_Free,
};

/* ---- Subscription ---- */

typedef struct {
	PyObject_HEAD
	struct child link;
	ClientObject *client;
	ns_subscription *s;
	PyObject *channel;
	int32_t stream_id;
	int busy; /* a poll, receive or wait in progress (this thread's callbacks included) */
	PyObject *on_available, *on_unavailable;
	PyObject *cb_exc[3]; /* an exception from an image callback, raised after the poll */
	long images_seen, images_gone;
	nspy_view *view;	/* reused for each message while nobody else holds it */
	HeaderObject *header;	/* likewise */
	Py_ssize_t exports;	/* live exports of message views */
	unsigned char *scratch; /* receive(): a message copied while the GIL was released */
	size_t scratch_cap, scratch_len;
	int scratch_failed;
} SubscriptionObject;

static PyTypeObject subscription_type;

static int
sub_ok(SubscriptionObject *self)
{
	if (self->s == NULL) {
		PyErr_SetString(PyExc_ValueError, "the subscription is closed");
		return 0;
	}
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the subscription is in use: a poll, receive or wait of another "
				"thread, or this poll's own handler (one reader at a time)");
		return 0;
	}
	return 1;
}

static int
sub_busy(PyObject *obj)
{
	SubscriptionObject *self = (SubscriptionObject *)obj;
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the subscription is in use by a poll, receive or wait");
		return 1;
	}
	if (self->exports != 0) {
		PyErr_SetString(PyExc_BufferError,
				"a view of one of the subscription's messages is still referenced");
		return 1;
	}
	return 0;
}

static void
sub_close_now(PyObject *obj)
{
	SubscriptionObject *self = (SubscriptionObject *)obj;
	ns_subscription *s = self->s;
	self->s = NULL;
	if (s == NULL)
		return;
	Py_BEGIN_ALLOW_THREADS
	ns_subscription_close(s);
	Py_END_ALLOW_THREADS
}

static void
on_image(SubscriptionObject *self, const ns_image *img, int available)
{
	PyGILState_STATE g = PyGILState_Ensure();
	if (available)
		self->images_seen++;
	else
		self->images_gone++;
	PyObject *cb = available ? self->on_available : self->on_unavailable;
	if (cb != NULL && self->cb_exc[0] == NULL) {
		ImageObject *io = PyObject_New(ImageObject, &image_type);
		PyObject *r = NULL;
		if (io != NULL) {
			io->img = img;
			io->session_id = ns_image_session_id(img);
			r = PyObject_CallOneArg(cb, (PyObject *)io);
			io->img = NULL;
			Py_DECREF(io);
		}
		if (r == NULL)
			PyErr_Fetch(&self->cb_exc[0], &self->cb_exc[1], &self->cb_exc[2]);
		else
			Py_DECREF(r);
	}
	PyGILState_Release(g);
}

static void
on_available(void *ctx, const ns_image *img)
{
	on_image(ctx, img, 1);
}

static void
on_unavailable(void *ctx, const ns_image *img)
{
	on_image(ctx, img, 0);
}

/* After a poll: raise an image callback's exception, if any. Returns -1 when it did. */
static int
raise_callback_exc(SubscriptionObject *self)
{
	if (self->cb_exc[0] == NULL)
		return 0;
	if (PyErr_Occurred()) {
		/* The handler's exception wins; the callback's is dropped. */
		Py_CLEAR(self->cb_exc[0]);
		Py_CLEAR(self->cb_exc[1]);
		Py_CLEAR(self->cb_exc[2]);
		return -1;
	}
	PyErr_Restore(self->cb_exc[0], self->cb_exc[1], self->cb_exc[2]);
	self->cb_exc[0] = self->cb_exc[1] = self->cb_exc[2] = NULL;
	return -1;
}

static PyObject *
Client_add_subscription(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = { "channel", "stream_id", "on_available", "on_unavailable", NULL };
	PyObject *channel, *avail = Py_None, *unavail = Py_None;
	int stream_id;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "Ui|OO:add_subscription", names, &channel,
					 &stream_id, &avail, &unavail))
		return NULL;
	if (!client_ok(self))
		return NULL;
	if ((avail != Py_None && !PyCallable_Check(avail)) ||
	    (unavail != Py_None && !PyCallable_Check(unavail)))
		return PyErr_Format(PyExc_TypeError,
				    "on_available and on_unavailable: callables or None");
	const char *uri = PyUnicode_AsUTF8(channel);
	if (uri == NULL)
		return NULL;
	char msg[256];
	if (ns_uri_check(uri, msg, sizeof(msg)) != 0)
		return PyErr_Format(PyExc_ValueError, "%s", msg);
	SubscriptionObject *sub = PyObject_New(SubscriptionObject, &subscription_type);
	if (sub == NULL)
		return NULL;
	sub->s = NULL;
	sub->link.next = sub->link.prev = NULL;
	sub->client = (ClientObject *)Py_NewRef(self);
	sub->channel = Py_NewRef(channel);
	sub->stream_id = stream_id;
	sub->busy = 0;
	sub->on_available = avail == Py_None ? NULL : Py_NewRef(avail);
	sub->on_unavailable = unavail == Py_None ? NULL : Py_NewRef(unavail);
	sub->cb_exc[0] = sub->cb_exc[1] = sub->cb_exc[2] = NULL;
	sub->images_seen = sub->images_gone = 0;
	sub->exports = 0;
	sub->scratch = NULL;
	sub->scratch_cap = sub->scratch_len = 0;
	sub->scratch_failed = 0;
	sub->header = NULL;
	sub->view = nspy_view_new((PyObject *)sub, &sub->exports, 1);
	if (sub->view == NULL) {
		Py_DECREF(sub);
		return NULL;
	}
	struct ns_subscription_opts so = NS_SUBSCRIPTION_OPTS_INIT;
	so.on_available = on_available;
	so.on_unavailable = on_unavailable;
	so.ctx = sub;
	ns_subscription *s = NULL;
	int rc;
	char why[NS_ERRMSG_MAX + 1];
	self->busy++;
	Py_BEGIN_ALLOW_THREADS
	rc = ns_subscription_add(self->c, uri, stream_id, &so, &s);
	snprintf(why, sizeof(why), "%s", ns_errmsg());
	Py_END_ALLOW_THREADS
	self->busy--;
	if (rc != 0) {
		Py_DECREF(sub);
		char what[320];
		snprintf(what, sizeof(what), "cannot add a subscription on %.256s stream %d", uri,
			 stream_id);
		return nspy_raise_msg(rc, what, why);
	}
	sub->s = s;
	child_link(self, &sub->link, (PyObject *)sub, sub_busy, sub_close_now);
	return (PyObject *)sub;
}

static void
Subscription_dealloc(SubscriptionObject *self)
{
	child_unlink(&self->link);
	sub_close_now((PyObject *)self);
	Py_XDECREF(self->client);
	Py_XDECREF(self->channel);
	Py_XDECREF(self->on_available);
	Py_XDECREF(self->on_unavailable);
	Py_XDECREF(self->cb_exc[0]);
	Py_XDECREF(self->cb_exc[1]);
	Py_XDECREF(self->cb_exc[2]);
	Py_XDECREF(self->view);
	Py_XDECREF(self->header);
	free(self->scratch);
	PyObject_Free(self);
}

struct poll_ctx {
	SubscriptionObject *sub;
	PyObject *handler;
	int failed;
};

static enum ns_controlled_action
on_fragment(void *ctx, const void *buf, size_t len, const struct ns_header *hdr)
{
	struct poll_ctx *p = ctx;
	SubscriptionObject *sub = p->sub;
	/* The view and header are reused while nobody else holds them. */
	nspy_view *v = sub->view;
	if (Py_REFCNT(v) != 1 || v->exports != 0) {
		v = nspy_view_new((PyObject *)sub, &sub->exports, 1);
		if (v == NULL)
			goto fail;
		Py_SETREF(sub->view, v);
	}
	HeaderObject *h = sub->header;
	if (h == NULL || Py_REFCNT(h) != 1) {
		h = PyObject_New(HeaderObject, &header_type);
		if (h == NULL)
			goto fail;
		Py_XSETREF(sub->header, h);
	}
	h->position = hdr->position;
	h->session_id = hdr->session_id;
	h->stream_id = hdr->stream_id;
	h->term_id = hdr->term_id;
	h->term_offset = hdr->term_offset;
	h->flags = hdr->flags;
	h->reserved_value = hdr->reserved_value;
	PyObject *mv = nspy_view_begin(v, (void *)buf, (Py_ssize_t)len);
	if (mv == NULL)
		goto fail;
	PyObject *args[2] = { mv, (PyObject *)h };
	PyObject *r = PyObject_Vectorcall(p->handler, args, 2, NULL);
	if (r == NULL) {
		PyObject *t, *val, *tb;
		PyErr_Fetch(&t, &val, &tb);
		if (nspy_view_end(v, mv) != 0)
			PyErr_Clear();
		PyErr_Restore(t, val, tb);
		goto fail;
	}
	Py_DECREF(r);
	if (nspy_view_end(v, mv) != 0)
		goto fail;
	return NS_CONTROLLED_CONTINUE;
fail:
	/* The message counts as delivered; the poll stops and raises. */
	p->failed = 1;
	return NS_CONTROLLED_BREAK;
}

static PyObject *
Subscription_poll(SubscriptionObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = { "handler", "limit", NULL };
	PyObject *handler;
	int limit = 10;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|i:poll", names, &handler, &limit))
		return NULL;
	if (!sub_ok(self))
		return NULL;
	if (!PyCallable_Check(handler))
		return PyErr_Format(PyExc_TypeError, "poll: the handler must be callable");
	if (limit < 1)
		return PyErr_Format(PyExc_ValueError, "poll: limit must be >= 1, not %d", limit);
	struct poll_ctx p = { self, handler, 0 };
	self->busy = 1;
	int n = ns_subscription_controlled_poll(self->s, on_fragment, &p, limit);
	self->busy = 0;
	if (p.failed) {
		raise_callback_exc(self);
		return NULL;
	}
	if (raise_callback_exc(self) != 0)
		return NULL;
	if (n < 0)
		return nspy_raise(n, "poll", 0);
	return PyLong_FromLong(n);
}

/* receive(): copy the message into a new bytes object (GIL held). */
static enum ns_controlled_action
on_receive_bytes(void *ctx, const void *buf, size_t len, const struct ns_header *hdr)
{
	(void)hdr;
	PyObject **out = ctx;
	*out = PyBytes_FromStringAndSize(buf, (Py_ssize_t)len);
	return NS_CONTROLLED_BREAK;
}

/* receive() while the GIL is released: copy into the scratch buffer. */
static void
on_receive_scratch(void *ctx, const void *buf, size_t len, const struct ns_header *hdr)
{
	(void)hdr;
	SubscriptionObject *self = ctx;
	if (len > self->scratch_cap) {
		unsigned char *p = realloc(self->scratch, len);
		if (p == NULL) {
			self->scratch_failed = 1;
			return;
		}
		self->scratch = p;
		self->scratch_cap = len;
	}
	if (len > 0)
		memcpy(self->scratch, buf, len);
	self->scratch_len = len;
}

/*
 * One message as bytes, waiting up to @deadline; Py_None when the deadline passed, or (with
 * @stop_at_end) when every image the subscription had is gone and nothing is left. NULL after
 * raising.
 */
static PyObject *
receive(SubscriptionObject *self, int64_t deadline, int stop_at_end)
{
	PyObject *out = NULL;
	self->busy = 1;
	int n = ns_subscription_controlled_poll(self->s, on_receive_bytes, &out, 1);
	self->busy = 0;
	if (raise_callback_exc(self) != 0) {
		Py_XDECREF(out);
		return NULL;
	}
	if (n > 0)
		return out; /* NULL when the copy failed: the error is set */
	if (n < 0)
		return nspy_raise(n, "receive", 0);
	for (;;) {
		if (stop_at_end && self->images_seen > 0 && self->images_gone == self->images_seen)
			Py_RETURN_NONE;
		int64_t slice = nspy_slice(deadline);
		self->scratch_failed = 0;
		self->busy = 1;
		Py_BEGIN_ALLOW_THREADS
		n = ns_subscription_poll_wait(self->s, on_receive_scratch, self, 1, NS_WAIT_PHASED,
					      slice);
		Py_END_ALLOW_THREADS
		self->busy = 0;
		if (raise_callback_exc(self) != 0)
			return NULL;
		if (n > 0) {
			if (self->scratch_failed)
				return PyErr_NoMemory();
			return PyBytes_FromStringAndSize((const char *)self->scratch,
							 (Py_ssize_t)self->scratch_len);
		}
		if (n != -ETIMEDOUT)
			return nspy_raise(n, "receive", 0);
		int over = nspy_slice_over(slice, deadline);
		if (over != 0)
			return over < 0 ? NULL : Py_NewRef(Py_None);
	}
}

static PyObject *
Subscription_receive(SubscriptionObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = { "timeout", NULL };
	PyObject *timeout = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:receive", names, &timeout))
		return NULL;
	if (!sub_ok(self))
		return NULL;
	int64_t deadline;
	if (nspy_deadline(timeout, &deadline) != 0)
		return NULL;
	return receive(self, deadline, 0);
}

static PyObject *
Subscription_iter(PyObject *self)
{
	return Py_NewRef(self);
}

static PyObject *
Subscription_next(SubscriptionObject *self)
{
	if (!sub_ok(self))
		return NULL;
	PyObject *r = receive(self, INT64_MAX, 1);
	if (r == Py_None) {
		Py_DECREF(r);
		return NULL; /* StopIteration: every image it had is gone */
	}
	return r;
}

static PyObject *
Subscription_wait_connected(SubscriptionObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = { "timeout", NULL };
	PyObject *timeout = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:wait_connected", names, &timeout))
		return NULL;
	if (!sub_ok(self))
		return NULL;
	int64_t deadline;
	if (nspy_deadline(timeout, &deadline) != 0)
		return NULL;
	for (;;) {
		int64_t slice = nspy_slice(deadline);
		int rc;
		self->busy = 1;
		Py_BEGIN_ALLOW_THREADS
		rc = ns_subscription_wait_connected(self->s, slice);
		Py_END_ALLOW_THREADS
		self->busy = 0;
		if (raise_callback_exc(self) != 0)
			return NULL;
		if (rc == 0)
			Py_RETURN_TRUE;
		if (rc != -ETIMEDOUT)
			return nspy_raise(rc, "wait_connected", 0);
		int over = nspy_slice_over(slice, deadline);
		if (over != 0)
			return over < 0 ? NULL : Py_NewRef(Py_False);
	}
}

static PyObject *
Subscription_close(SubscriptionObject *self, PyObject *unused)
{
	(void)unused;
	if (self->s == NULL)
		Py_RETURN_NONE;
	if (sub_busy((PyObject *)self))
		return NULL;
	child_unlink(&self->link);
	sub_close_now((PyObject *)self);
	Py_RETURN_NONE;
}

static PyObject *
Subscription_enter(SubscriptionObject *self, PyObject *unused)
{
	(void)unused;
	if (self->s == NULL)
		return PyErr_Format(PyExc_ValueError, "the subscription is closed");
	return Py_NewRef(self);
}

static PyObject *
Subscription_exit(SubscriptionObject *self, PyObject *args)
{
	(void)args;
	PyObject *r = Subscription_close(self, NULL);
	if (r == NULL)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_FALSE;
}

static PyObject *
Subscription_image_count(SubscriptionObject *self, void *closure)
{
	(void)closure;
	if (self->s == NULL)
		return PyErr_Format(PyExc_ValueError, "the subscription is closed");
	return PyLong_FromLong(ns_subscription_image_count(self->s));
}

static PyObject *
Subscription_closed(SubscriptionObject *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->s == NULL);
}

static PyMethodDef Subscription_methods[] = {
	{ "poll", (PyCFunction)(void (*)(void))Subscription_poll, METH_VARARGS | METH_KEYWORDS,
	  "poll(handler, limit=10) -> int\n\n"
	  "Hand up to `limit` messages that arrived to handler(data, header), without waiting;\n"
	  "returns how many. `data` is a read-only memoryview of the message in the shared log\n"
	  "(no copy), valid only during the call: afterwards it is released (using it raises\n"
	  "ValueError), and a slice or array made from it and kept makes poll() raise\n"
	  "BufferError (copy with bytes(data) to keep it). `header` is a Header. When the\n"
	  "handler raises, that message counts as delivered and poll() raises it." },
	{ "receive", (PyCFunction)(void (*)(void))Subscription_receive,
	  METH_VARARGS | METH_KEYWORDS,
	  "receive(timeout=None) -> bytes | None\n\n"
	  "The next message as bytes, waiting up to `timeout` seconds (None: no limit); None\n"
	  "when the timeout passed. The wait releases the GIL; Ctrl-C interrupts it." },
	{ "wait_connected", (PyCFunction)(void (*)(void))Subscription_wait_connected,
	  METH_VARARGS | METH_KEYWORDS,
	  "wait_connected(timeout=None) -> bool\n\n"
	  "Wait until a publisher's stream is here (True) or `timeout` seconds pass (False)." },
	{ "close", (PyCFunction)Subscription_close, METH_NOARGS,
	  "close()\n\nClose the subscription (idempotent). RuntimeError while a poll or wait\n"
	  "runs on it; BufferError while a view of one of its messages is referenced." },
	{ "__enter__", (PyCFunction)Subscription_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)Subscription_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef Subscription_getset[] = {
	{ "image_count", (getter)Subscription_image_count, NULL,
	  "How many publishers' streams (images) it has now.", NULL },
	{ "closed", (getter)Subscription_closed, NULL, "Whether close() was called.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyMemberDef Subscription_members[] = {
	{ "channel", T_OBJECT, offsetof(SubscriptionObject, channel), READONLY,
	  "The channel URI." },
	{ "stream_id", T_INT, offsetof(SubscriptionObject, stream_id), READONLY, "The stream id." },
	{ NULL, 0, 0, 0, NULL },
};

static PyTypeObject subscription_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nanostream.Subscription",
	.tp_basicsize = sizeof(SubscriptionObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A subscription (Client.add_subscription()). One reader at a time. Iterating\n"
		  "yields each message as bytes, waiting for the next, and ends once every\n"
		  "publisher it had has closed and everything was read. A context manager.",
	.tp_dealloc = (destructor)Subscription_dealloc,
	.tp_methods = Subscription_methods,
	.tp_getset = Subscription_getset,
	.tp_members = Subscription_members,
	.tp_iter = Subscription_iter,
	.tp_iternext = (iternextfunc)Subscription_next,
};

int
nspy_client_init(PyObject *m)
{
	PyTypeObject *types[] = { &client_type,	      &publication_type, &claim_type,
				  &subscription_type, &header_type,	 &image_type };
	const char *names[] = {
		"Client", "Publication", "Claim", "Subscription", "Header", "Image"
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (PyType_Ready(types[i]) != 0 ||
		    PyModule_AddObjectRef(m, names[i], (PyObject *)types[i]) != 0)
			return -1;
	}
	return 0;
}
