/* Preloaded into tritonserver by the launcher (LD_PRELOAD), built by `triton-ocr serve --install` (server_guard.py).
 *
 * 1. The admin key never reaches /proc/PID/cmdline, which every local user can read: the launcher writes the
 *    placeholder @TRITON_OCR_ADMIN_KEY@ in Triton's arguments and the key in the environment variable
 *    TRITON_OCR_ADMIN_KEY (/proc/PID/environ is readable by its owner alone). Before main() runs, this constructor
 *    points each argument holding the placeholder at a copy with the key in its place, wipes the key's bytes from
 *    the environment block and unsets the variable (the python stubs, Triton's children, never see it). The
 *    kernel's copy of the arguments, which /proc shows, keeps the placeholder.
 * 2. Shared memory is private to its owner: the python backend creates its /dev/shm regions, which carry every
 *    request's tensors, with mode 0644 (boost sets it with fchmod, whatever the umask), so any local user could map
 *    them and read other clients' images. fchmod and shm_open drop the group and other bits here.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

static const char PLACEHOLDER[] = "@TRITON_OCR_ADMIN_KEY@";
static const char VARIABLE[] = "TRITON_OCR_ADMIN_KEY";
static const mode_t OWNER_ONLY = S_IRWXU;

/* `arg` with its first placeholder replaced by `key` (a new string; the original is left as the kernel has it). */
static char *with_key(const char *arg, const char *key) {
    const char *at = strstr(arg, PLACEHOLDER);
    size_t head = (size_t)(at - arg), tail = strlen(at + sizeof PLACEHOLDER - 1), size = strlen(key);
    char *out = malloc(head + size + tail + 1);
    if (out == NULL) abort();
    memcpy(out, arg, head);
    memcpy(out + head, key, size);
    memcpy(out + head + size, at + sizeof PLACEHOLDER - 1, tail + 1);
    return out;
}

__attribute__((constructor)) static void inject_admin_key(int argc, char **argv, char **envp) {
    (void)envp;
    char *key = getenv(VARIABLE);
    if (key == NULL) return;
    for (int i = 0; i < argc; i++)
        if (strstr(argv[i], PLACEHOLDER) != NULL) argv[i] = with_key(argv[i], key);
    memset(key, 'x', strlen(key));
    unsetenv(VARIABLE);
}

int fchmod(int fd, mode_t mode) {
    static int (*real)(int, mode_t);
    if (real == NULL) real = (int (*)(int, mode_t))dlsym(RTLD_NEXT, "fchmod");
    return real(fd, mode & (OWNER_ONLY | S_ISUID | S_ISGID | S_ISVTX));
}

int shm_open(const char *name, int oflag, mode_t mode) {
    static int (*real)(const char *, int, mode_t);
    if (real == NULL) real = (int (*)(const char *, int, mode_t))dlsym(RTLD_NEXT, "shm_open");
    return real(name, oflag, mode & OWNER_ONLY);
}
