/* console-login.h — logging in on a guest's serial console and running one
 * command there, the way a person at the terminal would: answer "login:"
 * and "Password:" once each, wait for a shell prompt, type the command
 * between two marker lines, keep what it prints.  This is how the lab reads
 * `systemd-analyze time` from a stock image that knows nothing of virtlab.
 *
 * Pure: the owner feeds console text (whole lines, and the unfinished line
 * a prompt sits on) and writes to the console what a step returns; no I/O,
 * no clock.  A wrong password is an error, never a second attempt: the
 * password is sent at most once, and only to a "Password:" prompt. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* What the typed command prints around its output (the typed line itself
 * only holds "%s", so its echo never looks like these). */
#define CONSOLE_BEGIN "@@VIRTLAB-CONSOLE-BEGIN@@"
#define CONSOLE_END "@@VIRTLAB-CONSOLE-END rc="
/* Output kept; more is dropped. */
#define CONSOLE_OUTPUT_MAX ((size_t) 1 << 20)
#define CONSOLE_COMMAND_MAX 1024

typedef enum ConsoleLoginState {
        CONSOLE_LOGIN_PROMPTING, /* asked for a fresh prompt, waiting for "login:" */
        CONSOLE_LOGIN_PASSWORD,  /* user name typed, waiting for "Password:" (or a shell prompt) */
        CONSOLE_LOGIN_SHELL,     /* password typed (or no login), waiting for a shell prompt */
        CONSOLE_LOGIN_RUNNING,   /* command typed, keeping its output until the end marker */
        CONSOLE_LOGIN_DONE,      /* the command ended: output and rc are final */
        CONSOLE_LOGIN_FAILED,    /* error says why; nothing more is typed */
        _CONSOLE_LOGIN_STATE_MAX,
        _CONSOLE_LOGIN_STATE_INVALID = -EINVAL,
} ConsoleLoginState;

typedef struct ConsoleLogin ConsoleLogin;

/* user NULL: no login, the console has a shell (or an autologin) already;
 * password NULL: the user has none.  The password is copied and wiped on
 * free.  -ENOMEM. */
int console_login_new(const char *user, const char *password, const char *command, ConsoleLogin **ret);
ConsoleLogin *console_login_free(ConsoleLogin *c);
static inline void console_login_freep(ConsoleLogin **c) {
        (void) console_login_free(*c);
}
/* Begins, given the console's unfinished line (a prompt already shown, or
 * ""); returns the bytes to type now. */
const char *console_login_start(ConsoleLogin *c, const char *pending);
/* Feeds a whole console line (partial false) or the unfinished line so far
 * (partial true; fed again as it grows).  Returns bytes to type now, or
 * NULL; valid until the next call. */
const char *console_login_feed(ConsoleLogin *c, const char *text, bool partial);
ConsoleLoginState console_login_state(const ConsoleLogin *c);
/* What it waits for, for a timeout message ("the 'login:' prompt"). */
const char *console_login_waiting_for(const ConsoleLogin *c);
/* FAILED: why, in one sentence. */
const char *console_login_error(const ConsoleLogin *c);
/* DONE: what the command printed (escape sequences removed) and its exit status. */
const char *console_login_output(const ConsoleLogin *c);
int console_login_rc(const ConsoleLogin *c); /* 0..255, or -1 when the end marker held none */
