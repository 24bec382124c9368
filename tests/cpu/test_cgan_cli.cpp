// mnist_gan and toy_gan end to end with the conditional GAN, G's weight average and PacGAN's
// packing: what a run writes, generate --label, the export's metadata, and every bad input
// refused in one line naming the flag or file.
#include <gtest/gtest.h>

#include "engine/train/checkpoint.h"
#include "labelled_data.h"
#include "mnist_gan_cli.h"

#ifndef GAN_TOY_GAN_BIN
#error "GAN_TOY_GAN_BIN must be defined by tests/CMakeLists.txt"
#endif

using namespace gan;
using namespace gan::test;

namespace {

// A grid of `cols` x `rows` 28-pixel tiles with 1-pixel borders, drawn at scale 2.
std::pair<uint32_t, uint32_t> grid_size(uint32_t cols, uint32_t rows) {
  return {2 * (cols * 28 + cols + 1), 2 * (rows * 28 + rows + 1)};
}

nlohmann::json read_json(const std::string& path) {
  return nlohmann::json::parse(slurp(path), nullptr, false);
}

class CganCli : public MnistGanCli {};

}  // namespace

TEST_F(CganCli, ConditionalRunWithEmaDrawsAClassARowAndExportsTheAverage) {
  const std::string data = tmp / "data", run = tmp / "run";
  make_labelled_data(data, 64, 20);
  const Outcome o = train(data, run,
                          {"--conditional", "--ema", "0.9", "--ema-start", "2", "--steps", "4",
                           "--sample-grid", "3", "--checkpoint-every", "2"});
  ASSERT_EQ(o.code(), 0) << o.describe();
  EXPECT_EQ(o.err, "");
  EXPECT_NE(o.out.find("conditional on 10 classes"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("EMA, decay 0.9, from step 2"), std::string::npos) << o.out;
  // Ten rows (one per class) of three columns.
  for (const char* f : {"step_000000.png", "step_000004.png"})
    EXPECT_EQ(png_size(run + "/samples/" + f), grid_size(3, 10)) << f;
  const auto cfg = read_json(run + "/config.json").at("config");
  EXPECT_EQ(cfg.at("classes"), 10);
  EXPECT_EQ(cfg.at("ema"), 0.9f);
  EXPECT_EQ(cfg.at("generator").at("input"), 20 + 10);  // tf-mlp's z is 20
  EXPECT_EQ(cfg.at("discriminator").at("input"), 784 + 10);
  // The checkpoint keeps the average; the export documents the label input and the weights.
  const Checkpoint ck = load_checkpoint(checkpoint_path(run, 4));
  EXPECT_NE(ck.find("g_ema.params"), nullptr);
  const auto [header, bytes] = read_safetensors(run + "/generator.safetensors");
  const auto meta = header.at("__metadata__");
  EXPECT_NE(meta.at("input").get<std::string>().find("one-hot code of 10"), std::string::npos)
      << meta.dump();
  EXPECT_NE(meta.at("weights").get<std::string>().find("EMA"), std::string::npos) << meta.dump();
  EXPECT_EQ(meta.at("classes"), "10");
  EXPECT_NE(slurp(run + "/report.html").find("conditional"), std::string::npos);

  // generate: one class, or each class in turn (one of each in a row of ten).
  const std::string seven = tmp / "seven.png", all = tmp / "all.png";
  Outcome g = run_generate(checkpoint_path(run, 4), seven, {"--label", "7"});
  ASSERT_EQ(g.code(), 0) << g.describe();
  EXPECT_NE(g.out.find("class 7"), std::string::npos) << g.out;
  EXPECT_NE(g.out.find("EMA weights"), std::string::npos) << g.out;
  EXPECT_EQ(png_size(seven), grid_size(4, 4));
  g = mnist_gan({"generate", "--checkpoint", checkpoint_path(run, 4), "--n", "20", "--out", all,
                 "--device", "cpu"});
  ASSERT_EQ(g.code(), 0) << g.describe();
  EXPECT_EQ(png_size(all), grid_size(10, 2));

  // export: the same metadata.
  const std::string exported = tmp / "g.safetensors";
  g = mnist_gan({"export", "--checkpoint", checkpoint_path(run, 4), "--out", exported});
  ASSERT_EQ(g.code(), 0) << g.describe();
  EXPECT_EQ(read_safetensors(exported).first.at("__metadata__").at("input"), meta.at("input"));
  // --raw-weights: G's trained weights instead of the average, said so.
  const std::string raw = tmp / "raw.safetensors";
  g = mnist_gan({"export", "--checkpoint", checkpoint_path(run, 4), "--out", raw, "--raw-weights"});
  ASSERT_EQ(g.code(), 0) << g.describe();
  EXPECT_NE(g.out.find("raw weights"), std::string::npos) << g.out;
  const auto [raw_header, raw_bytes] = read_safetensors(raw);
  EXPECT_EQ(raw_header.at("__metadata__").at("weights"), "G's trained weights");
  EXPECT_NE(raw_bytes, read_safetensors(exported).second) << "the average differs from G";
  g = run_generate(checkpoint_path(run, 4), seven, {"--label", "7", "--raw-weights"});
  ASSERT_EQ(g.code(), 0) << g.describe();
  EXPECT_NE(g.out.find("raw weights (not the EMA)"), std::string::npos) << g.out;

  // Bad labels for generate.
  EXPECT_TRUE(is_error(run_generate(checkpoint_path(run, 4), seven, {"--label", "10"}),
                       {"--label", "10", "0 to 9"}));
  EXPECT_TRUE(
      is_parse_error(run_generate(checkpoint_path(run, 4), seven, {"--label", "-1"}), {"--label"}));

  // A resumed run keeps its settings: --conditional, --ema and --pack are not accepted beside it.
  for (const std::vector<std::string> flag :
       {std::vector<std::string>{"--conditional"}, {"--ema", "0.5"}, {"--pack", "2"}}) {
    std::vector<std::string> args{"train", "--resume", run, "--device", "cpu"};
    args.insert(args.end(), flag.begin(), flag.end());
    EXPECT_TRUE(is_error(mnist_gan(args), {"--resume"})) << flag[0];
  }
  const Outcome r = mnist_gan({"train", "--resume", run, "--steps", "6", "--device", "cpu"});
  ASSERT_EQ(r.code(), 0) << r.describe();
  EXPECT_EQ(png_size(run + "/samples/step_000006.png"), grid_size(3, 10));
}

TEST_F(CganCli, GenerateLabelNeedsAConditionalGenerator) {
  const std::string data = tmp / "data", run = tmp / "run";
  make_data(data, true);
  ASSERT_EQ(train(data, run, {"--steps", "2"}).code(), 0);
  EXPECT_TRUE(is_error(run_generate(checkpoint_path(run, 2), tmp / "x.png", {"--label", "3"}),
                       {"--label", "unconditional"}));
}

TEST_F(CganCli, BadLabelsAndFlagsAreRefusedInOneLine) {
  const std::string unlabelled = tmp / "unlabelled", labelled = tmp / "labelled";
  make_data(unlabelled, true);
  make_labelled_data(labelled, 64, 20);
  // No labels file beside the images.
  EXPECT_TRUE(
      is_error(train(unlabelled, tmp / "a", {"--conditional"}), {"--conditional", "train-labels"}));
  EXPECT_FALSE(fs::exists(tmp / "a/config.json"));
  // Labels of another length than the images, and a label that is no class.
  const std::string wrong = tmp / "wrong";
  fs::create_directories(wrong);
  fs::copy_file(labelled + "/train-images-idx3-ubyte.gz", wrong + "/train-images-idx3-ubyte.gz");
  write_idx_labels(wrong + "/train-labels-idx1-ubyte.gz", std::vector<uint8_t>(63, 1), true);
  EXPECT_TRUE(is_error(train(wrong, tmp / "b", {"--conditional"}),
                       {"train-labels-idx1-ubyte.gz", "63 labels", "64 images"}));
  std::vector<uint8_t> labels(64, 3);
  labels[17] = 12;
  write_idx_labels(wrong + "/train-labels-idx1-ubyte.gz", labels, true);
  EXPECT_TRUE(is_error(train(wrong, tmp / "c", {"--conditional"}),
                       {"train-labels-idx1-ubyte.gz", "label 12", "image 17"}));
  // Flags out of range.
  EXPECT_TRUE(is_error(train(labelled, tmp / "d", {"--pack", "3"}), {"--pack", "not a multiple"}));
  EXPECT_TRUE(is_parse_error(train(labelled, tmp / "e", {"--pack", "0"}), {"--pack"}));
  for (const char* ema : {"0", "1", "1.5", "-0.1"})
    EXPECT_TRUE(is_error(train(labelled, tmp / "f", {"--ema", ema}), {"--ema"})) << ema;
  EXPECT_TRUE(is_parse_error(train(labelled, tmp / "f", {"--ema", "nan"}), {"--ema"}));
  EXPECT_TRUE(
      is_error(train(labelled, tmp / "g", {"--ema-start", "5"}), {"--ema-start", "needs --ema"}));
  EXPECT_TRUE(is_error(train(labelled, tmp / "h", {"--preset", "cgan", "--conditional"}),
                       {"--conditional", "already"}));
  for (const char* d : {"a", "b", "c", "d", "f", "g", "h"}) EXPECT_FALSE(fs::exists(tmp / d)) << d;
}

TEST_F(CganCli, PackedDiscriminatorsTrain) {
  const std::string data = tmp / "data";
  make_labelled_data(data, 64, 20);
  // An MLP D packs rows; the cgan preset conditions, then packs.
  ASSERT_EQ(train(data, tmp / "mlp", {"--pack", "4", "--steps", "2"}).code(), 0);
  const auto d = read_json(tmp / "mlp/config.json").at("config").at("discriminator");
  EXPECT_TRUE(has_layer(d, "pack")) << d.dump();
  const Outcome c = train(data, tmp / "cgan", {"--preset", "cgan", "--pack", "2", "--steps", "2"});
  ASSERT_EQ(c.code(), 0) << c.describe();
  EXPECT_EQ(read_json(tmp / "cgan/config.json").at("config").at("discriminator").at("input"), 794);
}

class ToyPackCli : public CliTest {
 protected:
  ToyPackCli() : CliTest("toy_gan", GAN_TOY_GAN_BIN) {}
};

TEST_F(ToyPackCli, PackFlagReachesTheRingsDiscriminator) {
  const std::string run = tmp / "ring";
  const Outcome o = invoke({"train", "--experiment", "ring", "--out", run, "--device", "cpu",
                            "--steps", "2", "--batch", "8", "--pack", "4", "--log-every", "1"});
  ASSERT_EQ(o.code(), 0) << o.describe();
  const auto d = read_json(run + "/config.json").at("config").at("discriminator");
  ASSERT_TRUE(d.at("layers").is_array());
  EXPECT_TRUE(has_layer(d, "pack")) << d.dump();
  const Outcome bad = invoke({"train", "--experiment", "ring", "--out", tmp / "bad", "--device",
                              "cpu", "--steps", "2", "--batch", "8", "--pack", "3"});
  EXPECT_TRUE(is_error(bad, {"--pack", "not a multiple"}));
  // toy_gan has no labels to condition on.
  EXPECT_TRUE(
      is_parse_error(invoke({"train", "--experiment", "ring", "--out", tmp / "c", "--conditional"}),
                     {"--conditional"}));
}
