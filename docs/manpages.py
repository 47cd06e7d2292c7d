#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the API's section-3 manual pages from the public headers' comments.

One page per public function (man3/ns_ring_claim.3), one per documented type in section 3type
(man3/ns_ring_opts.3type for struct ns_ring_opts, ns_wait_kind.3type, ns_translate_fn.3type,
...: `man 3type ns_ring_span` when a function has the same name; man-db keeps such
subsections in man3/, as it does 3pm) and an index, nanostream.3. The
header comments follow one layout (docs/style.md): a description, then "Returns ...",
"Errors: ...", "Ownership: ...", "Thread safety: ..." and "Progress: ..."; error codes come
either as a list ("  -EINVAL     ring is NULL") or as a sentence ("-EINVAL (why), -ENOMEM").
Each code becomes its own entry in the page's ERRORS section.

usage: manpages.py VERSION MAN3_DIR HEADER...
"""
import os
import re
import sys

LABELS = [
    ('Errors, ownership, thread safety, progress', 'all'),
    ('Errors, ownership, thread safety and progress', 'all'),
    ('Ownership and thread safety', 'own+thread'),
    ('Ownership, thread safety', 'own+thread'),
    ('Returns', 'returns'),
    ('Errors', 'errors'),
    ('Ownership', 'ownership'),
    ('Thread safety', 'thread'),
    ('Progress', 'progress'),
]
LABEL_RE = re.compile(r'(?:^|(?<=\. ))(' + '|'.join(re.escape(l) for l, _ in LABELS) + r')(:|\b)',
                      re.M)
CODE_RE = re.compile(r'^(?:or\s+)?((?:-E[A-Z0-9]+|NS_E[A-Z_]+|NS_[A-Z_]+|0|1|-1)'
                     r'(?:\s*(?:\bor\b|/)\s*(?:-E[A-Z0-9]+|NS_E[A-Z_]+))*)\b')
OTHER_RE = re.compile(r'^(?:or\s+)?(another|other|the translator|the handler|the slot initializer|'
                      r'the (?:other )?codes of)\b')
LIST_RE = re.compile(r'^\s{2,}(-E[A-Z0-9]+|NS_E[A-Z_]+|other)\s+(.*)$')


def roff_escape(text):
    text = text.replace('\\', '\\e')
    text = text.replace('-', '\\-')
    return text


def inline(text, funcs, params=()):
    """Prose to roff: function names bold, parameters italic, `code` bold."""
    out = roff_escape(text)
    out = re.sub(r'`([^`]+)`', lambda m: '\\fB' + m.group(1) + '\\fP', out)
    out = re.sub(r'@p\s+([A-Za-z_][A-Za-z0-9_]*)', r'\\fI\1\\fP', out)
    out = re.sub(r'\b(ns_[a-z0-9_]+)\(\)', r'\\fB\1\\fP()', out)
    lines = []
    for line in out.split('\n'):
        # A line may not start with a control character.
        if line.startswith('.') or line.startswith("'"):
            line = '\\&' + line
        lines.append(line)
    return '\n'.join(lines)


def comment_text(raw):
    """The text of a /** ... */ comment, one string, lines kept."""
    body = raw.strip()
    assert body.startswith('/**') and body.endswith('*/'), raw[:40]
    body = body[3:-2]
    lines = []
    for line in body.split('\n'):
        line = re.sub(r'^\s*\* ?', '', line, count=1) if line.strip().startswith('*') else line.strip()
        lines.append(line.rstrip())
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return '\n'.join(lines)


def parse_header(path):
    """(functions, types) documented in one header, in order."""
    src = open(path).read()
    funcs, types = [], []
    for m in re.finditer(r'/\*\*(?:(?!\*/).)*\*/', src, re.S):
        raw = m.group(0)
        if raw.startswith('/**<') or '@file' in raw:
            continue
        rest = src[m.end():]
        rest_stripped = rest.lstrip()
        text = comment_text(raw)
        if rest_stripped.startswith('NS_API'):
            decl = rest_stripped[:rest_stripped.index(';') + 1]
            decl = re.sub(r'\bNS_API\s+|\bNS_HOT\s+|\bNS_DEPRECATED\("[^"]*"\)\s*', '', decl)
            decl = ' '.join(decl.split())
            decl = decl.replace('( ', '(')
            name = re.search(r'([A-Za-z_][A-Za-z0-9_]*)\s*\(', decl).group(1)
            funcs.append({'name': name, 'decl': decl, 'text': text, 'header': path})
            continue
        tm = re.match(r'(struct|enum)\s+(ns_[a-z0-9_]+)\s*\{', rest_stripped)
        if tm:
            end = find_block_end(rest_stripped)
            types.append({'kind': tm.group(1), 'name': tm.group(2), 'text': text,
                          'body': rest_stripped[:end], 'header': path})
            continue
        tm = re.match(r'typedef\s+[^;]*?\(\*\s*(ns_[a-z0-9_]+)\)\s*\([^;]*\);', rest_stripped, re.S)
        if tm:
            types.append({'kind': 'callback', 'name': tm.group(1), 'text': text,
                          'body': tm.group(0), 'header': path})
            continue
        tm = re.match(r'typedef\s+struct\s+(ns_[a-z0-9_]+)\s+(ns_[a-z0-9_]+);', rest_stripped)
        if tm:
            types.append({'kind': 'handle', 'name': tm.group(2), 'text': text,
                          'body': tm.group(0), 'header': path})
    return funcs, types


def find_block_end(s):
    depth = 0
    for i, ch in enumerate(s):
        if ch == '{':
            depth += 1
        elif ch == '}':
            depth -= 1
            if depth == 0:
                return s.index(';', i) + 1
    raise ValueError('unterminated block')


def split_sections(text):
    """Description paragraphs and the labelled sections of a function's comment."""
    sections = {'description': []}
    order = ['description']
    cur = 'description'
    buf = []

    def flush():
        if buf:
            sections.setdefault(cur, []).append('\n'.join(buf).strip())
            buf.clear()

    pos = 0
    pieces = []
    for m in LABEL_RE.finditer(text):
        pieces.append((pos, m.start(), None))
        pieces.append((m.start(), m.end(), m.group(1)))
        pos = m.end()
    pieces.append((pos, len(text), None))
    for start, end, label in pieces:
        if label is not None:
            flush()
            cur = dict(LABELS)[label]
            if cur not in order:
                order.append(cur)
            continue
        chunk = text[start:end]
        for line in chunk.split('\n'):
            if not line.strip() and cur == 'description':
                flush()
                continue
            buf.append(line)
    flush()
    return sections


def split_top(s, seps=(',', ';')):
    """Split at separators outside parentheses."""
    out, depth, cur = [], 0, ''
    for ch in s:
        if ch == '(':
            depth += 1
        elif ch == ')':
            depth = max(0, depth - 1)
        if ch in seps and depth == 0:
            out.append(cur)
            cur = ''
        else:
            cur += ch
    out.append(cur)
    return [p.strip() for p in out if p.strip()]


PLAIN = {
    '-ENOMEM': 'out of memory',
    '-EINVAL': 'a bad argument',
    '-ESHUTDOWN': 'the object was halted',
    '-EAGAIN': 'no room now (back-pressure): retry later',
    '-ETIMEDOUT': 'the deadline passed first',
    'NS_EDRIVER_TIMEOUT': 'the driver stopped (its heartbeat is stale)',
}


def matching_paren(s):
    depth = 0
    for i, ch in enumerate(s):
        if ch == '(':
            depth += 1
        elif ch == ')':
            depth -= 1
            if depth == 0:
                return i
    return -1


def first_sentence_end(s):
    depth = 0
    for i, ch in enumerate(s):
        if ch == '(':
            depth += 1
        elif ch == ')':
            depth = max(0, depth - 1)
        elif ch == '.' and depth == 0 and (i + 1 == len(s) or s[i + 1] in ' \n'):
            # not "e.g." and not a function's "()." handled: keep going past "e.g."
            if s[max(0, i - 3):i + 1].endswith('e.g.') or s[max(0, i - 3):i + 1].endswith('i.e.'):
                continue
            return i
    return len(s)


def error_items(s):
    """Items (code, text) from an error sentence; what cannot be split stays prose."""
    s = ' '.join(s.split())
    end = first_sentence_end(s)
    head, tail = s[:end], s[end + 1:].strip()
    items = []
    for piece in split_top(head):
        m = CODE_RE.match(piece)
        o = OTHER_RE.match(piece) if not m else None
        if m:
            code = m.group(1)
            rest = piece[m.end():].strip()
            if rest.startswith('(') and matching_paren(rest) == len(rest) - 1:
                rest = rest[1:-1]
            if not rest:
                rest = PLAIN.get(code, '')
            items.append([code, rest])
        elif o:
            items.append(['other', re.sub(r'^or\s+', '', piece)])
        elif items:
            items[-1][1] = (items[-1][1] + ', ' + piece).strip(', ')
        else:
            return [], s
    return items, tail


def returns_and_errors(ret_text, err_text):
    """RETURN VALUE prose and ERRORS items for a function."""
    prose, items, after = [], [], []
    if ret_text:
        lines = ret_text.split('\n')
        lead, listed, rest = [], [], []
        state = 'lead'
        for line in lines:
            lm = LIST_RE.match(line)
            if lm:
                state = 'list'
                listed.append([lm.group(1), lm.group(2).strip()])
            elif state == 'list' and line.startswith('   ') and listed:
                listed[-1][1] += ' ' + line.strip()
            elif state == 'lead':
                lead.append(line)
            else:
                state = 'rest'
                rest.append(line)
        lead_s = ' '.join(' '.join(lead).split())
        if listed:
            prose.append('Returns ' + re.sub(r',?\s*or$', '', lead_s).strip() +
                         (', or a negative error code (see ERRORS).' if not lead_s.endswith('.') else ''))
            items += listed
        else:
            # "Returns X, or -EINVAL (...)": codes after the first ", or" that names one.
            m = re.search(r'[,;]\s+(?:or\s+)?(?=(-E[A-Z0-9]+|NS_[A-Z_]+\b))', lead_s)
            if m:
                got, tail = error_items(lead_s[m.end():])
                if got:
                    prose.append('Returns ' + lead_s[:m.start()].strip() +
                                 ', or a negative error code (see ERRORS).')
                    items += got
                    if tail:
                        after.append(tail)
                else:
                    prose.append('Returns ' + lead_s)
            else:
                prose.append('Returns ' + lead_s)
        if rest:
            after.append(' '.join(' '.join(rest).split()))
    if err_text and re.match(r'\s*none\b', err_text, re.I):
        after.append('It never fails' + re.sub(r'^\s*none\s*', ' ', err_text).rstrip())
        err_text = ''
    if err_text:
        got, tail = error_items(err_text)
        if got:
            items += got
            if tail:
                after.append(tail)
        else:
            after.append(' '.join(err_text.split()))
    merged = []
    for code, why in items:
        same = [m for m in merged if m[0] == code and code != 'other']
        if same:
            if why and why != PLAIN.get(code) and (not same[0][1] or same[0][1] == PLAIN.get(code)):
                same[0][1] = why
            elif why and why not in same[0][1] and why != PLAIN.get(code):
                same[0][1] += '; ' + why
            continue
        merged.append([code, why])
    return prose + after, merged


TYPES = set()


def ref_page(r):
    return '.BR %s (%s)' % (r, '3type' if r in TYPES else '3')


def see_also(name, text, decl, known_pages):
    refs = []
    for ref in re.findall(r'\b(ns_[a-z0-9_]+)\(\)', text) + re.findall(r'\b(ns_[a-z0-9_]+)\b', decl):
        if ref != name and ref in known_pages and ref not in refs:
            refs.append(ref)
    for ref in re.findall(r'(?:struct|enum)\s+(ns_[a-z0-9_]+)', text + ' ' + decl):
        if ref != name and ref in known_pages and ref not in refs:
            refs.append(ref)
    return refs + ['nanostream']


def format_decl(decl):
    """A prototype, wrapped at 78 columns under its opening parenthesis."""
    name_m = re.search(r'([A-Za-z_][A-Za-z0-9_]*)\s*\(', decl)
    head = decl[:name_m.start()]
    name = name_m.group(1)
    args = decl[name_m.end():]
    indent = len(head) + len(name) + 1
    parts = split_top(args.rstrip(';').rstrip(')'), seps=(',',))
    lines, cur = [], head + name + '('
    for i, p in enumerate(parts):
        piece = p + (', ' if i + 1 < len(parts) else ');')
        if len(cur) + len(piece.rstrip()) > 78 and cur.strip():
            lines.append(cur.rstrip())
            cur = ' ' * indent
        cur += piece
    lines.append(cur.rstrip())
    out = []
    for line in lines:
        line = roff_escape(line)
        line = line.replace(name + '(', '\\fB' + name + '\\fP(', 1)
        out.append(line)
    return '\n'.join(out)


def summary_of(text):
    first = ' '.join(text.split('\n\n')[0].split())
    end = first_sentence_end(first)
    s = first[:end].strip()
    if len(s) > 70:
        # A long first sentence: its head, up to the first colon or semicolon outside parentheses.
        depth = 0
        for i, ch in enumerate(s):
            depth += ch == '('
            depth -= ch == ')'
            if ch in ':;' and depth == 0 and i > 10:
                s = s[:i]
                break
    s = re.sub(r'@p\s+', '', s)
    s = s.replace('`', '')
    if s and s[0].isupper() and not s[:2].isupper():
        s = s[0].lower() + s[1:]
    return s


def th(name, version, section='3'):
    return '.TH %s %s "" "nanostream %s" "Nano-Stream Manual"\n' % (name.upper(), section, version)


def synopsis(extra):
    return ('.SH SYNOPSIS\n.nf\n.B #include <nanostream/nanostream.h>\n.PP\n' + extra +
            '\n.fi\n.PP\nCompile and link with \\fIpkg\\-config \\-\\-cflags \\-\\-libs nanostream\\fP.\n')


def paragraphs(chunks, funcs, params):
    out = []
    for c in chunks:
        c = c.strip()
        if not c:
            continue
        if re.search(r'^\s*- ', c, re.M):
            # A "- item" list inside a description.
            for part in re.split(r'\n(?=\s*- )', c):
                part = part.strip()
                if part.startswith('- '):
                    out.append('.IP \\(bu 2\n' + inline(' '.join(part[2:].split()), funcs, params))
                else:
                    out.append('.PP\n' + inline(' '.join(part.split()), funcs, params))
            continue
        out.append('.PP\n' + inline(' '.join(c.split()), funcs, params))
    return '\n'.join(out) + '\n' if out else ''


def function_page(f, version, known, funcs):
    params = re.findall(r'([A-Za-z_][A-Za-z0-9_]*)\s*(?:,|\))', f['decl'])
    sec = split_sections(f['text'])
    page = th(f['name'], version)
    page += '.SH NAME\n%s \\- %s\n' % (f['name'], roff_escape(summary_of(f['text'])))
    page += synopsis(format_decl(f['decl']))
    page += '.SH DESCRIPTION\n' + paragraphs(sec.get('description', []), funcs, params)
    own = sec.get('ownership', []) + sec.get('own+thread', [])
    thread = sec.get('thread', []) + sec.get('own+thread', [])
    prog = sec.get('progress', [])
    errs = sec.get('errors', [])
    if sec.get('all'):
        ref = ' '.join(sec['all'])
        if not errs:
            sec.setdefault('returns', [])
            if not sec['returns']:
                sec['returns'] = ['Returns and errors: ' + ref.strip()]
            else:
                sec['returns'].append('Errors: ' + ref.strip())
        own = own or sec['all']
        thread = thread or sec['all']
        prog = prog or sec['all']
    ret_prose, items = returns_and_errors('\n'.join(sec.get('returns', [])), ' '.join(errs))
    rtype = f['decl'][:f['decl'].index(f['name'] + '(')].strip()
    if not sec.get('returns') and items and rtype == 'int':
        ret_prose.insert(0, 'Returns 0 on success, or a negative error code (see ERRORS).')
    if rtype == 'void' and not ret_prose:
        ret_prose.append('Nothing: it cannot fail.')
    if ret_prose:
        page += '.SH RETURN VALUE\n' + paragraphs(ret_prose, funcs, params)
    if items:
        page += '.SH ERRORS\n'
        for code, why in items:
            tag = '.I other' if code == 'other' else '.B ' + roff_escape(code)
            why = why[0].upper() + why[1:] if why else ''
            page += '.TP\n%s\n%s\n' % (tag, inline(why or '(see DESCRIPTION)', funcs, params))
    for title, chunks in (('OWNERSHIP', own), ('THREAD SAFETY', thread), ('PROGRESS', prog)):
        if chunks:
            text = ' '.join(' '.join(chunks).split())
            text = text[0].upper() + text[1:]
            page += '.SH ' + title + '\n' + paragraphs([text], funcs, params)
    refs = see_also(f['name'], f['text'], f['decl'], known)
    page += '.SH SEE ALSO\n' + ',\n'.join(ref_page(r) for r in refs) + '\n'
    return page


def member_docs(body):
    """(member, doc) pairs of a struct or enum body, from their /**< */ or /** */ comments."""
    out = []
    inner = body[body.index('{') + 1:body.rindex('}')]
    pending = None
    for m in re.finditer(r'/\*\*<?(?:(?!\*/).)*\*/|[^;,{}/]+[;,]?', inner, re.S):
        tok = m.group(0)
        if tok.startswith('/**<'):
            if out:
                out[-1][1] = ' '.join(comment_text('/**' + tok[4:]).split())
        elif tok.startswith('/**'):
            pending = ' '.join(comment_text(tok).split())
        else:
            t = ' '.join(tok.split()).rstrip(';,').strip()
            if not t:
                continue
            name = re.sub(r'\s*=.*$', '', t)
            name = re.sub(r'\s+NS_DEPRECATED\("[^"]*"\)', '', name)
            name = re.sub(r'\[.*\]$', '', name)
            name = re.split(r'[\s*]+', name)[-1] if name else name
            out.append([t, pending or ''])
            pending = None
    return out


def type_page(t, version, known, funcs, macros):
    kind = {'struct': 'struct ', 'enum': 'enum ', 'callback': '', 'handle': ''}[t['kind']]
    page = th(t['name'], version, '3type')
    summary = summary_of(t['text'])
    if kind:
        summary += ' (%s%s)' % (kind, t['name'])
    page += '.SH NAME\n%s \\- %s\n' % (t['name'], roff_escape(summary))
    body = re.sub(r'/\*\*<?(?:(?!\*/).)*\*/', '', t['body'], flags=re.S)
    body = '\n'.join(line.rstrip() for line in body.split('\n') if line.strip())
    body = re.sub(r'\s+NS_DEPRECATED\("[^"]*"\)', '', body)
    extra = roff_escape(body.replace('\t', '    '))
    for name, value in macros:
        text = '#define %s %s' % (name, value)
        if len(text) > 78 and value.startswith('{') and value.endswith('}'):
            fields = split_top(value[1:-1].strip(), seps=(',',))
            text = '#define %s {\n' % name + ',\n'.join('    ' + f for f in fields) + '\n}'
        extra += '\n\n' + roff_escape(text)
    page += synopsis(extra)
    page += '.SH DESCRIPTION\n' + paragraphs(t['text'].split('\n\n'), funcs, ())
    if t['kind'] in ('struct', 'enum'):
        members = member_docs(t['body'])
        if members:
            page += '.SH %s\n' % ('FIELDS' if t['kind'] == 'struct' else 'VALUES')
            for decl, doc in members:
                decl = re.sub(r'\s+NS_DEPRECATED\("[^"]*"\)', '', decl)
                page += '.TP\n.B %s\n%s\n' % (roff_escape(decl), inline(doc or '', funcs, ()))
    refs = see_also(t['name'], t['text'] + ' ' + t['body'], '', known)
    page += '.SH SEE ALSO\n' + ',\n'.join(ref_page(r) for r in refs) + '\n'
    return page


def init_macros(header_src, struct_name):
    """Initializer macros that follow a struct: '#define NS_X_INIT { ... }'."""
    out = []
    for m in re.finditer(r'#define\s+(NS_[A-Z0-9_]+_INIT)\s*((?:[^\n]*\\\n)*[^\n]*)', header_src):
        value = ' '.join(m.group(2).replace('\\\n', ' ').split())
        if 'sizeof(struct %s)' % struct_name in value:
            out.append((m.group(1), value))
    return out


def main():
    version, outdir = sys.argv[1], sys.argv[2]
    typedir = outdir
    headers = sys.argv[3:]
    for d in (outdir,):
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            if old.endswith('.3') or old.endswith('.3type'):
                os.remove(os.path.join(d, old))
    funcs, types = [], []
    for h in headers:
        f, t = parse_header(h)
        funcs += f
        types += t
    known = {f['name'] for f in funcs} | {t['name'] for t in types}
    TYPES.update(t['name'] for t in types)
    names = [f['name'] for f in funcs]
    pages = {}
    for f in funcs:
        pages[os.path.join(outdir, f['name'] + '.3')] = function_page(f, version, known, names)
    for t in types:
        src = open(t['header']).read()
        macros = init_macros(src, t['name']) if t['kind'] == 'struct' else []
        pages[os.path.join(typedir, t['name'] + '.3type')] = type_page(t, version, known, names,
                                                                      macros)
    # The index: every page, by header.
    idx = th('nanostream', version)
    idx += ('.SH NAME\nnanostream \\- low\\-latency messaging: the Disruptor ring in a process, '
            'Aeron\\-style streams between processes\n')
    idx += synopsis('')
    idx += ('.SH DESCRIPTION\nEvery function returns 0 or a non\\-negative value on success and a '
            'negative errno value on failure (the *_destroy functions return nothing); '
            '\\fBns_strerror\\fP(3) describes a code and \\fBns_errmsg\\fP(3) says in words '
            'why a create or client call failed. Each page below has the function\'s errors, '
            'ownership, thread safety and progress guarantee.\n')
    for h in headers:
        base = os.path.basename(h)
        hf = [f for f in funcs if f['header'] == h]
        ht = [t for t in types if t['header'] == h]
        if not hf and not ht:
            continue
        idx += '.SS <nanostream/%s>\n' % base
        for t in ht:
            idx += '.TP\n.BR %s (3type)\n%s\n' % (t['name'], roff_escape(summary_of(t['text'])))
        for f in hf:
            idx += '.TP\n.BR %s (3)\n%s\n' % (f['name'], roff_escape(summary_of(f['text'])))
    idx += '.SH SEE ALSO\n.BR nanostreamd (1),\n.BR ns\\-stat (1),\n.BR ns\\-bench (1)\n'
    pages[os.path.join(outdir, 'nanostream.3')] = idx
    for path, text in pages.items():
        with open(path, 'w') as f:
            f.write(text)
    print('%d pages (%d functions, %d types, 1 index) in %s' % (len(pages), len(funcs), len(types),
                                                               outdir))
    return 0


if __name__ == '__main__':
    sys.exit(main())
