#include "nn/layers.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {
// Two layers, to exercise nesting: parameters "first.weight", "first.bias", "second.weight", ...
struct TwoLayers : nn::Module {
  explicit TwoLayers(Generator& generator) {
    first = register_module("first", std::make_shared<nn::Linear>(3, 4, true, generator));
    second = register_module("second", std::make_shared<nn::Linear>(4, 2, false, generator));
    scale = register_buffer("scale", full({1}, 2.0));
  }
  Tensor forward(const Tensor& x) { return second->forward(relu(first->forward(x))) * scale; }
  std::shared_ptr<nn::Linear> first, second;
  Tensor scale;
};
}  // namespace

TEST_CASE("parameters have dotted names in registration order") {
  Generator generator(0);
  TwoLayers model(generator);
  std::vector<std::string> names;
  for (auto& [name, tensor] : model.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"first.weight", "first.bias", "second.weight"});
  CHECK(model.parameter_count() == 3 * 4 + 4 + 4 * 2);
  CHECK(model.named_buffers().at(0).first == "scale");
  CHECK(model.state_dict().size() == 4);
  CHECK(model.named_modules().size() == 3);
}

TEST_CASE("load_state_dict copies values into the existing tensors") {
  Generator a(1), b(2);
  TwoLayers source(a), target(b);
  Tensor handle = target.first->weight;  // a handle held elsewhere, like an optimizer's
  target.load_state_dict(source.state_dict());
  check_close(handle, source.first->weight, 0.0);
  CHECK(handle.same(target.first->weight));
}

TEST_CASE("strict load_state_dict names missing, unexpected and mismatched keys") {
  Generator generator(0);
  TwoLayers model(generator);
  nn::StateDict state = model.state_dict();
  state.erase("second.weight");
  state["extra.weight"] = zeros({1});
  state["first.bias"] = zeros({5});
  try {
    model.load_state_dict(state);
    FAIL("expected an error");
  } catch (const ShapeError& error) {
    std::string message = error.what();
    CHECK(message.find("missing keys: second.weight") != std::string::npos);
    CHECK(message.find("unexpected keys: extra.weight") != std::string::npos);
    CHECK(message.find("first.bias (checkpoint [5], model [4])") != std::string::npos);
  }
  state["first.bias"] = zeros({4});
  model.load_state_dict(state, /*strict=*/false);  // missing and unexpected are tolerated
  CHECK(model.first->bias.sum().item() == 0.0);
}

TEST_CASE("freeze by name pattern turns requires_grad off and unfreeze back on") {
  Generator generator(0);
  TwoLayers model(generator);
  CHECK(model.freeze("first.*") == 2);
  CHECK_FALSE(model.first->weight.requires_grad());
  CHECK(model.second->weight.requires_grad());
  CHECK(model.unfreeze("*weight") == 2);
  CHECK(model.first->weight.requires_grad());
  CHECK_FALSE(model.first->bias.requires_grad());
}

TEST_CASE("wildcard patterns match like shell globs") {
  CHECK(nn::matches_pattern("encoder.layers.3.ffn.w1.weight", "*.ffn.*"));
  CHECK(nn::matches_pattern("a.b", "a.b"));
  CHECK_FALSE(nn::matches_pattern("a.bc", "a.b"));
  CHECK(nn::matches_pattern("anything", "*"));
  CHECK(nn::matches_pattern("x.router.w", "*router*"));
  CHECK_FALSE(nn::matches_pattern("x.route.w", "*router*"));
}

TEST_CASE("train and eval switch every child, and dropout follows") {
  Generator generator(0);
  nn::Sequential net({std::make_shared<nn::Linear>(4, 4, true, generator), std::make_shared<nn::Dropout>(0.5, generator)});
  Tensor x = ones({8, 4});
  net.eval();
  CHECK_FALSE(net[1].is_training());
  check_close(net.forward(x), net[0].forward(x), 0.0);
  net.train();
  CHECK(net[1].is_training());
}

TEST_CASE("to(dtype) converts parameters in place and keeps them trainable") {
  Generator generator(0);
  TwoLayers model(generator);
  Tensor handle = model.first->weight;
  model.to(kFloat64);
  CHECK(handle.dtype() == kFloat64);
  CHECK(handle.requires_grad());
  CHECK(model.forward(ones({2, 3}, kFloat64)).dtype() == kFloat64);
}

TEST_CASE("zero_grad clears every parameter's gradient") {
  Generator generator(0);
  TwoLayers model(generator);
  model.forward(ones({2, 3})).sum().backward();
  CHECK(model.first->weight.grad().defined());
  model.zero_grad();
  CHECK_FALSE(model.first->weight.grad().defined());
}
