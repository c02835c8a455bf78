// main() for the non-fuzzing build: runs LLVMFuzzerTestOneInput once over every
// regular file in the directories (or files) named on the command line, so the
// committed corpus is a regression test without libFuzzer. A crash is a crash; a
// clean pass prints how many inputs ran.

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool RunFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fprintf(stderr, "replay: cannot read %s\n", path.c_str());
    return false;
  }
  // An exactly sized heap copy, as libFuzzer passes it: reads past the end are real bugs.
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  auto* copy = new uint8_t[bytes.size() + (bytes.empty() ? 1 : 0)];
  std::copy(bytes.begin(), bytes.end(), copy);
  LLVMFuzzerTestOneInput(copy, bytes.size());
  delete[] copy;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 64;
  }
  size_t ran = 0;
  for (int i = 1; i < argc; ++i) {
    struct stat st {};
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: no such path %s\n", argv[i]);
      return 1;
    }
    std::vector<std::string> files;
    if (S_ISDIR(st.st_mode)) {
      DIR* d = opendir(argv[i]);
      if (d == nullptr) return 1;
      while (dirent* e = readdir(d)) {
        const std::string p = std::string(argv[i]) + "/" + e->d_name;
        struct stat fst {};
        if (stat(p.c_str(), &fst) == 0 && S_ISREG(fst.st_mode)) files.push_back(p);
      }
      closedir(d);
      std::sort(files.begin(), files.end());  // a stable order makes failures repeatable
    } else {
      files.push_back(argv[i]);
    }
    for (const std::string& f : files) {
      fprintf(stderr, "replay: %s\n", f.c_str());
      if (!RunFile(f)) return 1;
      ++ran;
    }
  }
  // An empty corpus means the seeds were never generated or committed.
  if (ran == 0) {
    fprintf(stderr, "replay: no inputs found\n");
    return 1;
  }
  printf("replay: %zu inputs ran cleanly\n", ran);
  return 0;
}
