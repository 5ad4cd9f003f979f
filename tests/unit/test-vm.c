/* test-vm.c — one VMM process (vm.c) with a fake VMM: a backend defined
 * here whose argv runs a bash (fd mode) or python3 (path mode) script that
 * talks on the channels vm.c gives it — console lines on the serial
 * channel, a QMP greeting and the qmp_capabilities reply on the QMP one,
 * lines on stdout/stderr or in its own log — and exits as told.  Everything
 * else is real: socketpairs, unix sockets, pidfds, inotify, the loop. */
#include "vm.c"

#include "test-helpers.h"

#define GREETING "{\"QMP\":{\"version\":{\"qemu\":{\"micro\":0,\"minor\":2,\"major\":8},\"package\":\"fake\"},\"capabilities\":[]}}"

/* Every fd-mode script starts with this: $1 is the serial fd, $2 the QMP fd. */
#define PRELUDE                                                                          \
        "s=$1 q=$2\n"                                                                    \
        "greet() { printf '%s\\n' '" GREETING "' >&$q; read -r _ <&$q;"                  \
        " printf '%s\\n' '{\"return\":{},\"id\":1}' >&$q; }\n"                           \
        "con() { printf '%s\\n' \"$@\" >&$s; }\n"

static const char *fake_script; /* what the fake VMM runs (set by each test) */

/* The fake backend's argv: BINARY -c SCRIPT fake-vmm then the channels: fd
 * numbers (fd mode) or socket and log paths (path mode). */
static int fake_build_argv(const VmmBackend *b, const char *binary, const VmConfig *c, char ***ret) {
        _cleanup_strv_free_ char **v = NULL;
        size_t n = 0;
        int r = strv_push(&v, &n, binary);
        r = r ?: strv_push(&v, &n, "-c");
        r = r ?: strv_push(&v, &n, fake_script);
        if (b->caps.takes_fds) {
                r = r ?: strv_push(&v, &n, "fake-vmm");
                r = r ?: strv_pushf(&v, &n, "%d", c->serial_fd);
                r = r ?: strv_pushf(&v, &n, "%d", c->qmp_fd);
        } else {
                r = r ?: strv_push(&v, &n, c->serial_path);
                r = r ?: strv_push(&v, &n, c->qmp_path);
                r = r ?: strv_push(&v, &n, strempty(c->log_path));
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

/* QEMU-like: takes inherited fds. */
static const VmmBackend fake_fd_backend = {
        .name = "fake-fd",
        .binary = "/bin/bash",
        .caps = { .takes_fds = true },
        .build_argv = fake_build_argv,
};

/* QEMU-like with a console that takes input (a socket both ways). */
static const VmmBackend fake_input_backend = {
        .name = "fake-input",
        .binary = "/bin/bash",
        .caps = { .takes_fds = true, .console_input = true },
        .build_argv = fake_build_argv,
};

/* StratoVirt-like: listens on unix socket paths and writes its own log. */
static const VmmBackend fake_path_backend = {
        .name = "fake-path",
        .binary = "/usr/bin/python3",
        .caps = { .takes_fds = false, .writes_log = true },
        .build_argv = fake_build_argv,
};

#define MAX_LINES 32

typedef struct VmLog {
        unsigned n_lines;              /* console lines */
        char *lines[MAX_LINES];        /* their text */
        usec_t t[MAX_LINES];           /* their timestamps */
        unsigned n_log;                /* VMM stdout/stderr/log lines */
        char *log[MAX_LINES];          /* their text */
        VmLogSource src[MAX_LINES];    /* where each came from */
        unsigned qmp_ready;            /* on_qmp_ready calls */
        unsigned exits;                /* on_exit calls */
        int status;                    /* its wait status */
        usec_t t_exit;                 /* when on_exit ran */
        bool reaped_at_exit;           /* vm.c had reaped the process by then */
        bool qmp_closed_at_exit;       /* ... and QMP had closed */
} VmLog;

static void log_console(Vm *vm, usec_t t, const char *line, void *userdata) {
        VmLog *l = userdata;
        assert_true(l->n_lines < MAX_LINES);
        l->t[l->n_lines] = t;
        l->lines[l->n_lines++] = strdup(line);
}

static void log_qmp_ready(Vm *vm, void *userdata) {
        VmLog *l = userdata;
        l->qmp_ready++;
        assert_non_null(vm_qmp(vm));
}

static void log_vmm_line(Vm *vm, usec_t t, VmLogSource src, const char *line, void *userdata) {
        VmLog *l = userdata;
        assert_true(l->n_log < MAX_LINES);
        l->src[l->n_log] = src;
        l->log[l->n_log++] = strdup(line);
}

static void log_exit(Vm *vm, int status, void *userdata) {
        VmLog *l = userdata;
        l->exits++;
        l->status = status;
        l->t_exit = now_usec();
        l->reaped_at_exit = vm->reaped;
        l->qmp_closed_at_exit = vm->qmp_closed || !vm->qmp;
}

static const VmCallbacks log_callbacks = {
        .on_console_line = log_console,
        .on_qmp_ready = log_qmp_ready,
        .on_vmm_log_line = log_vmm_line,
        .on_exit = log_exit,
};

static void vm_log_done(VmLog *l) {
        for (unsigned i = 0; i < l->n_lines; i++)
                free(l->lines[i]);
        for (unsigned i = 0; i < l->n_log; i++)
                free(l->log[i]);
}

typedef struct Fixture {
        struct event_base *base;
        char *dir;                     /* temporary: run dir and console logs */
        VmLog log;                     /* what the callbacks saw */
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        f->base = event_base_new();
        f->dir = test_tmpdir();
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        loop_for(f->base, 20); /* QMP clients free themselves from the loop */
        vm_log_done(&f->log);
        event_base_free(f->base);
        rm_rf(f->dir);
        free(f->dir);
        free(f);
        return 0;
}

/* Starts the fake with script; console_log may be NULL. */
static Vm *spawn_fake(Fixture *f, const VmmBackend *b, const char *script, const char *console_log) {
        fake_script = script;
        VmSpawnOptions o = {
                .backend = b,
                .binary = b->binary,
                .config = { .kernel = "/k", .cmdline = "console=ttyS0", .memory_mib = 64, .vcpus = 1,
                            .qmp_fd = -EBADF, .serial_fd = -EBADF },
                .run_dir = f->dir,
                .console_log = console_log,
        };
        Vm *vm = NULL;
        int r = vm_spawn(f->base, &o, &log_callbacks, &f->log, &vm);
        if (r < 0)
                fail_msg("vm_spawn: %s", strerror(-r));
        assert_true(vm_running(vm));
        assert_true(vm_pid(vm) > 0);
        return vm;
}

/* ---- fd mode ---------------------------------------------------------- */

/* Console lines arrive in order, \r\n and \n alike, each stamped when read
 * (a 100 ms pause shows between the stamps); invalid UTF-8 is scrubbed for
 * the owner but kept raw in the console log, whose own timestamps follow
 * the same order; a last line without '\n' is delivered at EOF; QMP
 * negotiates; on_exit comes once with the exit status. */
static void test_console_lines(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *console = path_join(f->dir, "run-0.log");
        Vm *vm = spawn_fake(f, &fake_fd_backend,
                            PRELUDE "greet; con first; printf 'second\\r\\n' >&$s; sleep 0.1; con third;"
                                    " printf 'bad \\xff byte\\n' >&$s; printf 'unterminated' >&$s; exit 0",
                            console);
        LOOP_UNTIL(f->base, f->log.exits > 0, 5000);
        VmLog *l = &f->log;
        assert_int_equal(l->n_lines, 5);
        assert_string_equal(l->lines[0], "first");
        assert_string_equal(l->lines[1], "second");
        assert_string_equal(l->lines[2], "third");
        assert_string_equal(l->lines[3], "bad ? byte");
        assert_string_equal(l->lines[4], "unterminated");
        assert_true(l->t[0] >= vm_t_exec(vm));
        assert_true(vm_t_console(vm) > 0 && vm_t_console(vm) <= l->t[0]);
        for (unsigned i = 1; i < l->n_lines; i++)
                assert_true(l->t[i] >= l->t[i - 1]);
        assert_true(l->t[2] - l->t[1] >= 80 * USEC_PER_MSEC);
        assert_int_equal(l->qmp_ready, 1);
        assert_true(vm_t_qmp(vm) >= vm_t_exec(vm));
        assert_true(vm_t_qmp(vm) <= l->t[0]); /* the script greets before it prints */
        assert_int_equal(l->exits, 1);
        assert_true(WIFEXITED(l->status) && WEXITSTATUS(l->status) == 0);
        assert_true(l->reaped_at_exit && l->qmp_closed_at_exit);
        assert_null(vm_qmp(vm));
        loop_for(f->base, 100);
        assert_int_equal(l->exits, 1);

        /* The console log: "[seconds since spawn] line", raw bytes kept. */
        _cleanup_free_ char *text = read_file(console);
        assert_non_null(text);
        static const char *const want[] = { "first", "second", "third", "bad \xff byte", "unterminated" };
        double prev = -1, t_second = 0, t_third = 0;
        char *line = text;
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                char *nl = strchr(line, '\n');
                assert_non_null(nl);
                *nl = 0;
                double t;
                int off = 0;
                if (sscanf(line, "[%lf] %n", &t, &off) != 1 || off == 0)
                        fail_msg("console log line '%s' has no timestamp", line);
                assert_string_equal(line + off, want[i]);
                assert_true(t >= prev && t >= 0 && t < 5.0);
                prev = t;
                t_second = i == 1 ? t : t_second;
                t_third = i == 2 ? t : t_third;
                line = nl + 1;
        }
        assert_string_equal(line, "");
        assert_true(t_third - t_second >= 0.08);
        vm_free(vm);
        assert_true(no_children());
}

/* on_exit waits for QMP EOF: a grandchild keeps the QMP fd open 0.5 s
 * after the VMM was reaped, and on_exit comes only when it lets go. */
static void test_exit_waits_for_qmp_eof(void **state) {
        Fixture *f = *state;
        Vm *vm = spawn_fake(f, &fake_fd_backend, PRELUDE "greet; sleep 0.5 & exit 0", NULL);
        LOOP_UNTIL(f->base, vm->reaped, 5000);
        usec_t t_reap = now_usec();
        assert_int_equal(f->log.exits, 0);
        assert_false(vm->qmp_closed);
        LOOP_UNTIL(f->base, f->log.exits > 0, 5000);
        assert_true(f->log.t_exit - t_reap >= 350 * USEC_PER_MSEC);
        assert_true(f->log.t_exit - t_reap < QMP_EOF_GRACE_USEC); /* EOF, not the grace timer */
        assert_true(f->log.reaped_at_exit && f->log.qmp_closed_at_exit);
        assert_int_equal(f->log.exits, 1);
        vm_free(vm);
        assert_true(no_children());
}

/* ... and for the reap: QMP closes first, the process lingers 0.4 s. */
static void test_exit_waits_for_reap(void **state) {
        Fixture *f = *state;
        Vm *vm = spawn_fake(f, &fake_fd_backend, PRELUDE "greet; eval \"exec $q>&-\"; sleep 0.4; exit 5", NULL);
        LOOP_UNTIL(f->base, vm->qmp_closed, 5000);
        assert_int_equal(f->log.qmp_ready, 1);
        assert_false(vm->reaped);
        assert_int_equal(f->log.exits, 0);
        LOOP_UNTIL(f->base, f->log.exits > 0, 5000);
        assert_true(WIFEXITED(f->log.status));
        assert_int_equal(WEXITSTATUS(f->log.status), 5);
        loop_for(f->base, 50);
        assert_int_equal(f->log.exits, 1);
        vm_free(vm);
        assert_true(no_children());
}

/* A grandchild that never lets go of QMP: on_exit still comes, after the
 * grace period. */
static void test_exit_after_eof_grace(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *pidfile = path_join(f->dir, "holder.pid"), *script = NULL;
        assert_true(asprintf(&script, "%sgreet; sleep 5 & echo $! >%s; exit 0", PRELUDE, pidfile) > 0);
        Vm *vm = spawn_fake(f, &fake_fd_backend, script, NULL);
        LOOP_UNTIL(f->base, vm->reaped, 5000);
        usec_t t_reap = now_usec();
        LOOP_UNTIL(f->base, f->log.exits > 0, 5000);
        assert_true(f->log.t_exit - t_reap >= QMP_EOF_GRACE_USEC - TIMER_SLACK_USEC);
        assert_true(f->log.t_exit - t_reap < QMP_EOF_GRACE_USEC + USEC_PER_SEC);
        assert_true(WIFEXITED(f->log.status) && WEXITSTATUS(f->log.status) == 0);
        vm_free(vm);
        pid_t holder = read_pid_file(pidfile);
        assert_true(holder > 0);
        (void) kill(holder, SIGKILL); /* not ours to reap: init's */
        assert_true(no_children());
}

/* vm_kill: SIGKILL, and on_exit reports it. */
static void test_vm_kill(void **state) {
        Fixture *f = *state;
        Vm *vm = spawn_fake(f, &fake_fd_backend, PRELUDE "greet; con up; exec sleep 30", NULL);
        LOOP_UNTIL(f->base, f->log.n_lines == 1 && f->log.qmp_ready == 1, 5000);
        assert_int_equal(f->log.exits, 0);
        vm_kill(vm);
        LOOP_UNTIL(f->base, f->log.exits > 0, 5000);
        assert_true(WIFSIGNALED(f->log.status));
        assert_int_equal(WTERMSIG(f->log.status), SIGKILL);
        assert_false(vm_running(vm));
        assert_int_equal(vm_pid(vm), 0);
        vm_kill(vm); /* reaped: a no-op */
        loop_for(f->base, 50);
        assert_int_equal(f->log.exits, 1);
        vm_free(vm);
        assert_true(no_children());
}

/* vm_free on a running VM kills and reaps before it returns; on_exit is
 * not called. */
static void test_vm_free_running(void **state) {
        Fixture *f = *state;
        Vm *vm = spawn_fake(f, &fake_fd_backend, PRELUDE "greet; con up; exec sleep 30", NULL);
        LOOP_UNTIL(f->base, f->log.n_lines == 1, 5000);
        pid_t pid = vm_pid(vm);
        vm_free(vm);
        assert_true(kill(pid, 0) < 0 && errno == ESRCH);
        assert_true(no_children());
        loop_for(f->base, 100);
        assert_int_equal(f->log.exits, 0);
}

/* The VMM's stdout and stderr lines reach on_vmm_log_line; the tail (a
 * partial last line too) is in vm_diagnostics.  A VMM that never speaks
 * QMP still ends. */
static void test_stderr_lines(void **state) {
        Fixture *f = *state;
        Vm *vm = spawn_fake(f, &fake_fd_backend,
                            "echo 'to stdout'; echo 'warn: to stderr' >&2; printf 'final \\xfe complaint' >&2; exit 1",
                            NULL);
        LOOP_UNTIL(f->base, f->log.exits > 0, 5000);
        assert_int_equal(f->log.n_log, 2);
        assert_string_equal(f->log.log[0], "to stdout");
        assert_string_equal(f->log.log[1], "warn: to stderr");
        assert_int_equal(f->log.src[0], VM_LOG_STDERR);
        assert_int_equal(f->log.src[1], VM_LOG_STDERR);
        assert_string_equal(vm_diagnostics(vm), "to stdout\nwarn: to stderr\nfinal \xfe complaint");
        assert_int_equal(f->log.qmp_ready, 0);
        assert_int_equal(WEXITSTATUS(f->log.status), 1);
        assert_null(vm_log_path(vm)); /* this backend writes no log of its own */
        vm_free(vm);
        assert_true(no_children());
}

/* A VMM that cannot be exec'd: vm_spawn fails with the exec's errno and
 * leaves no fd, no child. */
static void test_spawn_failure(void **state) {
        Fixture *f = *state;
        VmmBackend missing = fake_fd_backend;
        missing.binary = "/nonexistent/virtlab-fake-vmm";
        fake_script = "exit 0";
        int fds = count_fds();
        VmSpawnOptions o = { .backend = &missing, .binary = missing.binary, .run_dir = f->dir,
                             .config = { .qmp_fd = -EBADF, .serial_fd = -EBADF } };
        Vm *vm = NULL;
        assert_int_equal(vm_spawn(f->base, &o, &log_callbacks, &f->log, &vm), -ENOENT);
        assert_null(vm);
        assert_int_equal(count_fds(), fds);
        assert_true(no_children());

        /* A console log that cannot be created fails before anything is spawned. */
        o.backend = &fake_fd_backend;
        o.binary = fake_fd_backend.binary;
        o.console_log = "/nonexistent/dir/run-0.log";
        assert_int_equal(vm_spawn(f->base, &o, &log_callbacks, &f->log, &vm), -ENOENT);
        assert_int_equal(count_fds(), fds);
        assert_true(no_children());
}

/* A VMM that exists but cannot be exec'd (not an executable format): the
 * exec's outcome arrives on the loop, the VM exits 127 and its
 * diagnostics name the binary and the error. */
static void test_exec_failure_async(void **state) {
        Fixture *f = *state;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/not-an-executable", f->dir);
        FILE *bin = fopen(path, "w");
        assert_non_null(bin);
        fputs("\x01\x02 not ELF, no #!", bin);
        fclose(bin);
        assert_int_equal(chmod(path, 0755), 0);
        VmmBackend bad = fake_fd_backend;
        bad.binary = path;
        fake_script = "exit 0";
        VmSpawnOptions o = { .backend = &bad, .binary = path, .run_dir = f->dir,
                             .config = { .qmp_fd = -EBADF, .serial_fd = -EBADF } };
        Vm *vm = NULL;
        assert_int_equal(vm_spawn(f->base, &o, &log_callbacks, &f->log, &vm), 0);
        LOOP_UNTIL(f->base, f->log.exits > 0, 5000);
        assert_int_equal(WEXITSTATUS(f->log.status), 127);
        assert_non_null(strstr(vm_diagnostics(vm), "cannot execute"));
        assert_non_null(strstr(vm_diagnostics(vm), strerror(ENOEXEC)));
        assert_true(vm_t_exec(vm) >= vm_t_spawn(vm));
        vm_free(vm);
        unlink(path);
        assert_true(no_children());
}

/* ---- path mode -------------------------------------------------------- */

/* python3 writes its console to the FIFO it is given and listens on the QMP
 * socket path, as StratoVirt does, greets on QMP, writes a console line and
 * a line to its own log file, then lingers a little. */
static const char path_script[] =
        "import socket, sys, time\n"
        "serial, qmp, log = sys.argv[1:4]\n"
        "def listen(p):\n"
        "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "    s.bind(p)\n"
        "    s.listen(1)\n"
        "    return s\n"
        "lq = listen(qmp)\n"
        "c = open(serial, 'wb', buffering=0)\n"
        "q, _ = lq.accept()\n"
        "q.sendall(b'" GREETING "\\n')\n"
        "q.makefile('rb').readline()\n"
        "q.sendall(b'{\"return\": {}, \"id\": 1}\\n')\n"
        "c.write(b'path mode console\\n')\n"
        "with open(log, 'a') as f:\n"
        "    f.write('vmm log line\\n')\n"
        "time.sleep(0.3)\n";

/* Path mode: a private directory per VM holds the QMP socket, the console
 * FIFO (and, without a console log, the VMM's own log); vm.c connects with
 * retries, reads the console, negotiates QMP, follows the log file;
 * vm_free removes it all. */
static void test_path_mode(void **state) {
        Fixture *f = *state;
        if (access(fake_path_backend.binary, X_OK) < 0)
                fail_msg("%s is needed for the path-mode fake", fake_path_backend.binary);
        Vm *vm = spawn_fake(f, &fake_path_backend, path_script, NULL);
        _cleanup_free_ char *vm_dir = strdup(vm->dir);
        assert_true(strncmp(vm_dir, f->dir, strlen(f->dir)) == 0);
        struct stat st;
        assert_int_equal(stat(vm_dir, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
        assert_non_null(vm_log_path(vm));
        assert_true(strncmp(vm_log_path(vm), vm_dir, strlen(vm_dir)) == 0);

        LOOP_UNTIL(f->base, f->log.n_lines == 1 && f->log.qmp_ready == 1 && f->log.n_log == 1, 5000);
        assert_string_equal(f->log.lines[0], "path mode console");
        assert_string_equal(f->log.log[0], "vmm log line");
        assert_int_equal(f->log.src[0], VM_LOG_FILE);
        assert_int_equal(dir_entries(vm_dir), 3); /* qmp.sock, serial.fifo, vmm.log */
        LOOP_UNTIL(f->base, f->log.exits > 0, 5000);
        assert_true(WIFEXITED(f->log.status) && WEXITSTATUS(f->log.status) == 0);
        vm_free(vm);
        assert_int_equal(access(vm_dir, F_OK), -1);
        assert_int_equal(errno, ENOENT);
        assert_int_equal(dir_entries(f->dir), 0);
        assert_true(no_children());
}

/* vm_free on a running path-mode VM: killed, reaped, directory gone. */
static void test_path_mode_free_running(void **state) {
        Fixture *f = *state;
        Vm *vm = spawn_fake(f, &fake_path_backend, "import time\ntime.sleep(30)\n", NULL);
        _cleanup_free_ char *vm_dir = strdup(vm->dir);
        pid_t pid = vm_pid(vm);
        loop_for(f->base, 50); /* let vm.c retry its connects a few times */
        assert_int_equal(access(vm_dir, F_OK), 0);
        vm_free(vm);
        assert_true(kill(pid, 0) < 0 && errno == ESRCH);
        assert_int_equal(dir_entries(f->dir), 0);
        assert_true(no_children());
}

/* A path-mode VMM that cannot be exec'd leaves no directory behind; one
 * without a run dir is refused. */
static void test_path_mode_spawn_failure(void **state) {
        Fixture *f = *state;
        VmmBackend missing = fake_path_backend;
        missing.binary = "/nonexistent/virtlab-fake-vmm";
        fake_script = "";
        VmSpawnOptions o = { .backend = &missing, .binary = missing.binary, .run_dir = f->dir,
                             .config = { .qmp_fd = -EBADF, .serial_fd = -EBADF } };
        Vm *vm = NULL;
        assert_int_equal(vm_spawn(f->base, &o, &log_callbacks, &f->log, &vm), -ENOENT);
        assert_int_equal(dir_entries(f->dir), 0);
        o.run_dir = NULL;
        assert_int_equal(vm_spawn(f->base, &o, &log_callbacks, &f->log, &vm), -EINVAL);
        assert_true(no_children());
}

/* ---- console input ---------------------------------------------------- */

typedef struct Typist {
        Fixture *f;              /* the test */
        Vm *vm;                  /* set once spawned */
        unsigned answered;       /* prompts answered */
        char partials[256];      /* every unfinished line seen, '|'-separated */
} Typist;

static void typist_partial(Vm *vm, usec_t t, const char *text, void *userdata) {
        Typist *ty = userdata;
        snprintf(ty->partials + strlen(ty->partials), sizeof(ty->partials) - strlen(ty->partials), "%s|", text);
        if (strstr(text, "login: ") && ty->answered == 0 && ++ty->answered)
                assert_int_equal(vm_console_write(vm, "root\n", 5), 0);
        else if (strstr(text, "Password: ") && ty->answered == 1 && ++ty->answered)
                assert_int_equal(vm_console_write(vm, "S3CRET\n", 7), 0);
}

static void typist_line(Vm *vm, usec_t t, const char *line, void *userdata) {
        Typist *ty = userdata;
        log_console(vm, t, line, &ty->f->log);
}

static void typist_exit(Vm *vm, int status, void *userdata) {
        Typist *ty = userdata;
        log_exit(vm, status, &ty->f->log);
}

/* A prompt (no newline) reaches the owner as an unfinished line; what the
 * owner types reaches the guest; a secret the guest echoes is starred out
 * of the delivered lines, the unfinished ones and the console log. */
static void test_console_input(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *console = path_join(f->dir, "run-0.log");
        Typist ty = { .f = f };
        fake_script = PRELUDE "greet; printf 'box login: ' >&$s; read -r u <&$s; con \"got $u\";"
                              " printf 'Password: ' >&$s; read -r p <&$s; con \"echoed $p and $p\"; printf \"$p\" >&$s;"
                              " sleep 0.2; exit 0";
        VmSpawnOptions o = {
                .backend = &fake_input_backend,
                .binary = fake_input_backend.binary,
                .config = { .kernel = "/k", .cmdline = "c", .memory_mib = 64, .vcpus = 1, .qmp_fd = -EBADF, .serial_fd = -EBADF },
                .run_dir = f->dir,
                .console_log = console,
                .console_mask = "S3CRET",
        };
        static const VmCallbacks cb = { .on_console_line = typist_line, .on_console_partial = typist_partial,
                                        .on_exit = typist_exit };
        assert_int_equal(vm_spawn(f->base, &o, &cb, &ty, &ty.vm), 0);
        LOOP_UNTIL(f->base, f->log.exits > 0, 5000);
        assert_int_equal(ty.answered, 2);
        VmLog *l = &f->log;
        assert_int_equal(l->n_lines, 3);
        assert_string_equal(l->lines[0], "box login: got root");
        assert_string_equal(l->lines[1], "Password: echoed ****** and ******");
        assert_string_equal(l->lines[2], "******");
        assert_non_null(strstr(ty.partials, "box login: |"));
        assert_null(strstr(ty.partials, "S3CRET"));
        _cleanup_free_ char *text = read_file(console);
        assert_non_null(text);
        assert_null(strstr(text, "S3CRET"));
        assert_non_null(strstr(text, "echoed ******"));
        vm_free(ty.vm);
}

/* A console that takes no input refuses typing: the capability, or a FIFO
 * (path mode), where we would only read back what we wrote. */
static void test_console_no_input(void **state) {
        Fixture *f = *state;
        Vm *vm = spawn_fake(f, &fake_fd_backend, PRELUDE "greet; sleep 5", NULL);
        assert_int_equal(vm_console_write(vm, "x", 1), -EOPNOTSUPP);
        vm_free(vm);
        VmmBackend path_input = fake_path_backend;
        path_input.caps.console_input = true;
        vm = spawn_fake(f, &path_input, "import time; time.sleep(5)", NULL);
        assert_int_equal(vm_console_write(vm, "x", 1), -EOPNOTSUPP);
        vm_free(vm);
}

int main(void) {
        test_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_console_lines, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exit_waits_for_qmp_eof, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exit_waits_for_reap, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exit_after_eof_grace, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vm_kill, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vm_free_running, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stderr_lines, setup, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exec_failure_async, setup, teardown),
                cmocka_unit_test_setup_teardown(test_path_mode, setup, teardown),
                cmocka_unit_test_setup_teardown(test_path_mode_free_running, setup, teardown),
                cmocka_unit_test_setup_teardown(test_path_mode_spawn_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_console_input, setup, teardown),
                cmocka_unit_test_setup_teardown(test_console_no_input, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
