/* A Raspberry Pi 4 for an aarch64 program under qemu-user, whose CPU models all have the ARMv8
 * crypto extensions: preloaded into the guest (qemu-aarch64 -E LD_PRELOAD=...), it hides AES,
 * PMULL, SHA1 and SHA2 from getauxval(AT_HWCAP), where ring, aws-lc and Rust's feature detection
 * read them, so every crypto library takes its NEON-only paths as on a Cortex-A72 without them.
 * Build: aarch64-linux-gnu-gcc -O2 -shared -fPIC -o no-crypto-ext.so no-crypto-ext.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/auxv.h>

#define HIDDEN ((1UL << 3) | (1UL << 4) | (1UL << 5) | (1UL << 6)) /* AES PMULL SHA1 SHA2 */

unsigned long getauxval(unsigned long type) {
    static unsigned long (*real)(unsigned long);
    if (!real) real = (unsigned long (*)(unsigned long))dlsym(RTLD_NEXT, "getauxval");
    unsigned long v = real(type);
    return type == AT_HWCAP ? v & ~HIDDEN : v;
}
