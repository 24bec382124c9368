// mnist_gan's end-to-end test fixture: tiny MNIST-format data sets (random pixels, written as IDX
// files) and the binary run with the cheapest settings.
#pragma once
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>

#include "cli_harness.h"
#include "engine/data/idx.h"

#ifndef GAN_MNIST_GAN_BIN
#error "GAN_MNIST_GAN_BIN (path of the mnist_gan binary) must be defined by tests/CMakeLists.txt"
#endif

namespace gan::test {

// `count` images of rows x cols random pixels, the same for the same seed (the tests compare runs).
inline ImageSet random_images(uint32_t count, uint32_t rows, uint32_t cols, uint32_t seed = 12345) {
  ImageSet set;
  set.count = count;
  set.rows = rows;
  set.cols = cols;
  set.pixels.resize(size_t(count) * rows * cols);
  std::mt19937 gen(seed);
  for (auto& p : set.pixels) p = uint8_t(gen() & 0xff);
  return set;
}

// An MNIST-format directory holding train-images-idx3-ubyte[.gz]; returns the image file.
inline std::string make_data(const std::string& dir, bool gzip, uint32_t rows = 28,
                             uint32_t cols = 28) {
  std::filesystem::create_directories(dir);
  const std::string file =
      dir + (gzip ? "/train-images-idx3-ubyte.gz" : "/train-images-idx3-ubyte");
  write_idx_images(file, random_images(64, rows, cols), gzip);
  return file;
}

// The test's fixture: a scratch dir with a logs/ folder for the children's output.
class MnistGanCli : public CliTest {
 protected:
  MnistGanCli() : CliTest("mnist_gan", GAN_MNIST_GAN_BIN) {}

  Outcome mnist_gan(const std::vector<std::string>& args, const std::string& cwd = "") {
    return invoke(args, cwd);
  }

  // train with the cheapest settings; a flag in `extra` replaces its default.
  Outcome train(const std::string& data, const std::string& out,
                const std::vector<std::string>& extra = {}, const std::string& cwd = "") {
    return mnist_gan(with_defaults({"train", "--data", data, "--out", out},
                                   {{"--preset", "tf-mlp"},
                                    {"--batch", "8"},
                                    {"--device", "cpu"},
                                    {"--log-every", "2"},
                                    {"--sample-every", "2"}},
                                   extra),
                     cwd);
  }

  // generate 16 samples on the CPU, plus `extra`.
  Outcome run_generate(const std::string& ckpt, const std::string& out,
                       const std::vector<std::string>& extra) {
    std::vector<std::string> a{"generate", "--checkpoint", ckpt, "--n", "16", "--out",
                               out,        "--device",     "cpu"};
    a.insert(a.end(), extra.begin(), extra.end());
    return mnist_gan(a);
  }
};

}  // namespace gan::test
