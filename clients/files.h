/* files.h — the caller's files, opened here with the caller's own rights
 * and handed to virtlabd as file descriptors (StartExperimentWithFiles):
 * a guest image directory given as a path (--image DIR: its image.json and
 * every file that names), and a benchmark disk (--disk FILE, read-write).
 * virtlabd never opens a path a caller names (docs/security.md). */
#pragma once

#include <jansson.h>
#include <stddef.h>

#define CLIENT_FILES_MAX 8
/* A spec key only the client knows: the console password, which
 * client_files_open() takes out of the spec and passes as a file. */
#define CLIENT_SECRET_KEY "@console_password"

typedef struct ClientFiles {
        const char *role[CLIENT_FILES_MAX]; /* "image.json", "vmlinux", …, "disk" (static strings) */
        int fd[CLIENT_FILES_MAX];           /* ours */
        char *path[CLIENT_FILES_MAX];       /* as opened, for messages */
        size_t n;                           /* entries */
} ClientFiles;

/* Opens what spec names ("image" with a '/' and the files its image.json
 * names, "disk" read-write; "kernel", "initrd", "disk_image" read-only),
 * and turns CLIENT_SECRET_KEY into a sealed memfd (removed from spec).  0
 * with *ret filled (n may be 0), or -1 after printing which file could not
 * be opened. */
int client_files_open(json_t *spec, ClientFiles *ret);
void client_files_close(ClientFiles *f);
/* virtlabd names the files it was handed by role only ("image.json (passed
 * by the caller)"): after a refusal, say which paths those were. */
void client_files_explain(const ClientFiles *f, const char *error_message);
