// SoftHSM2 reports errors with syslog(), and glibc's syslog opens a socket to
// /dev/log, which the sandbox kills us for (a tampered record makes SoftHSM log a
// GCM failure). The enclave executable exports these symbols (see the link options
// in enclave/CMakeLists.txt) so the dlopen()ed module binds to them instead: the
// message goes to stderr, which the broker captures. Messages name operations, never
// key material.

#include <stdarg.h>
#include <stdio.h>

extern "C" {

__attribute__((visibility("default"))) void vsyslog(int priority, const char* format, va_list ap) {
  fprintf(stderr, "keycell-enclave: token[%d]: ", priority & 7);
  vfprintf(stderr, format, ap);
  fputc('\n', stderr);
}

__attribute__((visibility("default"))) void syslog(int priority, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  vsyslog(priority, format, ap);
  va_end(ap);
}

__attribute__((visibility("default"))) void __syslog_chk(int priority, int, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  vsyslog(priority, format, ap);
  va_end(ap);
}

__attribute__((visibility("default"))) void __vsyslog_chk(int priority, int, const char* format, va_list ap) {
  vsyslog(priority, format, ap);
}

__attribute__((visibility("default"))) void openlog(const char*, int, int) {}
__attribute__((visibility("default"))) void closelog(void) {}

}  // extern "C"
