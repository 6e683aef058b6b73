// Happens-before edges for ThreadSanitizer between ranks that are threads of
// one process (mics_comm_init_all). Each such rank maps every peer's mailbox
// itself, so one process holds a mailbox at several addresses, and TSan, which
// keys synchronisation by address, cannot pair a flag stored with release
// through one alias with its acquire load through another. It then reports
// the plain accesses those flags order that happen at one real address: a
// peer's header read by the cross-memory probe, and user buffers exposed on
// the single-copy path. These calls name the flag by its address in its
// owner's own mapping (the same key for every alias) and tell TSan about the
// edge.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define MICS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MICS_TSAN 1
#endif
#endif

#ifdef MICS_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

// MICS_TSAN_RELEASE(key): call right before the release store of the flag
// whose owner-side key is `key`; MICS_TSAN_ACQUIRE(key): right after the
// acquire load that saw the stored value. A null key (the flag's owner is
// another process) tells TSan nothing. Without TSan the key expression is not
// even evaluated: these sit on the latency path.
#ifdef MICS_TSAN
#define MICS_TSAN_RELEASE(key)                                         \
  do {                                                                 \
    if (const void* k_ = (key)) __tsan_release(const_cast<void*>(k_)); \
  } while (0)
#define MICS_TSAN_ACQUIRE(key)                                         \
  do {                                                                 \
    if (const void* k_ = (key)) __tsan_acquire(const_cast<void*>(k_)); \
  } while (0)
#else
#define MICS_TSAN_RELEASE(key) \
  do {                         \
  } while (0)
#define MICS_TSAN_ACQUIRE(key) \
  do {                         \
  } while (0)
#endif
