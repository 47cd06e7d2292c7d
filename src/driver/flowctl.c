/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "driver/flowctl.h"

int
nsi_fc_init(struct nsi_fc *fc, const struct nsi_fc_params *p, int64_t position)
{
	if (fc == NULL || p == NULL || p->kind < NSI_FC_MAX || p->kind > NSI_FC_TAGGED ||
	    p->timeout_ns <= 0 || p->group_min < 0)
		return -EINVAL;
	memset(fc, 0, sizeof(*fc));
	fc->p = *p;
	fc->limit = position;
	return 0;
}

static bool
follows(const struct nsi_fc *fc, const struct nsi_fc_receiver *r)
{
	return fc->p.kind != NSI_FC_TAGGED || (r->has_tag && r->tag == fc->p.group_tag);
}

/* min and tagged: the slowest follower's limit; none: unchanged. */
static void
follow_slowest(struct nsi_fc *fc)
{
	if (fc->p.kind == NSI_FC_MAX)
		return;
	int64_t limit = INT64_MAX;
	for (int i = 0; i < fc->n; i++)
		if (fc->r[i].follows && fc->r[i].limit < limit)
			limit = fc->r[i].limit;
	if (limit != INT64_MAX)
		fc->limit = limit;
}

int64_t
nsi_fc_on_status(struct nsi_fc *fc, int64_t id, int64_t position, int32_t window,
		 const int64_t *tag, const struct nsi_udp_addr *from, int64_t now_ns)
{
	if (position < 0 || position > INT64_MAX - INT32_MAX || window < 0)
		return fc->limit;
	int64_t limit = position + window;
	struct nsi_fc_receiver *r = NULL;
	for (int i = 0; i < fc->n && r == NULL; i++)
		if (fc->r[i].id == id)
			r = &fc->r[i];
	if (r == NULL) {
		if (fc->n == NSI_FC_RECEIVERS) {
			fc->stats.refused++;
			return fc->limit;
		}
		r = &fc->r[fc->n++];
		*r = (struct nsi_fc_receiver){ .id = id, .position = position, .limit = limit };
		fc->stats.joined++;
	}
	/* A reordered, older status message never moves a receiver back. */
	if (position > r->position)
		r->position = position;
	if (limit > r->limit)
		r->limit = limit;
	r->last_ns = now_ns;
	r->has_tag = tag != NULL;
	r->tag = tag != NULL ? *tag : 0;
	r->follows = follows(fc, r);
	if (from != NULL)
		r->from = *from;
	if (fc->p.kind == NSI_FC_MAX) {
		if (r->limit > fc->limit)
			fc->limit = r->limit;
	} else {
		follow_slowest(fc);
	}
	return fc->limit;
}

/* Forget the receivers @gone picks (@ctx its own), then follow what is left. */
static int
forget(struct nsi_fc *fc,
       bool (*gone)(const struct nsi_fc *, const struct nsi_fc_receiver *, const void *),
       const void *ctx)
{
	int n = 0;
	for (int i = 0; i < fc->n;) {
		if (gone(fc, &fc->r[i], ctx)) {
			fc->r[i] = fc->r[--fc->n];
			fc->stats.left++;
			n++;
		} else {
			i++;
		}
	}
	if (n > 0)
		follow_slowest(fc);
	return n;
}

static bool
silent(const struct nsi_fc *fc, const struct nsi_fc_receiver *r, const void *now_ns)
{
	return *(const int64_t *)now_ns - r->last_ns > fc->p.timeout_ns;
}

static bool
at_addr(const struct nsi_fc *fc, const struct nsi_fc_receiver *r, const void *a)
{
	(void)fc;
	return nsi_udp_addr_equal(&r->from, a);
}

int
nsi_fc_expire(struct nsi_fc *fc, int64_t now_ns)
{
	return forget(fc, silent, &now_ns);
}

int
nsi_fc_forget_addr(struct nsi_fc *fc, const struct nsi_udp_addr *a)
{
	return forget(fc, at_addr, a);
}

bool
nsi_fc_connected(const struct nsi_fc *fc)
{
	int need = fc->p.group_min > 0 ? fc->p.group_min : 1, have = 0;
	for (int i = 0; i < fc->n; i++)
		have += fc->r[i].follows;
	return have >= need;
}

int64_t
nsi_fc_next_due(const struct nsi_fc *fc)
{
	int64_t due = INT64_MAX;
	for (int i = 0; i < fc->n; i++)
		if (fc->r[i].last_ns + fc->p.timeout_ns + 1 < due)
			due = fc->r[i].last_ns + fc->p.timeout_ns + 1;
	return due;
}

const char *
nsi_fc_name(int kind)
{
	switch (kind) {
	case NSI_FC_MAX:
		return "max";
	case NSI_FC_MIN:
		return "min";
	case NSI_FC_TAGGED:
		return "tagged";
	default:
		return "?";
	}
}
