/* mtree.h — pure parser and printers for QEMU's HMP `info mtree` (tree
 * view) and `info mtree -f` (flat view).  Text in, JSON out (schema
 * schemas/mtree.schema.json), and back: the JSON prints as the same text
 * with the tree re-indented two spaces per level, and as a graphviz DOT
 * drawing of one memory-region tree (the lab's figure 3-10).  The input is
 * untrusted: every malformed line is an error, never a crash. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "util.h"

/* Most regions (tree) or ranges (flat) accepted; QEMU q35 has a few hundred. */
#define MTREE_REGIONS_MAX 100000U
/* Deepest nesting accepted in the tree view. */
#define MTREE_DEPTH_MAX 64U

/* Parses either view.  *ret gets {"schema":"virtlab/mtree/v1","view":"tree"|"flat",...}.
 * Returns 0; -EBADMSG for a line that is not mtree output (*reterr_line is
 * its 1-based number, 0 for "no content at all"); -E2BIG over the caps;
 * -ENOMEM. */
int mtree_parse(const char *text, size_t len, json_t **ret, size_t *reterr_line);

/* Prints a parsed document back as HMP text (*ret malloc'd).  Returns 0,
 * -EINVAL when doc is not a document mtree_parse() could produce, -ENOMEM. */
int mtree_format_text(json_t *doc, char **ret);

/* Draws the tree under the memory region named root (NULL: "system") as a
 * DOT digraph: containers hold their children, aliases point with dashed
 * edges to their targets.  Returns 0, -EOPNOTSUPP for a flat view, -ENOENT
 * when no region is called root, -EINVAL, -ENOMEM. */
int mtree_format_dot(json_t *doc, const char *root, char **ret);

/* The first region called name, depth-first over every section of a tree
 * view (borrowed), or NULL. */
json_t *mtree_find_region(json_t *doc, const char *name);
