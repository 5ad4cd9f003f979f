/* fuzz-vm-lines.c — fuzz target for how vm.c cuts a VMM's byte streams
 * into lines: the serial console (console_consume(): lines up to
 * CONSOLE_LINE_MAX, NULs dropped, one trailing '\r' removed, UTF-8
 * scrubbed) and stderr or the VMM's own log (split_lines(): a long line
 * keeps its start, the tail kept by diag_append()), and what each backend
 * reads in a log line (parse_log_line(): a boot phase or a fatal KVM error).
 * The input arrives in chunks of sizes derived from it.  Checked against a
 * model written from those rules: the same lines, in order, each UTF-8 and
 * within its limit; the diagnostics tail is the input's last bytes; a
 * backend's event is one it defines; the buffers, grown as bytes arrive,
 * stay within their limits.  The limits are lowered (the code is vm.c's
 * own) so inputs of a few KiB reach them. */
#define CONSOLE_LINE_MAX 256
#define DIAG_MAX 512
#define LOG_LINE_MAX 128
#include "vm.c"

#include "backends/registry.h"
#include "fuzz.h"

/* Lines a model expects, and how far the code has delivered. */
typedef struct Expect {
        char **lines;      /* the model's lines */
        size_t n;          /* how many */
        size_t next;       /* the next one the code must deliver */
} Expect;

static void expect_push(Expect *x, const char *line, size_t len) {
        char *l = fuzz_strndup((const uint8_t *) line, len);
        (void) utf8_scrub(l);
        x->lines = realloc(x->lines, (x->n + 1) * sizeof(char *));
        fuzz_assert(x->lines);
        x->lines[x->n++] = l;
}

static void expect_free(Expect *x) {
        for (size_t i = 0; i < x->n; i++)
                free(x->lines[i]);
        free(x->lines);
}

/* Console: NULs vanish, a line ends at '\n' or at CONSOLE_LINE_MAX - 1 bytes, the
 * final partial line comes at EOF, one '\r' before the end goes. */
static void console_model(const uint8_t *data, size_t size, Expect *x) {
        char line[CONSOLE_LINE_MAX];
        size_t len = 0;
        for (size_t i = 0; i <= size; i++) {
                bool eof = i == size, nl = !eof && data[i] == '\n';
                if (!eof && !nl && data[i] != 0)
                        line[len++] = (char) data[i];
                if (nl || len == CONSOLE_LINE_MAX - 1 || (eof && len > 0)) {
                        size_t n = len > 0 && line[len - 1] == '\r' ? len - 1 : len;
                        expect_push(x, line, n);
                        len = 0;
                }
        }
}

/* Logs: a line ends at '\n' and keeps its first LOG_LINE_MAX - 1 bytes; a
 * partial line is never delivered. */
static void log_model(const uint8_t *data, size_t size, Expect *x) {
        for (size_t off = 0; off < size;) {
                const uint8_t *nl = memchr(data + off, '\n', size - off);
                if (!nl)
                        return;
                size_t len = (size_t) (nl - (data + off));
                expect_push(x, (const char *) data + off, len < LOG_LINE_MAX - 1 ? len : LOG_LINE_MAX - 1);
                off += len + 1;
        }
}

static void check_line(Expect *x, const char *line, size_t max) {
        fuzz_assert(strlen(line) < max && !strchr(line, '\n') && fuzz_is_utf8(line));
        fuzz_assert(x->next < x->n);
        fuzz_assert(streq(line, x->lines[x->next]));
        x->next++;
}

static void on_console_line(Vm *vm, usec_t t, const char *line, void *userdata) {
        check_line(&((Expect *) userdata)[0], line, CONSOLE_LINE_MAX);
}

static void check_log_event(const VmmBackend *b, const char *line) {
        VmmLogEvent ev = b->parse_log_line(line);
        fuzz_assert(ev.type == VMM_LOG_NONE || ev.type == VMM_LOG_PHASE || ev.type == VMM_LOG_FATAL);
        if (ev.type == VMM_LOG_PHASE) /* a sample field stem: "t_%s_ms" */
                fuzz_assert(ev.phase && ev.phase[0] && strspn(ev.phase, "abcdefghijklmnopqrstuvwxyz_") == strlen(ev.phase));
        if (ev.type == VMM_LOG_FATAL)
                fuzz_assert(strcasestr(line, "kvm"));
}

static void on_vmm_log_line(Vm *vm, usec_t t, VmLogSource src, const char *line, void *userdata) {
        check_line(&((Expect *) userdata)[1], line, LOG_LINE_MAX);
        for (const VmmBackend *const *b = vmm_backends(); *b; b++)
                if ((*b)->parse_log_line)
                        check_log_event(*b, line);
}

static uint32_t hash(const uint8_t *data, size_t size) {
        uint32_t h = 2166136261U;
        for (size_t i = 0; i < size; i++)
                h = (h ^ data[i]) * 16777619U;
        return h;
}

/* The buffers vm.c grew for one input (vm_free() would want a loop). */
static void vm_buffers_free(Vm *vm) {
        free(vm->line);
        free(vm->diag);
        free(vm->diag_lines.buf);
        free(vm->log_lines.buf);
}

int fuzz_one(const uint8_t *data, size_t size) {
        Vm vm;
        Expect x[2] = {};
        console_model(data, size, &x[0]);
        log_model(data, size, &x[1]);
        vm = (Vm) { .cb = { .on_console_line = on_console_line, .on_vmm_log_line = on_vmm_log_line }, .userdata = x };

        /* Chunks as read(2) returns them, below DIAG_MAX as diag_append() requires
         * (diag_drain() reads 1 KiB at a time; DIAG_MAX is 8 KiB). */
        size_t chunk = hash(data, size) % (DIAG_MAX - 1) + 1;
        for (size_t off = 0; off < size; off += chunk) {
                size_t k = size - off < chunk ? size - off : chunk;
                console_consume(&vm, (const char *) data + off, k, 1 + off);
                diag_append(&vm, (const char *) data + off, k);
                split_lines(&vm, &vm.diag_lines, VM_LOG_STDERR, (const char *) data + off, k, 1 + off);
        }
        if (vm.line_len > 0) /* EOF, as on_console() ends */
                deliver_line(&vm, 1 + size);
        fuzz_assert(x[0].next == x[0].n && x[1].next == x[1].n);
        fuzz_assert((vm.t_console != 0) == (size > 0));

        /* The tail buffer exists once bytes came, and never outgrows DIAG_MAX. */
        size_t tail = size < DIAG_MAX - 1 ? size : DIAG_MAX - 1;
        fuzz_assert((vm.diag != NULL) == (size > 0) && vm.diag_allocated <= DIAG_MAX);
        fuzz_assert(vm.diag_len == tail && (vm_diagnostics(&vm) == vm.diag) == (size > 0));
        fuzz_assert(!vm.diag || (vm.diag[tail] == 0 && memcmp(vm.diag, data + size - tail, tail) == 0));
        fuzz_assert(vm.line_allocated <= CONSOLE_LINE_MAX && vm.diag_lines.allocated <= LOG_LINE_MAX);
        vm_buffers_free(&vm);
        expect_free(&x[0]);
        expect_free(&x[1]);
        return 0;
}
