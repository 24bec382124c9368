// Small GAN set-ups shared by the trainer tests: a synthetic image set and a tiny model pair that
// trains in milliseconds on the CPU.
#pragma once
#include <string>

#include "engine/data/idx.h"
#include "engine/train/train_config.h"
#include "test_util.h"

namespace gan::test {

// n images of side x side random pixels.
inline ImageSet synthetic_images(Rng& rng, uint32_t n, uint32_t side) {
  ImageSet set{n, side, side, std::vector<uint8_t>(size_t(n) * side * side)};
  for (auto& px : set.pixels) px = uint8_t(rng.uniform_int(0, 255));
  return set;
}

// G: z 4 -> 16 leaky -> batchnorm -> side^2 tanh; D: side^2 -> 16 leaky -> dropout -> 1.
inline TrainConfig tiny_config(int side, uint64_t seed) {
  TrainConfig c;
  c.preset = "tiny";
  const int pixels = side * side;
  c.generator.input = 4;
  c.generator.layers = {LayerSpec::dense(16), LayerSpec::activation(Activation::leaky_relu(0.2f)),
                        LayerSpec::batchnorm(BatchNormConfig::keras(0.8f)),
                        LayerSpec::dense(pixels), LayerSpec::activation(Activation::tanh())};
  c.discriminator.input = pixels;
  c.discriminator.layers = {LayerSpec::dense(16),
                            LayerSpec::activation(Activation::leaky_relu(0.2f)),
                            LayerSpec::dropout(0.25f), LayerSpec::dense(1)};
  c.batch = 8;
  c.steps = 20;
  c.opt_g.adam.lr = c.opt_d.adam.lr = 1e-3f;
  c.opt_g.adam.beta1 = c.opt_d.adam.beta1 = 0.5f;
  c.seed = seed;
  c.log_every = 5;
  c.sample_every = 10;
  c.checkpoint_every = 10;
  c.sample_grid = 3;
  return c;
}

}  // namespace gan::test
