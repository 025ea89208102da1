// How experts specialise (ST-MoE, Zoph et al. 2022, §7 and Tables 13–15): encoder experts specialise
// in token types or shallow concepts (one takes punctuation, another proper nouns, another numbers),
// while decoder experts show much less specialisation. This example pre-trains two MoE models of the
// same width, depth and experts (Switch top-1 in every layer, with the balance loss and the z-loss)
// on the same DATA.md corpus with the same SentencePiece tokenizer: an MoE BERT with masked-LM and an
// MoE GPT with next-token LM. It then routes the same held-out sequences through both (evaluation
// mode, no capacity limit, so every token is counted) and counts per expert the classes of the tokens
// it received (data/token_classes.h). Specialisation is I(expert; class) in bits and purity
// (moe/expert_specialisation.h), against a shuffled-routing baseline that keeps every expert's load.
// Claims, over seeds with paired 95% intervals (train/stats.h): encoder MI > decoder MI, and each
// model's MI > its shuffled baseline.
//
//   build/examples/expert_specialisation [--quick] [--seeds 3] [--steps 2000] [--experts 8]
// The default run takes 25 min wall, 13 min CPU (1 thread); --quick, seconds.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>

#include "data/token_classes.h"
#include "examples/bert_pipeline.h"
#include "moe/config_json.h"
#include "moe/expert_specialisation.h"
#include "train/plot.h"
#include "train/run_dir.h"
#include "train/seed_band.h"
#include "train/stats.h"

using namespace moegrad;
namespace bp = moegrad::examples::bert;
using json = nlohmann::ordered_json;

namespace {

struct Sizes {
  std::int64_t experts = 8, dim = 64, layers = 2, steps = 2000, batch = 16, seeds = 3, held_out = 512;
  std::int64_t vocab = 1000, max_len = 64;  // tcd's vocabulary (its tokenizer is cached once trained)
  double lr = 1e-3, capacity_factor = 1.25, balance_alpha = 1e-2;
};

// The two models share everything but the architecture: Switch top-1 in every FFN, dropout off.
moe::MoETransformerConfig model_config(const std::string& architecture, const bp::MlmCorpus& corpus, const Sizes& sizes) {
  moe::MoETransformerConfig config;
  config.architecture = architecture;
  config.bert = bp::small_bert(corpus, sizes.dim, sizes.layers);
  config.bert.dropout = 0.0;
  config.gpt.vocab_size = corpus.vocab_size();
  config.gpt.max_positions = corpus.max_len;
  config.gpt.dim = sizes.dim;
  config.gpt.heads = config.bert.heads;
  config.gpt.layers = sizes.layers;
  config.gpt.ffn_hidden = config.bert.ffn_hidden;
  config.gpt.dropout = 0.0;
  config.every = 1;
  config.first_moe_layer = 0;
  config.moe.dim = sizes.dim;
  config.moe.expert_hidden = 4 * sizes.dim;      // each expert as wide as the dense FFN
  config.moe.capacity_factor_train = sizes.capacity_factor;  // ST-MoE trains at 1.25
  config.moe.capacity_factor_eval = 0.0;         // dropless when routing the held-out text: count every token
  moe::SwitchRouterConfig router;
  router.dim = sizes.dim;
  router.experts = sizes.experts;
  router.balance_alpha = sizes.balance_alpha;    // ST-MoE's c_B = 1e-2
  config.router = router;
  return config;
}

// ---- the decoder's data: the training split as one stream, windows of T+1 tokens ----
std::vector<std::int64_t> as_stream(const std::vector<std::vector<std::int64_t>>& sequences) {
  std::vector<std::int64_t> stream;
  for (const auto& sequence : sequences) stream.insert(stream.end(), sequence.begin(), sequence.end());
  return stream;
}

// B windows at random starts: inputs ids[s, s+T), targets ids[s+1, s+T+1).
std::pair<Tensor, Tensor> stream_windows(const std::vector<std::int64_t>& stream, std::int64_t batch, std::int64_t tokens,
                                         Generator& generator) {
  std::vector<std::int64_t> inputs, targets;
  for (std::int64_t b = 0; b < batch; ++b) {
    std::int64_t start = data::random_index(generator, static_cast<std::int64_t>(stream.size()) - tokens - 1);
    inputs.insert(inputs.end(), stream.begin() + start, stream.begin() + start + tokens);
    targets.insert(targets.end(), stream.begin() + start + 1, stream.begin() + start + tokens + 1);
  }
  return {from_vector(inputs, {batch, tokens}), from_vector(targets, {batch, tokens})};
}

// Next-token pre-training with the encoder's optimiser and schedule (bp::pretrain_mlm): AdamW,
// linear warm-up over 6% of the steps and linear decay, gradient clip 1, + the MoE aux losses.
bp::PretrainCurve pretrain_decoder(nn::GptModel& model, const bp::MlmCorpus& corpus, const bp::PretrainOptions& options,
                                   Generator& generator) {
  std::vector<std::int64_t> train_stream = as_stream(corpus.train), held_out_stream = as_stream(corpus.validation);
  nn::AdamWOptions adamw;
  adamw.lr = options.lr;
  adamw.weight_decay = options.weight_decay;
  nn::AdamW optimizer(model.parameters(), adamw);
  auto warmup = static_cast<std::int64_t>(options.warmup_share * static_cast<double>(options.steps));
  nn::Scheduler scheduler(optimizer, nn::warmup_linear_decay(warmup, options.steps, 0.0));
  std::int64_t vocab = model.config.vocab_size, tokens = model.config.max_positions;
  auto loss_on = [&](const Tensor& x, const Tensor& y, nn::Taps* record) {
    return cross_entropy(reshape(model.forward(x, record), {-1, vocab}), reshape(y, {-1}));
  };
  auto held_out_loss = [&] {  // the same windows at every call
    NoGradGuard no_grad;
    model.eval();
    Generator fixed(4321);
    double total = 0.0;
    for (std::int64_t i = 0; i < options.eval_batches; ++i) {
      auto [x, y] = stream_windows(held_out_stream, options.batch, tokens, fixed);
      total += loss_on(x, y, nullptr).item();
    }
    model.train();
    return total / static_cast<double>(options.eval_batches);
  };

  bp::PretrainCurve curve;
  train::ProgressOptions progress;
  progress.item_unit = "seq";
  train::ProgressBar bar(options.steps, fmt::format("{:<14}", options.name), progress);
  model.train();
  for (std::int64_t step = 1; step <= options.steps; ++step) {
    auto [x, y] = stream_windows(train_stream, options.batch, tokens, generator);
    nn::Taps record = nn::Taps::reports_only();
    Tensor loss = loss_on(x, y, &record);
    double value = loss.item();
    loss = loss + moe::total_aux_loss(record) * options.aux_weight;
    optimizer.zero_grad();
    loss.backward();
    nn::clip_grad_norm(model.parameters(), options.clip);
    optimizer.step();
    scheduler.step();
    curve.steps.push_back(static_cast<double>(step));
    curve.train_loss.push_back(value);
    bar.add_items(options.batch);
    bar.update(step, {{"lm", value}});
    if (options.metrics) options.metrics->write({{"run", options.name}, {"step", step}, {"split", "train"}, {"lm", value}});
    if (step % options.eval_every == 0 || step == options.steps) {
      curve.eval_steps.push_back(static_cast<double>(step));
      curve.eval_loss.push_back(held_out_loss());
      if (options.metrics) {
        options.metrics->write({{"run", options.name}, {"step", step}, {"split", "validation"}, {"lm", curve.eval_loss.back()}});
      }
    }
  }
  bar.finish();
  return curve;
}

// ---- routing the held-out text ----
// Per MoE layer, the expert of every real token of `sequences` (slot 0: the top-1 choice), and the
// token classes in the same order. `forward` gets (ids, attention mask) of one padded batch.
struct HeldOutRouting {
  std::vector<std::vector<std::int64_t>> expert_of_token;  // [layer][token]
  std::vector<std::int64_t> class_of_token;
};

HeldOutRouting route_held_out(const std::function<void(const Tensor&, const Tensor&, nn::Taps*)>& forward,
                              const std::vector<std::vector<std::int64_t>>& sequences, const data::Tokenizer& tokenizer,
                              std::int64_t batch) {
  NoGradGuard no_grad;
  HeldOutRouting out;
  for (const auto& indices : data::sequential_batches(static_cast<std::int64_t>(sequences.size()), batch)) {
    std::vector<std::vector<std::int64_t>> chosen;
    for (std::int64_t i : indices) chosen.push_back(sequences[static_cast<std::size_t>(i)]);
    data::PaddedBatch padded = data::pad_batch(chosen);
    nn::Taps record = nn::Taps::reports_only();
    forward(padded.input_ids, padded.attention_mask, &record);
    // Tokens are flattened row by row, (B,L) -> B·L, as the MoE layer sees them.
    std::vector<std::int64_t> real = padded.attention_mask.to_vector<std::int64_t>();
    auto routed = moe::routings(record);
    out.expert_of_token.resize(routed.size());
    for (std::size_t l = 0; l < routed.size(); ++l) {
      std::vector<std::int64_t> choices = contiguous(select(routed[l].second->expert_index, 1, 0)).to_vector<std::int64_t>();
      if (choices.size() != real.size()) {
        throw Error(fmt::format("[route_held_out] {} routed {} tokens for a batch of {}", routed[l].first, choices.size(),
                                real.size()));
      }
      for (std::size_t t = 0; t < choices.size(); ++t) {
        if (real[t] == 1) out.expert_of_token[l].push_back(choices[t]);
      }
    }
    for (const auto& sequence : chosen) {
      std::vector<std::string> pieces;
      for (std::int64_t id : sequence) pieces.push_back(tokenizer.piece_of(id));
      for (data::TokenClass c : data::classify_pieces(pieces)) out.class_of_token.push_back(static_cast<std::int64_t>(c));
    }
  }
  return out;
}

// One model's specialisation on one seed: per layer the counts, and I, purity and concentration for
// the real routing and for shuffled routing (the mean of `shuffles` permutations).
struct Score {
  std::vector<double> information, purity, concentration;  // [layer]
};

struct Specialisation {
  std::vector<moe::ClassCounts> counts;  // [layer]
  Score real, shuffled;
};

Specialisation measure(const HeldOutRouting& routing, std::int64_t experts, std::uint64_t seed, int shuffles = 5) {
  Specialisation out;
  Generator permutations(seed + 99);
  auto add = [](Score& score, const moe::ClassCounts& counts, double weight) {
    score.information.back() += weight * moe::mutual_information_bits(counts);
    score.purity.back() += weight * moe::purity(counts);
    score.concentration.back() += weight * moe::concentration(counts);
  };
  for (const auto& experts_of_layer : routing.expert_of_token) {
    for (Score* score : {&out.real, &out.shuffled}) {
      score->information.push_back(0.0);
      score->purity.push_back(0.0);
      score->concentration.push_back(0.0);
    }
    out.counts.push_back(
        moe::count_classes_per_expert(experts_of_layer, routing.class_of_token, experts, data::kTokenClassCount));
    add(out.real, out.counts.back(), 1.0);
    for (int s = 0; s < shuffles; ++s) {
      add(out.shuffled,
          moe::shuffled_counts(experts_of_layer, routing.class_of_token, experts, data::kTokenClassCount, permutations),
          1.0 / shuffles);
    }
  }
  return out;
}

// "mean ± sd" over seeds.
std::string spread(const std::vector<double>& values, int digits) {
  return fmt::format("{:.{}f} ± {:.{}f}", bp::mean_of(values), digits, bp::std_of(values), digits);
}

// The end of the verdict: what the encoder-minus-decoder comparison shows, including its reverse.
std::string headline_text(const train::Comparison& c) {
  if (c.shown) return "encoder experts specialise more, as ST-MoE found.";
  if (c.ci95_low > 0.0 || c.ci95_high < 0.0) {
    return "the reverse is shown: decoder experts specialise more than encoder experts, the reverse of ST-MoE's "
           "finding.";
  }
  return "the difference is not shown at this scale.";
}

std::vector<std::string> class_names() { return {data::kTokenClassNames.begin(), data::kTokenClassNames.end()}; }

// P(class | expert) for every (layer, expert), and a last row with P(class) over all tokens.
std::pair<std::vector<std::string>, std::vector<std::vector<double>>> class_given_expert_rows(const Specialisation& s) {
  std::vector<std::string> labels;
  std::vector<std::vector<double>> rows;
  std::vector<std::int64_t> all(static_cast<std::size_t>(data::kTokenClassCount), 0);
  for (std::size_t l = 0; l < s.counts.size(); ++l) {
    auto conditional = moe::class_given_expert(s.counts[l]);
    for (std::size_t e = 0; e < conditional.size(); ++e) {
      std::int64_t load = 0;
      for (std::size_t c = 0; c < all.size(); ++c) {
        load += s.counts[l][e][c];
        if (l == 0) all[c] += s.counts[l][e][c];
      }
      labels.push_back(fmt::format("layer {} expert {} ({} tok)", l + 1, e, load));
      rows.push_back(conditional[e]);
    }
  }
  labels.push_back("all tokens");
  rows.push_back(moe::class_given_expert({all}).front());
  return {labels, rows};
}

// P(expert | class) for every (layer, class): where each class of token goes ("one expert takes
// punctuation"). Columns are the experts.
std::pair<std::vector<std::string>, std::vector<std::vector<double>>> expert_given_class_rows(const Specialisation& s) {
  std::vector<std::string> labels;
  std::vector<std::vector<double>> rows;
  for (std::size_t l = 0; l < s.counts.size(); ++l) {
    moe::ClassCounts transposed(s.counts[l].front().size(), std::vector<std::int64_t>(s.counts[l].size(), 0));
    for (std::size_t e = 0; e < s.counts[l].size(); ++e) {
      for (std::size_t c = 0; c < transposed.size(); ++c) transposed[c][e] = s.counts[l][e][c];
    }
    auto conditional = moe::class_given_expert(transposed);  // rows are classes now
    for (std::size_t c = 0; c < conditional.size(); ++c) {
      labels.push_back(fmt::format("layer {} {}", l + 1, data::kTokenClassNames[c]));
      rows.push_back(conditional[c]);
    }
  }
  return {labels, rows};
}

train::Table class_table(const std::vector<std::string>& labels, const std::vector<std::vector<double>>& rows) {
  std::vector<std::string> columns = {"expert"};
  for (const std::string& name : class_names()) columns.push_back(name);
  train::Table table(columns);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::vector<std::string> cells = {labels[r]};
    for (double p : rows[r]) cells.push_back(fmt::format("{:.1f}%", 100.0 * p));
    table.add_row(cells);
  }
  return table;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ST-MoE: do encoder experts specialise in token classes more than decoder experts?"};
  train::ExampleFlags flags;
  Sizes sizes;
  train::add_example_flags(app, flags);
  app.add_option("--experts", sizes.experts, "experts per MoE layer (every FFN is one)")->check(CLI::PositiveNumber);
  app.add_option("--dim", sizes.dim, "model width of both models; each expert is 4x this")->check(CLI::PositiveNumber);
  app.add_option("--layers", sizes.layers, "Transformer layers of both models")->check(CLI::PositiveNumber);
  app.add_option("--steps", sizes.steps, "pre-training steps of each model")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", sizes.batch, "sequences per step")->check(CLI::PositiveNumber);
  app.add_option("--seeds", sizes.seeds, "seeds (each trains one encoder and one decoder)")->check(CLI::Range(2, 100));
  app.add_option("--held-out", sizes.held_out, "held-out sequences routed for the counts")->check(CLI::PositiveNumber);
  app.add_option("--vocab", sizes.vocab, "SentencePiece vocabulary (DATA.md: 8000)")->check(CLI::PositiveNumber);
  app.add_option("--max-len", sizes.max_len, "pieces per packed sequence, [CLS] and [SEP] included")
      ->check(CLI::PositiveNumber);
  app.add_option("--lr", sizes.lr, "peak AdamW learning rate of both models")->check(CLI::PositiveNumber);
  app.add_option("--capacity-factor", sizes.capacity_factor, "training capacity factor (ST-MoE: 1.25; 0 = dropless)");
  app.add_option("--balance-alpha", sizes.balance_alpha, "Switch balance-loss weight (ST-MoE's c_B)");
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  if (flags.quick) sizes = {4, 32, 2, 30, 8, 3, 64, 600, 32, 3e-3, 1.25, 1e-2};
  train::RunDir run = train::RunDir::create(flags.out, "expert_specialisation");
  train::MetricsLog metrics(run.metrics_path());

  // ---- data: the DATA.md pre-training corpus, one SentencePiece tokenizer for both models ----
  bp::CorpusOptions corpus_options;
  corpus_options.quick = flags.quick;
  corpus_options.vocab_size = corpus_options.quick_vocab_size = sizes.vocab;
  corpus_options.max_len = corpus_options.quick_max_len = sizes.max_len;
  bp::MlmCorpus corpus = bp::load_mlm_corpus(corpus_options);
  std::vector<std::vector<std::int64_t>> held_out = corpus.validation;
  if (static_cast<std::int64_t>(held_out.size()) > sizes.held_out) held_out.resize(static_cast<std::size_t>(sizes.held_out));
  fmt::print("corpus: {} training and {} held-out sequences of up to {} pieces, vocabulary {}; both models: {} layers, "
             "width {}, {} experts of width {} in every layer, Switch top-1, training capacity factor {}\n\n",
             corpus.train.size(), corpus.validation.size(), corpus.max_len, corpus.vocab_size(), sizes.layers, sizes.dim,
             sizes.experts, 4 * sizes.dim, sizes.capacity_factor);

  {  // how the classes read on real pieces: the first held-out sequence
    std::vector<std::string> pieces;
    for (std::int64_t id : held_out.front()) pieces.push_back(corpus.tokenizer->piece_of(id));
    std::vector<data::TokenClass> classes = data::classify_pieces(pieces);
    std::string line;
    for (std::size_t i = 0; i < pieces.size() && i < 24; ++i) {
      line += fmt::format("{}/{} ", pieces[i], data::kTokenClassNames[static_cast<std::size_t>(classes[i])].substr(0, 4));
    }
    fmt::print("token classes of a held-out sequence (piece/class): {}...\n\n", line);
  }

  bp::PretrainOptions options;
  options.steps = sizes.steps;
  options.batch = sizes.batch;
  options.lr = sizes.lr;
  options.eval_every = std::max<std::int64_t>(1, sizes.steps / 10);
  options.eval_batches = flags.quick ? 2 : 8;
  options.metrics = &metrics;

  std::vector<Specialisation> encoder, decoder;
  std::vector<bp::PretrainCurve> encoder_curves, decoder_curves;
  for (std::int64_t s = 0; s < sizes.seeds; ++s) {
    auto seed = flags.seed + static_cast<std::uint64_t>(s);
    {  // the encoder: MoE BERT, masked-LM
      Generator generator(seed);
      moe::MoETransformer model = moe::build_model(model_config("bert_masked_lm", corpus, sizes), generator);
      options.name = fmt::format("encoder s{}", seed);
      encoder_curves.push_back(bp::pretrain_mlm(*model.module, bp::forward_of(*model.bert_masked_lm), corpus, options, generator));
      model.module->eval();
      // The held-out text goes in unmasked for both models, so both route exactly the same tokens.
      auto forward = [&](const Tensor& ids, const Tensor& mask, nn::Taps* record) {
        model.bert_masked_lm->forward(ids, zeros(ids.shape(), kInt64), mask, record);
      };
      encoder.push_back(measure(route_held_out(forward, held_out, *corpus.tokenizer, sizes.batch), sizes.experts, seed));
    }
    {  // the decoder: MoE GPT, next-token LM; padding sits after each sequence, so causal attention
       // keeps it from changing any real token's routing
      Generator generator(seed);
      moe::MoETransformer model = moe::build_model(model_config("gpt", corpus, sizes), generator);
      options.name = fmt::format("decoder s{}", seed);
      decoder_curves.push_back(pretrain_decoder(*model.gpt, corpus, options, generator));
      model.module->eval();
      auto forward = [&](const Tensor& ids, const Tensor&, nn::Taps* record) { model.gpt->forward(ids, record); };
      decoder.push_back(measure(route_held_out(forward, held_out, *corpus.tokenizer, sizes.batch), sizes.experts, seed));
    }
  }

  // ---- per model, on the first seed: P(class | expert) as a table and a heat map, and
  // P(expert | class) as a heat map; every map on the colour scale [0, 1] so they compare ----
  using Runs = const std::vector<Specialisation>*;
  const std::vector<std::pair<std::string, Runs>> models = {{"encoder", &encoder}, {"decoder", &decoder}};
  for (const auto& [name, runs] : models) {
    auto [labels, rows] = class_given_expert_rows(runs->front());
    fmt::print("\n{} (MoE {}), seed {}: P(class | expert) of the held-out tokens\n", name,
               name == "encoder" ? "BERT, masked LM" : "GPT, next-token LM", flags.seed);
    class_table(labels, rows).print(std::cout);
    train::PlotOptions tall;
    tall.height = std::max(400, 40 + 28 * static_cast<int>(rows.size()));
    train::heatmap_plot(run.plot_path(name + "_class_given_expert"),
                        fmt::format("{}: P(class | expert), seed {}", name, flags.seed), labels, class_names(), rows, 0.0,
                        1.0, tall);
    auto [class_labels, class_rows] = expert_given_class_rows(runs->front());
    std::vector<std::string> expert_names;
    for (std::int64_t e = 0; e < sizes.experts; ++e) expert_names.push_back(fmt::format("expert {}", e));
    tall.height = std::max(400, 40 + 28 * static_cast<int>(class_rows.size()));
    train::heatmap_plot(run.plot_path(name + "_expert_given_class"),
                        fmt::format("{}: P(expert | class), seed {}", name, flags.seed), class_labels, expert_names,
                        class_rows, 0.0, 1.0, tall);
  }

  // ---- the specialisation table: mean ± sd over seeds, per layer and the mean over layers ----
  // A score of one run: the `metric` of Score (real or shuffled) at layer l, or its mean over layers.
  using Metric = std::vector<double> Score::*;
  auto score_of = [](const Specialisation& s, bool shuffled, Metric metric, std::size_t layer) {
    const std::vector<double>& per_layer = (shuffled ? s.shuffled : s.real).*metric;
    return layer < per_layer.size() ? per_layer[layer] : bp::mean_of(per_layer);
  };
  auto over_seeds = [&](Runs runs, bool shuffled, Metric metric, std::size_t layer = SIZE_MAX) {
    std::vector<double> values;
    for (const Specialisation& s : *runs) values.push_back(score_of(s, shuffled, metric, layer));
    return values;
  };
  train::Table table({"model", "layer", "I(expert; class) bits", "I shuffled", "purity", "purity shuffled",
                      "concentration", "concentration shuffled"});
  for (const auto& [name, runs] : models) {
    std::size_t layers = runs->front().counts.size();
    for (std::size_t l = 0; l <= layers; ++l) {
      std::size_t layer = l < layers ? l : SIZE_MAX;  // the last row: the mean over layers
      std::vector<std::string> row = {name, l < layers ? fmt::format("{}", l + 1) : "mean"};
      for (auto [metric, digits] : {std::pair<Metric, int>{&Score::information, 4}, {&Score::purity, 3},
                                    {&Score::concentration, 3}}) {
        row.push_back(spread(over_seeds(runs, false, metric, layer), digits));
        row.push_back(spread(over_seeds(runs, true, metric, layer), digits));
      }
      table.add_row(row);
    }
  }
  fmt::print("\nSpecialisation over the tokens of {} held-out sequences, mean ± sd over {} seeds; shuffled = the same "
             "loads with the expert assignments permuted across tokens\n",
             held_out.size(), sizes.seeds);
  table.print(std::cout);

  // ---- comparisons, paired by seed, on the mean over layers ----
  // Concentration grows with load imbalance (a busy expert takes much of every class), so it is
  // compared as its excess over the same run's shuffled routing, which has the same loads.
  auto excess_concentration = [&](Runs runs) {
    std::vector<double> real = over_seeds(runs, false, &Score::concentration), excess;
    std::vector<double> shuffled = over_seeds(runs, true, &Score::concentration);
    for (std::size_t s = 0; s < real.size(); ++s) excess.push_back(real[s] - shuffled[s]);
    return excess;
  };
  std::vector<train::Comparison> comparisons = {
      train::compare("encoder experts specialise more than decoder experts", "encoder", "decoder",
                     "I(expert; class), bits, mean over layers", over_seeds(&encoder, false, &Score::information),
                     over_seeds(&decoder, false, &Score::information)),
      train::compare("encoder experts specialise beyond chance", "encoder", "encoder shuffled",
                     "I(expert; class), bits, mean over layers", over_seeds(&encoder, false, &Score::information),
                     over_seeds(&encoder, true, &Score::information)),
      train::compare("decoder experts specialise beyond chance", "decoder", "decoder shuffled",
                     "I(expert; class), bits, mean over layers", over_seeds(&decoder, false, &Score::information),
                     over_seeds(&decoder, true, &Score::information)),
      train::compare("encoder token classes sit in fewer experts than decoder ones", "encoder", "decoder",
                     "concentration minus its shuffled value, mean over layers", excess_concentration(&encoder),
                     excess_concentration(&decoder))};
  json comparison_list = json::array();
  train::Table verdicts({"claim", "difference", "95% interval", "shown"});
  for (const train::Comparison& c : comparisons) {
    comparison_list.push_back(train::to_json(c));
    verdicts.add_row({c.claim, fmt::format("{:+.4f}", c.difference), fmt::format("[{:+.4f}, {:+.4f}]", c.ci95_low, c.ci95_high),
                      train::verdict(c)});
  }
  fmt::print("\nPaired over {} seeds (a − b):\n", sizes.seeds);
  verdicts.print(std::cout);

  // ---- the pre-training curves (different losses: masked-LM vs next-token, nats per predicted piece) ----
  auto band = [](const std::string& title, const std::vector<bp::PretrainCurve>& curves) {
    std::vector<std::vector<double>> per_seed;
    for (const auto& c : curves) per_seed.push_back(c.eval_loss);
    return train::seed_band(title, curves.front().eval_steps, per_seed);
  };
  train::band_plot(run.plot_path("pretraining"), "held-out pre-training loss, mean of seeds and 95% interval", "step",
                   "cross-entropy (nats per predicted piece)",
                   {band("encoder: masked LM", encoder_curves), band("decoder: next-token LM", decoder_curves)});

  const train::Comparison& headline = comparisons.front();
  std::string verdict = fmt::format(
      "Experts carry {:.4f} bits about the token class in the encoder and {:.4f} in the decoder (shuffled routing: "
      "{:.4f} / {:.4f}); encoder minus decoder {:+.4f} bits, 95% interval [{:+.4f}, {:+.4f}] over {} seeds: {}",
      bp::mean_of(over_seeds(&encoder, false, &Score::information)),
      bp::mean_of(over_seeds(&decoder, false, &Score::information)),
      bp::mean_of(over_seeds(&encoder, true, &Score::information)),
      bp::mean_of(over_seeds(&decoder, true, &Score::information)), headline.difference, headline.ci95_low, headline.ci95_high,
      sizes.seeds,
      headline_text(headline));
  // The smoke check: every model's held-out loss ended below its first training loss.
  bool learned = true;
  for (const auto* curves : {&encoder_curves, &decoder_curves}) {
    for (const auto& c : *curves) learned = learned && c.eval_loss.back() < c.train_loss.front();
  }
  train::print_profile(flags);
  // The tour's smoke check is the mechanism, which a short run already shows: in both models the
  // experts carry more about the token class than the same loads routed at random, and every model
  // learned. Which model's experts specialise more (ST-MoE's finding) needs the default run.
  double encoder_bits = bp::mean_of(over_seeds(&encoder, false, &Score::information));
  double encoder_shuffled = bp::mean_of(over_seeds(&encoder, true, &Score::information));
  double decoder_bits = bp::mean_of(over_seeds(&decoder, false, &Score::information));
  double decoder_shuffled = bp::mean_of(over_seeds(&decoder, true, &Score::information));
  bool routing_check = encoder_bits > encoder_shuffled && decoder_bits > decoder_shuffled && learned;
  fmt::print("tour: expert_specialisation | I(expert; class) above shuffled routing: encoder {:.3f} > {:.3f} bits, "
             "decoder {:.3f} > {:.3f}; every model learned | {}\n",
             encoder_bits, encoder_shuffled, decoder_bits, decoder_shuffled, routing_check ? "yes" : "no");
  run.write_summary({{"example", "expert_specialisation"},
                     {"experts", sizes.experts},
                     {"dim", sizes.dim},
                     {"layers", sizes.layers},
                     {"steps", sizes.steps},
                     {"seeds", sizes.seeds},
                     {"held_out_sequences", held_out.size()},
                     {"classes", class_names()},
                     {"table", table.to_json()},
                     {"comparisons", comparison_list},
                     {"per_seed", {{"encoder_bits", over_seeds(&encoder, false, &Score::information)},
                                   {"decoder_bits", over_seeds(&decoder, false, &Score::information)},
                                   {"encoder_shuffled_bits", over_seeds(&encoder, true, &Score::information)},
                                   {"decoder_shuffled_bits", over_seeds(&decoder, true, &Score::information)}}},
                     {"verdict", verdict},
                     {"effect_shown", headline.shown}});
  fmt::print("\n{}\nOutputs in {}\n", verdict, run.path().string());
  if (!learned) fmt::print("A model's held-out loss did not fall below its first training loss.\n");
  return learned ? 0 : 1;
}
