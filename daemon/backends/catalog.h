/* catalog.h — which VMM binaries this host has, with their versions: found
 * (a $VAR override, else PATH) and versioned once, asynchronously, through
 * the one child path, with a timeout; cached until the binary changes
 * (path, inode, size or mtime), like libvirt's capabilities cache.  Describe
 * answers from here without forking; a job waits for a probe only when its
 * binary changed since the last one. */
#pragma once

#include <event2/event.h>
#include <jansson.h>

#include "backends/backend.h"

/* A version probe that takes longer than this is killed: the binary is
 * reported unusable rather than blocking anyone. */
#define VMM_PROBE_TIMEOUT_USEC (5 * USEC_PER_SEC)

typedef struct VmmCatalog VmmCatalog;

typedef struct VmmInfo {
        char *path;             /* absolute path of the binary, NULL if missing */
        char *version;          /* its version line, NULL if unknown (yet) */
        char *error;            /* why it is unusable, NULL if usable */
        bool probing;           /* a version probe is under way */
} VmmInfo;

int vmm_catalog_new(struct event_base *base, VmmCatalog **ret);
VmmCatalog *vmm_catalog_free(VmmCatalog *c);
/* Re-finds every backend's binary and probes the ones that changed. */
void vmm_catalog_refresh(VmmCatalog *c);
/* The cached facts of b (borrowed); re-finds the binary (a few stat()s) and
 * starts a probe if it changed. */
const VmmInfo *vmm_catalog_get(VmmCatalog *c, const VmmBackend *b);
/* The cached facts of b (borrowed) as they are, for a caller that has just
 * called vmm_catalog_refresh(): no lookup again. */
const VmmInfo *vmm_catalog_peek(VmmCatalog *c, const VmmBackend *b);
/* Calls cb once, from the loop, when b's facts are settled (no probe under
 * way), with those facts.  Returns a handle for vmm_catalog_cancel(). */
typedef void (*vmm_ready_handler_t)(const VmmBackend *b, const VmmInfo *info, void *userdata);
typedef struct VmmWaiter VmmWaiter;
int vmm_catalog_when_ready(VmmCatalog *c, const VmmBackend *b, vmm_ready_handler_t cb, void *userdata,
                           VmmWaiter **ret);
/* When a probe is under way, arranges cb(userdata) for the moment none is
 * (from the loop) and returns 1; returns 0 when none is under way now (cb
 * is not called).  Describe uses it so its first answer is never "unknown". */
int vmm_catalog_when_settled(VmmCatalog *c, void (*cb)(void *userdata), void *userdata);
/* Drops a waiter before its callback (NULL is fine). */
void vmm_catalog_cancel(VmmWaiter *w);
/* {"name", "description", "path", "version", "error", "available"}. */
json_t *vmm_info_to_json(const VmmBackend *b, const VmmInfo *i);
/* Copies a (for a job to keep); vmm_info_done() frees the copy. */
int vmm_info_copy(const VmmInfo *a, VmmInfo *ret);
void vmm_info_done(VmmInfo *i);
