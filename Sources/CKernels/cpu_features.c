// Run-time CPU feature detection.
//   x86-64: cpuid for the instruction sets, xgetbv for the OS actually saving the YMM (and ZMM)
//           state: a CPU with AVX2 under an OS that does not enable YMM must not run AVX2 code.
//   AArch64 Linux: getauxval(AT_HWCAP / AT_HWCAP2). AArch64 Apple: sysctl hw.optional.arm.FEAT_*.
#include "ck_internal.h"

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#elif defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

#if defined(__x86_64__)
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static unsigned detect(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    const int fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1, f16c = (ecx >> 29) & 1;
    if (!osxsave || !avx) return 0;
    const uint64_t xcr0 = read_xcr0();
    const int ymm_os = (xcr0 & 0x6) == 0x6;            // XMM + YMM state
    const int zmm_os = (xcr0 & 0xE6) == 0xE6;          // + opmask, ZMM_Hi256, Hi16_ZMM
    if (!ymm_os) return 0;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    unsigned ebx7 = 0, ecx7 = 0;
    if (max_leaf >= 7) {
        unsigned a7, d7;
        __cpuid_count(7, 0, a7, ebx7, ecx7, d7);
        (void)a7;
        (void)d7;
    }
    unsigned f = 0;
    const int avx2 = (ebx7 >> 5) & 1;
    if (avx2 && fma && f16c) f |= CK_CPU_AVX2;
    const int avx512f = (ebx7 >> 16) & 1, avx512bw = (ebx7 >> 30) & 1, avx512vl = (ebx7 >> 31) & 1;
    if (zmm_os && avx512f && avx512bw && avx512vl && (f & CK_CPU_AVX2)) {
        f |= CK_CPU_AVX512;
        if ((ecx7 >> 11) & 1) f |= CK_CPU_AVX512VNNI;
    }
    return f;
}
#elif defined(__aarch64__) && defined(__linux__)
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1UL << 13)
#endif
static unsigned detect(void) {
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    unsigned f = CK_CPU_NEON;   // Advanced SIMD is mandatory in AArch64 Linux ABIs
    (void)HWCAP_ASIMD;
    if (hw & HWCAP_ASIMDDP) f |= CK_CPU_DOTPROD;
    if (hw2 & HWCAP2_I8MM) f |= CK_CPU_I8MM;
    return f;
}
#elif defined(__aarch64__) && defined(__APPLE__)
static int sysctl_flag(const char *name) {
    int v = 0;
    size_t len = sizeof(v);
    if (sysctlbyname(name, &v, &len, NULL, 0) != 0) return 0;
    return v != 0;
}
static unsigned detect(void) {
    unsigned f = CK_CPU_NEON;
    if (sysctl_flag("hw.optional.arm.FEAT_DotProd")) f |= CK_CPU_DOTPROD;
    if (sysctl_flag("hw.optional.arm.FEAT_I8MM")) f |= CK_CPU_I8MM;
    return f;
}
#elif defined(__aarch64__)
static unsigned detect(void) { return CK_CPU_NEON; }
#else
static unsigned detect(void) { return 0; }
#endif

unsigned ck_cpu_features(void) {
    // Bit 31 marks "detected". Detection is idempotent, so a racing first call at worst runs twice.
    static unsigned cached = 0;
    unsigned v = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
    if (!(v & 0x80000000u)) {
        v = detect() | 0x80000000u;
        __atomic_store_n(&cached, v, __ATOMIC_RELEASE);
    }
    return v & 0x7FFFFFFFu;
}
