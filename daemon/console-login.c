/* console-login.c — the console login dance (console-login.h).
 *
 *   start → PROMPTING ("\r") → "login:" → PASSWORD (user) → "Password:" →
 *   SHELL (password) → prompt → RUNNING (command) → end marker → DONE
 *
 * A shell prompt where a login prompt was expected skips ahead (autologin,
 * no password); "Login incorrect", or "login:" again after the password,
 * is FAILED. */
#include "console-login.h"

#include <stdio.h>
#include <strings.h>

#include "utf8.h"

struct ConsoleLogin {
        ConsoleLoginState state; /* where the dance is */
        char *user;              /* NULL: no login */
        char *password;          /* NULL: none; wiped on free */
        char *line;              /* the command line we type */
        char send[256];          /* what the last step types (user name, password, "\r"); wiped */
        char *output;            /* the command's output, '\n'-separated */
        size_t output_len;       /* bytes in output */
        bool capturing;          /* between CONSOLE_BEGIN and CONSOLE_END */
        int rc;                  /* the command's exit status */
        char error[512];         /* FAILED: why */
};

static const char *const waiting_for[_CONSOLE_LOGIN_STATE_MAX] = {
        [CONSOLE_LOGIN_PROMPTING] = "the 'login:' prompt",
        [CONSOLE_LOGIN_PASSWORD] = "the 'Password:' prompt",
        [CONSOLE_LOGIN_SHELL] = "a shell prompt after logging in",
        [CONSOLE_LOGIN_RUNNING] = "the end of the command's output",
        [CONSOLE_LOGIN_DONE] = "nothing",
        [CONSOLE_LOGIN_FAILED] = "nothing",
};

/* The command, quoted for eval, between the two marker printfs: eval keeps
 * its exit status and lets it end in '&' or hold ';'. */
static char *command_line(const char *command) {
        size_t n = strlen(command), k = 0;
        char *quoted = malloc(4 * n + 3);
        if (!quoted)
                return NULL;
        quoted[k++] = '\'';
        for (const char *p = command; *p; p++) {
                if (*p == '\'') {
                        memcpy(quoted + k, "'\\''", 4);
                        k += 4;
                } else
                        quoted[k++] = *p;
        }
        quoted[k++] = '\'';
        quoted[k] = 0;
        char *s = NULL;
        if (asprintf(&s, "printf '@@VIRTLAB-CONSOLE-%%s@@\\n' BEGIN; eval %s; printf '@@VIRTLAB-CONSOLE-%%s rc=%%d@@\\n' END $?\r",
                     quoted) < 0)
                s = NULL;
        free(quoted);
        return s;
}

int console_login_new(const char *user, const char *password, const char *command, ConsoleLogin **ret) {
        ConsoleLogin *c = calloc(1, sizeof(ConsoleLogin));
        if (!c)
                return -ENOMEM;
        c->state = user ? CONSOLE_LOGIN_PROMPTING : CONSOLE_LOGIN_SHELL;
        c->user = user ? strdup(user) : NULL;
        c->password = password ? strdup(password) : NULL;
        c->line = command_line(command);
        if ((user && !c->user) || (password && !c->password) || !c->line) {
                console_login_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

ConsoleLogin *console_login_free(ConsoleLogin *c) {
        if (!c)
                return NULL;
        if (c->password)
                explicit_bzero(c->password, strlen(c->password));
        explicit_bzero(c->send, sizeof(c->send));
        free(c->password);
        free(c->user);
        free(c->line);
        free(c->output);
        free(c);
        return NULL;
}

ConsoleLoginState console_login_state(const ConsoleLogin *c) { return c->state; }
const char *console_login_error(const ConsoleLogin *c) { return c->error; }
const char *console_login_output(const ConsoleLogin *c) { return c->output ?: ""; }
int console_login_rc(const ConsoleLogin *c) { return c->rc; }
const char *console_login_waiting_for(const ConsoleLogin *c) { return waiting_for[c->state]; }

static const char *fail(ConsoleLogin *c, const char *fmt, ...) _printf_(2, 3);
static const char *fail(ConsoleLogin *c, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->error, sizeof(c->error), fmt, ap);
        va_end(ap);
        (void) utf8_scrub(c->error); /* cut at its buffer, maybe inside a character */
        c->state = CONSOLE_LOGIN_FAILED;
        return NULL;
}

/* True when text, trailing blanks aside, ends in word (case-insensitive). */
static bool ends_with(const char *text, const char *word) {
        size_t n = strlen(text), w = strlen(word);
        while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t'))
                n--;
        return n >= w && strncasecmp(text + n - w, word, w) == 0;
}

/* A shell's prompt: "root@host:~# ", "$ ", "/ # ", "% ". */
static bool is_shell_prompt(const char *text) {
        size_t n = strlen(text);
        if (n < 2 || text[n - 1] != ' ')
                return false;
        while (n > 0 && text[n - 1] == ' ')
                n--;
        return n > 0 && strchr("#$%>", text[n - 1]);
}

static bool says_login_failed(const char *text) {
        return strcasestr(text, "Login incorrect") || strcasestr(text, "Authentication failure") ||
               strcasestr(text, "Permission denied");
}

static const char *type_command(ConsoleLogin *c) {
        c->state = CONSOLE_LOGIN_RUNNING;
        return c->line;
}

static const char *type_user(ConsoleLogin *c) {
        snprintf(c->send, sizeof(c->send), "%s\r", c->user);
        c->state = CONSOLE_LOGIN_PASSWORD;
        return c->send;
}

/* Copies text to out (at most strlen(text) + 1 bytes) without escape
 * sequences (CSI "ESC [ ... final", and ESC x) and carriage returns: a
 * command on a terminal may colour its output, and a shell may follow its
 * prompt with a query (busybox ash asks for the cursor position, ESC [6n).
 * Returns the length. */
static size_t strip_escapes(const char *text, char *out) {
        size_t n = 0;
        for (const char *s = text; *s; s++) {
                if (*s == '\033') {
                        if (s[1] == '[') {
                                s += 2;
                                while (*s && !(*s >= 0x40 && *s <= 0x7e))
                                        s++;
                        } else if (s[1]) {
                                /* ESC x: x may be a multi-byte character; drop all of it. */
                                s++;
                                while ((s[1] & 0xc0) == 0x80)
                                        s++;
                        }
                        if (!*s)
                                break;
                        continue;
                }
                if (*s != '\r')
                        out[n++] = *s;
        }
        out[n] = 0;
        return n;
}

const char *console_login_start(ConsoleLogin *c, const char *raw) {
        _cleanup_free_ char *pending = malloc(strlen(raw) + 1);
        if (!pending)
                return "\r";
        strip_escapes(raw, pending);
        if (c->state == CONSOLE_LOGIN_PROMPTING && ends_with(pending, "login:"))
                return type_user(c);
        if (c->state == CONSOLE_LOGIN_SHELL && is_shell_prompt(pending))
                return type_command(c);
        /* An empty line makes a getty (or a shell) print its prompt afresh. */
        return "\r";
}

static void append_output(ConsoleLogin *c, const char *text) {
        size_t n = strlen(text);
        if (c->output_len + n + 2 > CONSOLE_OUTPUT_MAX)
                return;
        char *p = realloc(c->output, c->output_len + n + 2);
        if (!p)
                return;
        c->output = p;
        c->output_len += strip_escapes(text, p + c->output_len);
        p[c->output_len++] = '\n';
        p[c->output_len] = 0;
}

static const char *feed_running(ConsoleLogin *c, const char *text) {
        const char *end = strstr(text, CONSOLE_END);
        if (end) {
                long rc = strtol(end + strlen(CONSOLE_END), NULL, 10);
                c->rc = rc < 0 || rc > 255 ? -1 : (int) rc; /* a shell's $? is 0..255 */
                c->state = CONSOLE_LOGIN_DONE;
                if (!c->output)
                        c->output = strdup("");
        } else if (c->capturing)
                append_output(c, text);
        else if (strstr(text, CONSOLE_BEGIN))
                c->capturing = true;
        return NULL;
}

/* One step on text stripped of escape sequences (the capture strips its own). */
static const char *feed_plain(ConsoleLogin *c, const char *raw, const char *text, bool partial) {
        switch (c->state) {
        case CONSOLE_LOGIN_PROMPTING:
                if (partial && ends_with(text, "login:"))
                        return type_user(c);
                if (partial && is_shell_prompt(text))
                        return type_command(c);
                return NULL;
        case CONSOLE_LOGIN_PASSWORD:
                if (says_login_failed(text))
                        return fail(c, "Console login as '%s' failed: the guest refused the user name", c->user);
                if (partial && ends_with(text, "password:")) {
                        if (!c->password)
                                return fail(c, "Console login as '%s': the guest asks for a password, but none was given "
                                               "(--console-login USER:PASSWORD)", c->user);
                        c->state = CONSOLE_LOGIN_SHELL;
                        snprintf(c->send, sizeof(c->send), "%s\r", c->password);
                        return c->send;
                }
                if (partial && is_shell_prompt(text))
                        return type_command(c);
                return NULL;
        case CONSOLE_LOGIN_SHELL:
                if (says_login_failed(text) || (c->user && partial && ends_with(text, "login:")))
                        return fail(c, "Console login as '%s' failed: the guest said 'Login incorrect' (wrong password?); "
                                       "not retried", c->user ?: "");
                if (partial && is_shell_prompt(text))
                        return type_command(c);
                return NULL;
        case CONSOLE_LOGIN_RUNNING:
                return partial ? NULL : feed_running(c, raw);
        case CONSOLE_LOGIN_DONE:
        case CONSOLE_LOGIN_FAILED:
                return NULL;
        default:
                abort();
        }
}

const char *console_login_feed(ConsoleLogin *c, const char *raw, bool partial) {
        explicit_bzero(c->send, sizeof(c->send)); /* it may have held the password */
        _cleanup_free_ char *text = malloc(strlen(raw) + 1);
        if (!text)
                return fail(c, "Console: %s", strerror(ENOMEM));
        strip_escapes(raw, text);
        return feed_plain(c, raw, text, partial);
}
