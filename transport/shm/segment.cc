#include "transport/shm/segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

namespace mics::transport::shm {

Result create_segment(const std::string& name, size_t size, Mapping* out) {
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    return MICS_ERROR(MICS_SYSTEM_ERROR, "shm_open(%s) failed: %s", name.c_str(), strerror(errno));
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int err = errno;
    close(fd);
    shm_unlink(name.c_str());
    return MICS_ERROR(MICS_SYSTEM_ERROR, "ftruncate(%s, %zu) failed: %s", name.c_str(), size,
                      strerror(err));
  }
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (base == MAP_FAILED) {
    shm_unlink(name.c_str());
    return MICS_ERROR(MICS_SYSTEM_ERROR, "mmap(%s, %zu) failed: %s", name.c_str(), size,
                      strerror(err));
  }
  *out = {base, size};
  return MICS_SUCCESS;
}

Result open_segment(const std::string& name, size_t min_size, Deadline deadline, Mapping* out) {
  for (;;) {
    int fd = shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) {
      struct stat st {};
      if (fstat(fd, &st) == 0 && static_cast<size_t>(st.st_size) >= min_size) {
        size_t size = static_cast<size_t>(st.st_size);
        void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        int err = errno;
        close(fd);
        if (base == MAP_FAILED)
          return MICS_ERROR(MICS_SYSTEM_ERROR, "mmap(%s) failed: %s", name.c_str(), strerror(err));
        *out = {base, size};
        return MICS_SUCCESS;
      }
      close(fd);  // created but not sized yet: the owner is between shm_open and ftruncate
    } else if (errno != ENOENT) {
      return MICS_ERROR(MICS_SYSTEM_ERROR, "shm_open(%s) failed: %s", name.c_str(),
                        strerror(errno));
    }
    if (deadline.expired())
      return MICS_ERROR(MICS_TIMEOUT, "shared-memory segment %s did not appear in time",
                        name.c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void unmap_segment(Mapping* m) {
  if (m->base) munmap(m->base, m->size);
  *m = {};
}

void unlink_segment(const std::string& name) { shm_unlink(name.c_str()); }

}  // namespace mics::transport::shm
