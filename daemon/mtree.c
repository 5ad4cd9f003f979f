/* mtree.c — `info mtree` / `info mtree -f` text ⇄ JSON, and JSON → DOT.
 *
 * Divisions: line scanning · region lines · tree view · flat view · text
 * printer · DOT printer.
 *
 * QEMU 7.2 prints (memory.c, mtree_print_mr / mtree_print_flatview):
 *   address-space: NAME                      (several in a row share one tree)
 *   memory-region: NAME                      (alias targets, after the address spaces)
 *     START-END (prio P, TYPE): NAME [disabled]
 *     START-END (prio P, TYPE): alias NAME @TARGET OFF-OFFEND [disabled]
 *   FlatView #N / AS "NAME", root: ROOT / Root memory region: ROOT
 *     START-END (prio P, TYPE): NAME[ @OFFSET]      / No rendered FlatView
 * TYPE is ram, rom, romd, ramd or i/o, optionally prefixed by nv-.  A
 * disabled region is not printed but its children are, one level deeper
 * than their printed ancestor: the parent of a line is the nearest earlier
 * line with a smaller indent. */
#include "mtree.h"

#include <inttypes.h>
#include <stdio.h>

#define MTREE_SCHEMA "virtlab/mtree/v1"

/* ---- line scanning ---------------------------------------------------- */

typedef struct Line {
        const char *p;   /* start of the line (not NUL-terminated) */
        size_t len;      /* without the line ending */
} Line;

static bool line_starts(const Line *l, const char *prefix) {
        size_t n = strlen(prefix);
        return l->len >= n && memcmp(l->p, prefix, n) == 0;
}

/* Parses exactly `n` characters of hex (1..16 digits). */
static int parse_hex(const char *p, size_t n, uint64_t *ret) {
        uint64_t v = 0;
        if (n == 0 || n > 16)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                char c = p[i];
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
                if (d < 0)
                        return -EBADMSG;
                v = v << 4 | (uint64_t) d;
        }
        *ret = v;
        return 0;
}

static size_t hex_span(const char *p, size_t n) {
        size_t i = 0;
        while (i < n && ((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
                i++;
        return i;
}

static json_t *json_hex(uint64_t v) {
        char buf[24];
        snprintf(buf, sizeof(buf), "0x%016" PRIx64, v);
        return json_string(buf);
}

static uint64_t hex_value(json_t *o, const char *key) {
        const char *s = json_string_value(json_object_get(o, key));
        return s ? strtoull(s, NULL, 16) : 0;
}

/* A JSON string from untrusted bytes: NULL on invalid UTF-8. */
static json_t *json_text(const char *p, size_t n) {
        return json_stringn(p, n);
}

/* ---- region lines ----------------------------------------------------- */

static const char *const region_types[] = { "ram", "rom", "romd", "ramd", "i/o" };

/* Parses "START-END (prio P, TYPE): " at p; *ret_rest points after it. */
static int parse_range_head(const char *p, size_t n, json_t *o, size_t *ret_used) {
        uint64_t start, end;
        size_t a = hex_span(p, n);
        if (parse_hex(p, a, &start) < 0 || a >= n || p[a] != '-')
                return -EBADMSG;
        size_t b = hex_span(p + a + 1, n - a - 1);
        if (parse_hex(p + a + 1, b, &end) < 0 || end < start)
                return -EBADMSG;
        size_t i = a + 1 + b;
        static const char prio[] = " (prio ";
        if (n - i < strlen(prio) || memcmp(p + i, prio, strlen(prio)) != 0)
                return -EBADMSG;
        i += strlen(prio);
        bool neg = i < n && p[i] == '-';
        i += neg;
        size_t d = 0;
        long long pr = 0;
        while (i + d < n && p[i + d] >= '0' && p[i + d] <= '9' && d < 10)
                pr = pr * 10 + (p[i + d++] - '0');
        if (d == 0 || d >= 10 || i + d + 2 > n || p[i + d] != ',' || p[i + d + 1] != ' ')
                return -EBADMSG;
        i += d + 2;
        bool nv = n - i >= 3 && memcmp(p + i, "nv-", 3) == 0;
        i += nv ? 3 : 0;
        const char *close = memchr(p + i, ')', n - i);
        if (!close || (size_t) (close - p) + 3 > n || close[1] != ':' || close[2] != ' ')
                return -EBADMSG;
        size_t tlen = (size_t) (close - (p + i));
        const char *type = NULL;
        for (size_t k = 0; k < ELEMENTSOF(region_types); k++)
                if (strlen(region_types[k]) == tlen && memcmp(region_types[k], p + i, tlen) == 0)
                        type = region_types[k];
        if (!type)
                return -EBADMSG;
        json_object_set_new(o, "start", json_hex(start));
        json_object_set_new(o, "end", json_hex(end));
        json_object_set_new(o, "size", json_hex(end - start + 1)); /* 0 for the full 2^64 range */
        json_object_set_new(o, "priority", json_integer(neg ? -pr : pr));
        json_object_set_new(o, "type", json_string(type));
        json_object_set_new(o, "kind", json_string(type));
        if (nv)
                json_object_set_new(o, "nonvolatile", json_true());
        *ret_used = (size_t) (close - p) + 3;
        return 0;
}

/* Strips a trailing suffix; true if it was there. */
static bool strip_suffix(const char *p, size_t *n, const char *suffix) {
        size_t k = strlen(suffix);
        if (*n < k || memcmp(p + *n - k, suffix, k) != 0)
                return false;
        *n -= k;
        return true;
}

/* A tree-view region line without its indent. */
static int parse_tree_region(const char *p, size_t n, json_t **ret) {
        json_auto_t *o = json_object();
        size_t used;
        if (!o)
                return -ENOMEM;
        int r = parse_range_head(p, n, o, &used);
        if (r < 0)
                return r;
        p += used;
        n -= used;
        if (strip_suffix(p, &n, " [disabled]"))
                json_object_set_new(o, "disabled", json_true());
        /* "alias NAME @TARGET OFF-END": the range is 33 characters at the end. */
        uint64_t off, off_end;
        const char *at = NULL;
        if (n > 6 + 35 && memcmp(p, "alias ", 6) == 0 && p[n - 34] == ' ' && p[n - 17] == '-' &&
            parse_hex(p + n - 33, 16, &off) == 0 && parse_hex(p + n - 16, 16, &off_end) == 0)
                for (const char *q = p + 6; q + 1 < p + n - 34; q++)
                        if (q[0] == ' ' && q[1] == '@')
                                at = q; /* the last " @" before the range: names may hold spaces */
        if (at) {
                json_t *name = json_text(p + 6, (size_t) (at - (p + 6)));
                json_t *target = json_text(at + 2, (size_t) (p + n - 34 - (at + 2)));
                if (!name || !target || (at + 2) == p + n - 34) {
                        json_decref(name);
                        json_decref(target);
                        return -EBADMSG;
                }
                json_object_set_new(o, "name", name);
                json_object_set_new(o, "alias", json_pack("{s:o, s:o, s:o}", "target", target, "offset", json_hex(off),
                                                          "end", json_hex(off_end)));
        } else {
                json_t *name = json_text(p, n);
                if (!name)
                        return -EBADMSG;
                json_object_set_new(o, "name", name);
        }
        json_object_set_new(o, "children", json_array());
        *ret = TAKE_PTR(o);
        return 0;
}

/* A flat-view range line without its indent. */
static int parse_flat_range(const char *p, size_t n, json_t **ret) {
        json_auto_t *o = json_object();
        size_t used;
        if (!o)
                return -ENOMEM;
        int r = parse_range_head(p, n, o, &used);
        if (r < 0)
                return r;
        p += used;
        n -= used;
        uint64_t off;
        if (n > 18 && p[n - 18] == ' ' && p[n - 17] == '@' && parse_hex(p + n - 16, 16, &off) == 0) {
                json_object_set_new(o, "offset", json_hex(off));
                n -= 18;
        }
        json_t *name = json_text(p, n);
        if (!name)
                return -EBADMSG;
        json_object_set_new(o, "name", name);
        *ret = TAKE_PTR(o);
        return 0;
}

/* ---- parser ----------------------------------------------------------- */

typedef struct Parser {
        json_t *doc;              /* document being built */
        json_t *section;          /* current address-space group, memory-region or flat view */
        json_t *stack[MTREE_DEPTH_MAX]; /* open tree regions (borrowed) */
        size_t indent[MTREE_DEPTH_MAX]; /* their indents */
        size_t depth;             /* entries in stack */
        size_t regions;           /* regions or ranges seen */
        bool flat;                /* flat view */
} Parser;

static int tree_header(Parser *ps, const char *key, const char *p, size_t n) {
        json_t *name = json_text(p, n);
        if (!name)
                return -EBADMSG;
        json_t *list = json_object_get(ps->doc, key);
        /* Consecutive address-space headers name the same tree. */
        if (streq(key, "address_spaces") && ps->section &&
            json_array_size(json_object_get(ps->section, "regions")) == 0 && json_object_get(ps->section, "names")) {
                json_array_append_new(json_object_get(ps->section, "names"), name);
                return 0;
        }
        json_t *s = streq(key, "address_spaces") ? json_pack("{s:[o], s:[]}", "names", name, "regions")
                                                 : json_pack("{s:o, s:[]}", "name", name, "regions");
        if (!s || json_array_append_new(list, s) < 0)
                return -ENOMEM;
        ps->section = s;
        ps->depth = 0;
        return 0;
}

static int tree_line(Parser *ps, const Line *l) {
        size_t ind = 0;
        while (ind < l->len && l->p[ind] == ' ')
                ind++;
        if (!ps->section || ind == 0)
                return -EBADMSG;
        json_t *reg = NULL;
        int r = parse_tree_region(l->p + ind, l->len - ind, &reg);
        if (r < 0)
                return r;
        while (ps->depth > 0 && ps->indent[ps->depth - 1] >= ind)
                ps->depth--;
        if (ps->depth >= MTREE_DEPTH_MAX) {
                json_decref(reg);
                return -E2BIG;
        }
        json_t *parent = ps->depth > 0 ? ps->stack[ps->depth - 1] : NULL;
        json_t *list = parent ? json_object_get(parent, "children") : json_object_get(ps->section, "regions");
        if (parent && streq_ptr(json_string_value(json_object_get(parent, "type")), "i/o"))
                json_object_set_new(parent, "kind", json_string("container"));
        if (json_array_append_new(list, reg) < 0)
                return -ENOMEM;
        ps->stack[ps->depth] = reg;
        ps->indent[ps->depth++] = ind;
        return 0;
}

static int flat_line(Parser *ps, const Line *l) {
        json_t *fv = ps->section;
        if (line_starts(l, "FlatView #")) {
                uint64_t id = 0;
                size_t d = 0;
                while (10 + d < l->len && l->p[10 + d] >= '0' && l->p[10 + d] <= '9' && d < 9)
                        id = id * 10 + (uint64_t) (l->p[10 + d++] - '0');
                if (d == 0 || 10 + d != l->len)
                        return -EBADMSG;
                fv = json_pack("{s:I, s:[], s:n, s:b, s:[]}", "id", (json_int_t) id, "address_spaces", "root", "rendered",
                               1, "ranges");
                if (!fv || json_array_append_new(json_object_get(ps->doc, "flat_views"), fv) < 0)
                        return -ENOMEM;
                ps->section = fv;
                return 0;
        }
        if (!fv)
                return -EBADMSG;
        if (line_starts(l, " AS \"")) {
                const char *q = l->p + 5, *end = l->p + l->len;
                const char *sep = NULL;
                for (const char *s = q; s + 9 <= end; s++)
                        if (memcmp(s, "\", root: ", 9) == 0)
                                sep = s; /* last one: names are not escaped */
                if (!sep)
                        return -EBADMSG;
                json_t *name = json_text(q, (size_t) (sep - q)), *root = json_text(sep + 9, (size_t) (end - sep - 9));
                if (!name || !root) {
                        json_decref(name);
                        json_decref(root);
                        return -EBADMSG;
                }
                return json_array_append_new(json_object_get(fv, "address_spaces"),
                                             json_pack("{s:o, s:o}", "name", name, "root", root));
        }
        if (line_starts(l, " Root memory region: ")) {
                size_t k = strlen(" Root memory region: ");
                json_t *root = json_text(l->p + k, l->len - k);
                if (!root)
                        return -EBADMSG;
                return json_object_set_new(fv, "root", root);
        }
        if (l->len == strlen("  No rendered FlatView") && line_starts(l, "  No rendered FlatView"))
                return json_object_set_new(fv, "rendered", json_false());
        if (line_starts(l, "  ") && l->len > 2 && l->p[2] != ' ') {
                json_t *range = NULL;
                int r = parse_flat_range(l->p + 2, l->len - 2, &range);
                if (r < 0)
                        return r;
                return json_array_append_new(json_object_get(fv, "ranges"), range) < 0 ? -ENOMEM : 0;
        }
        return -EBADMSG;
}

static int parse_line(Parser *ps, const Line *l) {
        if (l->len == 0) {
                if (!ps->flat)
                        ps->depth = 0;
                return 0;
        }
        if (memchr(l->p, '\0', l->len))
                return -EBADMSG;
        if (ps->flat)
                return flat_line(ps, l);
        if (line_starts(l, "address-space: "))
                return tree_header(ps, "address_spaces", l->p + 15, l->len - 15);
        if (line_starts(l, "memory-region: "))
                return tree_header(ps, "memory_regions", l->p + 15, l->len - 15);
        return tree_line(ps, l);
}

int mtree_parse(const char *text, size_t len, json_t **ret, size_t *reterr_line) {
        Parser ps = {};
        size_t lineno = 0, pos = 0;
        /* The view is decided by the first non-blank line. */
        while (pos < len && (text[pos] == '\n' || text[pos] == '\r'))
                pos++;
        if (pos >= len) {
                if (reterr_line)
                        *reterr_line = 0;
                return -EBADMSG;
        }
        ps.flat = len - pos >= 10 && memcmp(text + pos, "FlatView #", 10) == 0;
        json_auto_t *doc = ps.flat ? json_pack("{s:s, s:s, s:[]}", "schema", MTREE_SCHEMA, "view", "flat", "flat_views")
                                   : json_pack("{s:s, s:s, s:[], s:[]}", "schema", MTREE_SCHEMA, "view", "tree",
                                               "address_spaces", "memory_regions");
        if (!doc)
                return -ENOMEM;
        ps.doc = doc;
        for (pos = 0; pos < len;) {
                const char *nl = memchr(text + pos, '\n', len - pos);
                Line l = { text + pos, nl ? (size_t) (nl - (text + pos)) : len - pos };
                pos += l.len + (nl ? 1 : 0);
                lineno++;
                if (l.len > 0 && l.p[l.len - 1] == '\r')
                        l.len--;
                bool is_region = l.len > 0 && l.p[0] == ' ';
                if (is_region && ++ps.regions > MTREE_REGIONS_MAX)
                        return -E2BIG;
                int r = parse_line(&ps, &l);
                if (r < 0) {
                        if (reterr_line)
                                *reterr_line = lineno;
                        return r == -E2BIG || r == -ENOMEM ? r : -EBADMSG;
                }
        }
        *ret = TAKE_PTR(doc);
        return 0;
}

/* ---- text printer ----------------------------------------------------- */

static void print_range_head(FILE *f, json_t *o, size_t level) {
        for (size_t i = 0; i < level; i++)
                fputs("  ", f);
        fprintf(f, "%016" PRIx64 "-%016" PRIx64 " (prio %" JSON_INTEGER_FORMAT ", %s%s): ", hex_value(o, "start"),
                hex_value(o, "end"), json_integer_value(json_object_get(o, "priority")),
                json_is_true(json_object_get(o, "nonvolatile")) ? "nv-" : "",
                strempty(json_string_value(json_object_get(o, "type"))));
}

static void print_tree_region(FILE *f, json_t *o, size_t level) {
        json_t *alias = json_object_get(o, "alias"), *c;
        size_t i;
        print_range_head(f, o, level);
        if (alias)
                fprintf(f, "alias %s @%s %016" PRIx64 "-%016" PRIx64, strempty(json_string_value(json_object_get(o, "name"))),
                        strempty(json_string_value(json_object_get(alias, "target"))), hex_value(alias, "offset"),
                        hex_value(alias, "end"));
        else
                fputs(strempty(json_string_value(json_object_get(o, "name"))), f);
        fputs(json_is_true(json_object_get(o, "disabled")) ? " [disabled]\n" : "\n", f);
        json_array_foreach(json_object_get(o, "children"), i, c)
                print_tree_region(f, c, level + 1);
}

static void print_tree(FILE *f, json_t *doc) {
        json_t *s, *n, *reg;
        size_t i, j;
        json_array_foreach(json_object_get(doc, "address_spaces"), i, s) {
                json_array_foreach(json_object_get(s, "names"), j, n)
                        fprintf(f, "address-space: %s\n", json_string_value(n));
                json_array_foreach(json_object_get(s, "regions"), j, reg)
                        print_tree_region(f, reg, 1);
                if (json_array_size(json_object_get(s, "regions")) > 0)
                        fputc('\n', f);
        }
        json_array_foreach(json_object_get(doc, "memory_regions"), i, s) {
                fprintf(f, "memory-region: %s\n", json_string_value(json_object_get(s, "name")));
                json_array_foreach(json_object_get(s, "regions"), j, reg)
                        print_tree_region(f, reg, 1);
                fputc('\n', f);
        }
}

static void print_flat(FILE *f, json_t *doc) {
        json_t *fv, *as, *rg;
        size_t i, j;
        json_array_foreach(json_object_get(doc, "flat_views"), i, fv) {
                fprintf(f, "FlatView #%" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(fv, "id")));
                json_array_foreach(json_object_get(fv, "address_spaces"), j, as)
                        fprintf(f, " AS \"%s\", root: %s\n", json_string_value(json_object_get(as, "name")),
                                json_string_value(json_object_get(as, "root")));
                if (json_is_string(json_object_get(fv, "root")))
                        fprintf(f, " Root memory region: %s\n", json_string_value(json_object_get(fv, "root")));
                if (json_is_false(json_object_get(fv, "rendered")))
                        fputs("  No rendered FlatView\n", f);
                json_array_foreach(json_object_get(fv, "ranges"), j, rg) {
                        print_range_head(f, rg, 1);
                        fputs(strempty(json_string_value(json_object_get(rg, "name"))), f);
                        if (json_object_get(rg, "offset"))
                                fprintf(f, " @%016" PRIx64, hex_value(rg, "offset"));
                        fputc('\n', f);
                }
                fputc('\n', f);
        }
}

int mtree_format_text(json_t *doc, char **ret) {
        const char *view = json_string_value(json_object_get(doc, "view"));
        if (!view || (!streq(view, "tree") && !streq(view, "flat")))
                return -EINVAL;
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        if (streq(view, "tree"))
                print_tree(f, doc);
        else
                print_flat(f, doc);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}

/* ---- DOT printer ------------------------------------------------------ */

static json_t *find_in(json_t *list, const char *name) {
        json_t *o, *hit;
        size_t i;
        json_array_foreach(list, i, o) {
                if (streq_ptr(json_string_value(json_object_get(o, "name")), name))
                        return o;
                if ((hit = find_in(json_object_get(o, "children"), name)))
                        return hit;
        }
        return NULL;
}

json_t *mtree_find_region(json_t *doc, const char *name) {
        json_t *s, *hit;
        size_t i;
        json_array_foreach(json_object_get(doc, "address_spaces"), i, s)
                if ((hit = find_in(json_object_get(s, "regions"), name)))
                        return hit;
        json_array_foreach(json_object_get(doc, "memory_regions"), i, s)
                if ((hit = find_in(json_object_get(s, "regions"), name)))
                        return hit;
        return NULL;
}

static void dot_escaped(FILE *f, const char *s) {
        for (; s && *s; s++) {
                if (*s == '"' || *s == '\\')
                        fputc('\\', f);
                fputc(*s, f);
        }
}

typedef struct Dot {
        FILE *f;          /* output */
        unsigned next;    /* next node number */
        json_t *named;    /* region name → node id of the first node drawn for it */
        json_t *aliases;  /* [from node id, target name, offset] to draw at the end */
} Dot;

static const char *dot_fill(const char *kind) {
        if (streq(kind, "ram"))
                return "lightblue";
        if (streq(kind, "rom") || streq(kind, "romd"))
                return "khaki";
        if (streq(kind, "container"))
                return "lightgrey";
        if (streq(kind, "ramd"))
                return "lightcyan";
        return "white";
}

static unsigned dot_node(Dot *d, json_t *o) {
        unsigned id = d->next++;
        const char *name = strempty(json_string_value(json_object_get(o, "name")));
        const char *kind = strempty(json_string_value(json_object_get(o, "kind")));
        json_t *alias = json_object_get(o, "alias");
        fprintf(d->f, "  n%u [label=\"", id);
        dot_escaped(d->f, alias ? "alias " : "");
        dot_escaped(d->f, name);
        fprintf(d->f, "\\n%016" PRIx64 "-%016" PRIx64 "\\nprio %" JSON_INTEGER_FORMAT ", %s%s\", fillcolor=%s%s];\n",
                hex_value(o, "start"), hex_value(o, "end"), json_integer_value(json_object_get(o, "priority")), kind,
                json_is_true(json_object_get(o, "disabled")) ? " [disabled]" : "", dot_fill(kind),
                alias ? ", style=\"filled,dashed\"" : "");
        if (!json_object_get(d->named, name))
                json_object_set_new(d->named, name, json_integer(id));
        if (alias)
                json_array_append_new(d->aliases, json_pack("{s:I, s:O, s:O}", "from", (json_int_t) id, "target",
                                                            json_object_get(alias, "target"), "offset",
                                                            json_object_get(alias, "offset")));
        json_t *c;
        size_t i;
        json_array_foreach(json_object_get(o, "children"), i, c) {
                unsigned child = dot_node(d, c);
                fprintf(d->f, "  n%u -> n%u;\n", id, child);
        }
        return id;
}

int mtree_format_dot(json_t *doc, const char *root, char **ret) {
        const char *view = json_string_value(json_object_get(doc, "view"));
        if (!view)
                return -EINVAL;
        if (streq(view, "flat"))
                return -EOPNOTSUPP;
        root = root ?: "system";
        /* Prefer the memory-region section of that name: it is the whole tree. */
        json_t *top = NULL, *s;
        size_t i;
        json_array_foreach(json_object_get(doc, "memory_regions"), i, s)
                if (!top && streq_ptr(json_string_value(json_object_get(s, "name")), root))
                        top = json_array_get(json_object_get(s, "regions"), 0);
        top = top ?: mtree_find_region(doc, root);
        if (!top)
                return -ENOENT;
        char *buf = NULL;
        size_t size = 0;
        json_auto_t *named = json_object(), *aliases = json_array();
        Dot d = { .f = open_memstream(&buf, &size), .named = named, .aliases = aliases };
        if (!d.f || !named || !aliases) {
                if (d.f)
                        fclose(d.f);
                free(buf);
                return -ENOMEM;
        }
        fputs("digraph mtree {\n  rankdir=LR;\n  node [shape=box, style=filled, fontname=\"monospace\", fontsize=9];\n"
              "  label=\"memory-region: ", d.f);
        dot_escaped(d.f, root);
        fputs(" (containers → subregions; dashed: alias → target)\";\n", d.f);
        (void) dot_node(&d, top);
        /* Alias targets outside the drawn tree come from their memory-region section. */
        json_t *a;
        json_array_foreach(aliases, i, a) {
                const char *target = json_string_value(json_object_get(a, "target"));
                json_t *to = json_object_get(named, target);
                if (!to) {
                        json_t *t = NULL;
                        size_t k;
                        json_array_foreach(json_object_get(doc, "memory_regions"), k, s)
                                if (!t && streq_ptr(json_string_value(json_object_get(s, "name")), target))
                                        t = json_array_get(json_object_get(s, "regions"), 0);
                        unsigned id = d.next++;
                        fprintf(d.f, "  n%u [label=\"", id);
                        dot_escaped(d.f, target);
                        if (t)
                                fprintf(d.f, "\\n%016" PRIx64 "-%016" PRIx64 "\\n%s", hex_value(t, "start"), hex_value(t, "end"),
                                        strempty(json_string_value(json_object_get(t, "kind"))));
                        fprintf(d.f, "\", fillcolor=%s, peripheries=2];\n",
                                dot_fill(t ? strempty(json_string_value(json_object_get(t, "kind"))) : "i/o"));
                        json_object_set_new(named, target, json_integer(id));
                        to = json_object_get(named, target);
                }
                fprintf(d.f, "  n%" JSON_INTEGER_FORMAT " -> n%" JSON_INTEGER_FORMAT " [style=dashed, label=\"@0x%" PRIx64 "\"];\n",
                        json_integer_value(json_object_get(a, "from")), json_integer_value(to), hex_value(a, "offset"));
        }
        fputs("}\n", d.f);
        if (fclose(d.f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}
