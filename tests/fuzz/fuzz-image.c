/* fuzz-image.c — fuzz target for image.json reading (image.c).  A caller's
 * spec may name any directory as its image, so image.json is untrusted
 * text.  Each input is read twice: written as DIR/image.json and loaded
 * with image_load() (the daemon's path: file, parse, checks), and parsed
 * from the buffer and checked with image_from_json().  Checked: both agree
 * (result and sentence); a refusal is -EBADMSG with a UTF-8 sentence naming
 * the file; an accepted image has its required fields, a guest kind, a
 * kernel, phases within the known ones, a job list or none, and answers the
 * plan's questions (kernel per backend, jobs, phases) consistently. */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "backends/registry.h"
#include "fuzz.h"
#include "image.h"

static char dir[256];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void dir_remove(void) {
        (void) nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Every input is written to a file: in memory (/dev/shm) that is ten times faster than on disk. */
static void dir_make(void) {
        const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/virtlab-fuzz-image-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        fuzz_assert(mkdtemp(dir));
        atexit(dir_remove);
}

static void write_image_json(const uint8_t *data, size_t size) {
        char path[512];
        snprintf(path, sizeof(path), "%s/image.json", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        fuzz_assert(fd >= 0);
        fuzz_assert(size == 0 || write(fd, data, size) == (ssize_t) size);
        close(fd);
}

static void check_refusal(int r, const char *error) {
        fuzz_assert(r == -EBADMSG);
        fuzz_assert(error && strstr(error, dir) && strstr(error, "image.json"));
        if (!fuzz_is_utf8(error))
                fprintf(stderr, "fuzz: refusal is not UTF-8: %s\n", error);
        fuzz_assert(fuzz_is_utf8(error));
}

static void check_image(const Image *img) {
        fuzz_assert(img->name && img->name[0] && img->marker && img->marker[0]);
        fuzz_assert(img->cmdline_base && img->cmdline_base[0] && img->guest && img->guest[0]);
        fuzz_assert(streq(img->dir, dir) && json_is_object(img->doc));
        fuzz_assert((img->phases & ~((1U << _IMAGE_PHASE_MAX) - 1)) == 0);
        fuzz_assert(!img->jobs || json_is_array(img->jobs));
        bool any = false;
        for (int f = 0; f < _KERNEL_FORMAT_MAX; f++)
                any = any || (img->kernels[f] && img->kernels[f][0]);
        fuzz_assert(any);
        for (const VmmBackend *const *b = vmm_backends(); *b; b++) {
                KernelFormat fmt = _KERNEL_FORMAT_INVALID;
                const char *k = image_kernel_for(img, *b, &fmt);
                fuzz_assert(!k || (fmt >= 0 && fmt < _KERNEL_FORMAT_MAX && k == img->kernels[fmt]));
        }
        for (int p = -1; p <= _IMAGE_PHASE_MAX; p++)
                fuzz_assert(image_has_phase(img, (ImagePhase) p) == (p >= 0 && p < _IMAGE_PHASE_MAX && (img->phases & (1U << p))));
        /* Without a list it runs every job; a job "x:args" is the job "x". */
        fuzz_assert(img->jobs || image_runs_job(img, "run:/bin/edu-test"));
        fuzz_assert(image_runs_job(img, "boot") == image_runs_job(img, "boot:ignored"));
}

int fuzz_one(const uint8_t *data, size_t size) {
        if (!dir[0])
                dir_make();
        write_image_json(data, size);
        _cleanup_(image_freep) Image *loaded = NULL;
        _cleanup_free_ char *load_error = NULL;
        int r = image_load(dir, &loaded, &load_error);

        json_error_t e;
        json_auto_t *doc = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, &e);
        if (!doc) {
                /* The file does not parse either: image_load() said why. */
                check_refusal(r, load_error);
                fuzz_assert(strstr(load_error, "does not parse"));
                return 0;
        }
        _cleanup_(image_freep) Image *img = NULL;
        _cleanup_free_ char *error = NULL;
        int k = image_from_json(doc, dir, &img, &error);
        fuzz_assert(k == r);
        if (k < 0) {
                check_refusal(k, error);
                fuzz_assert(streq(error, load_error));
                return 0;
        }
        fuzz_assert(!error && json_equal(img->doc, loaded->doc));
        check_image(img);
        check_image(loaded);
        return 0;
}
