// Convolution geometries shared by the CUDA plan test (CPU) and the GPU parity test: batch 1, 3
// and 64, channels 1 / 3 / 7, kernels 1, 3, 4, 5 and non-square, strides 1 to 3, asymmetric and
// oversized padding, outputs wider than the input reaches (positions with no taps), DCGAN's five
// layers, and a batch that spans several chunks with a partial last one.
#pragma once
#include <string>
#include <vector>

#include "kernels/conv.h"

namespace gan::test {

struct ConvCase {
  std::string name;
  ConvShape s;
};

// In ConvShape's member order, spelled out so each case reads as one line.
inline ConvShape conv_shape(int B, int IN, int H, int W, int OUT, int OH, int OW, int KH, int KW,
                            int SH, int SW, int PH, int PW) {
  return ConvShape{B, IN, H, W, OUT, OH, OW, KH, KW, SH, SW, PH, PW};
}

inline std::string conv_label(const ConvCase& c) {
  const ConvShape& s = c.s;
  return c.name + " [B=" + std::to_string(s.B) + " " + std::to_string(s.IN) + "x" +
         std::to_string(s.H) + "x" + std::to_string(s.W) + " -> " + std::to_string(s.OUT) + "x" +
         std::to_string(s.OH) + "x" + std::to_string(s.OW) + " k" + std::to_string(s.KH) + "x" +
         std::to_string(s.KW) + " s" + std::to_string(s.SH) + "x" + std::to_string(s.SW) + " p" +
         std::to_string(s.PH) + "," + std::to_string(s.PW) + "]";
}

//                                     B  IN   H   W OUT  OH  OW KH KW SH SW PH PW
inline std::vector<ConvCase> conv2d_small_cases() {
  return {
      {"1x1", conv_shape(1, 1, 5, 5, 1, 5, 5, 1, 1, 1, 1, 0, 0)},
      {"k3 s1 same", conv_shape(3, 3, 9, 7, 7, 9, 7, 3, 3, 1, 1, 1, 1)},
      {"k4 s2 asymmetric", conv_shape(3, 7, 10, 9, 3, 5, 5, 4, 4, 2, 2, 1, 2)},
      {"k5 s2 TF same", conv_shape(1, 3, 11, 13, 7, 6, 7, 5, 5, 2, 2, 2, 2)},
      {"k5 valid to 2x2", conv_shape(3, 7, 6, 6, 1, 2, 2, 5, 5, 1, 1, 0, 0)},
      {"k3x5 s2x1", conv_shape(2, 3, 8, 9, 5, 4, 9, 3, 5, 2, 1, 1, 2)},
      {"k2 s3 skips pixels", conv_shape(3, 2, 10, 9, 4, 4, 3, 2, 2, 3, 3, 1, 0)},
      {"top padding > kernel", conv_shape(1, 1, 4, 4, 2, 4, 2, 3, 3, 1, 1, 3, 0)},
      {"output past the input", conv_shape(2, 3, 5, 5, 2, 7, 4, 3, 3, 1, 1, 1, 1)},
  };
}

inline std::vector<ConvCase> conv_transpose2d_small_cases() {
  return {
      {"1x1", conv_shape(1, 1, 5, 5, 1, 5, 5, 1, 1, 1, 1, 0, 0)},
      {"k3 s2 torch p1 op1", conv_shape(3, 3, 4, 5, 7, 8, 10, 3, 3, 2, 2, 1, 1)},
      {"k4 s2 asymmetric", conv_shape(3, 7, 5, 4, 3, 10, 7, 4, 4, 2, 2, 1, 2)},
      {"k5 s1 non-square", conv_shape(1, 3, 3, 3, 7, 7, 4, 5, 5, 1, 1, 0, 3)},
      {"k3x5 s2x1", conv_shape(2, 3, 4, 9, 5, 8, 9, 3, 5, 2, 1, 1, 2)},
      {"k2 s3 leaves gaps", conv_shape(3, 2, 3, 4, 4, 9, 10, 2, 2, 3, 3, 0, 1)},
      {"top padding > kernel", conv_shape(1, 2, 4, 4, 3, 3, 4, 3, 3, 1, 1, 3, 0)},
      {"to 1 channel", conv_shape(3, 7, 4, 4, 1, 8, 8, 4, 4, 2, 2, 1, 1)},
  };
}

// DCGAN's discriminator (TF 'same': the odd padding pixel at the bottom / right).
inline std::vector<ConvCase> conv2d_dcgan_cases(int B) {
  return {
      {"D conv1", conv_shape(B, 1, 28, 28, 64, 14, 14, 5, 5, 2, 2, 1, 1)},
      {"D conv2", conv_shape(B, 64, 14, 14, 128, 7, 7, 5, 5, 2, 2, 1, 1)},
  };
}

// DCGAN's generator.
inline std::vector<ConvCase> conv_transpose2d_dcgan_cases(int B) {
  return {
      {"G convT1", conv_shape(B, 256, 7, 7, 128, 7, 7, 5, 5, 1, 1, 2, 2)},
      {"G convT2", conv_shape(B, 128, 7, 7, 64, 14, 14, 5, 5, 2, 2, 1, 1)},
      {"G convT3", conv_shape(B, 64, 14, 14, 1, 28, 28, 5, 5, 2, 2, 1, 1)},
  };
}

// One image needs (16 * 25 + 8) * 64 * 128 = 3.3M floats of scratch, so a chunk holds two of the
// five images (conv_plan.h's 2^23-float budget): chunks of 2, 2 and 1.
inline ConvCase conv2d_chunked_case() {
  return {"chunked 2+2+1", conv_shape(5, 16, 64, 128, 8, 64, 128, 5, 5, 1, 1, 2, 2)};
}
inline ConvCase conv_transpose2d_chunked_case() {
  return {"chunked 2+2+1", conv_shape(5, 8, 64, 128, 16, 64, 128, 5, 5, 1, 1, 2, 2)};
}

}  // namespace gan::test
