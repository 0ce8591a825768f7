// The synthetic reference-design models (facelens/synth.h): each architecture written layer by
// layer after its reference code, cited at its builder, with random weights.
#include "facelens/synth.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "convert/converter.h"
#include "convert/onnx_graph.h"
#include "convert/synth_graph.h"

namespace facelens {

namespace {

using models::synth::ConvSpec;
using models::synth::GraphBuilder;
using models::synth::set_attr;

// Gains of the uniform weight init (synth_graph.h ConvSpec::gain): the output keeps the input's
// variance when the input is a ReLU/PReLU output (He: sqrt 2), a SiLU output (E[silu(x)^2] = 0.354
// for x ~ N(0,1): 1/sqrt(0.354) = 1.68) or not rectified (1).
constexpr float kGainRelu = 1.41421356f;
constexpr float kGainSilu = 1.68f;
constexpr float kGainLinear = 1.0f;

// ---- IResNet (ArcFace) and IR (AdaFace) --------------------------------------------------------
// deepinsight/insightface recognition/arcface_torch/backbones/iresnet.py: IBasicBlock =
// BN - conv3x3 - BN - PReLU - conv3x3(stride) - BN, plus the shortcut (conv1x1(stride) + BN when
// the stride or width changes); every stage starts with a stride of 2; then BN2d - Dropout -
// Flatten - FC(512*7*7 -> 512) - BN1d. mk-minchul/AdaFace net.py (BasicBlockIR, IR-101
// [3,13,30,3]) is the same unit; its first unit keeps the width, so its shortcut is a
// MaxPool2d(1, 2) instead of a convolution.
struct IrSpec {
  std::vector<int> layers;
  bool maxpool_shortcut_when_same_width = false;  // AdaFace
};

std::string ir_backbone(GraphBuilder& b, std::string x, const IrSpec& spec) {
  const std::vector<int64_t> widths = {64, 128, 256, 512};
  int n_blocks = 0;
  for (int n : spec.layers) n_blocks += n;
  // The residual branch's last BN scales by 1/sqrt(#blocks): the sum of all branches then grows
  // the variance by about e instead of 2^#blocks (the trained model's BN statistics do this).
  const float damp = 1.f / std::sqrt(static_cast<float>(n_blocks));
  x = b.conv(x, {.cin = 3, .cout = 64, .k = 3, .stride = 1, .pad = 1, .gain = kGainLinear});
  x = b.prelu(b.bn(x, 64), 64);
  int64_t in = 64;
  for (size_t stage = 0; stage < spec.layers.size(); ++stage) {
    const int64_t w = widths[stage];
    for (int i = 0; i < spec.layers[stage]; ++i) {
      const int64_t stride = i == 0 ? 2 : 1;
      std::string r = b.bn(x, in);
      r = b.conv(r, {.cin = in, .cout = w, .k = 3, .stride = 1, .pad = 1, .gain = kGainLinear});
      r = b.prelu(b.bn(r, w), w);
      r = b.conv(r, {.cin = w, .cout = w, .k = 3, .stride = stride, .pad = 1, .gain = kGainRelu});
      r = b.bn(r, w, damp);
      std::string shortcut = x;
      if (stride != 1 || in != w) {
        if (spec.maxpool_shortcut_when_same_width && in == w) {
          shortcut = b.max_pool(x, 1, stride, 0);
        } else {
          shortcut = b.conv(x, {.cin = in, .cout = w, .k = 1, .stride = stride, .pad = 0, .gain = kGainLinear});
          shortcut = b.bn(shortcut, w);
        }
      }
      x = b.add(r, shortcut);
      in = w;
    }
  }
  // Output layer: BN2d, (Dropout: none at inference), Flatten, FC, BN1d.
  x = b.bn(x, 512);
  auto* flat = b.node("Flatten", {x});
  set_attr(flat, "axis", int64_t{1});
  x = b.linear(GraphBuilder::out(flat), 512 * 7 * 7, 512, kGainLinear);
  return x;
}

void build_arcface_r50(GraphBuilder& b) {
  std::string x = b.input("input", {-1, 3, 112, 112});
  x = ir_backbone(b, x, {{3, 4, 14, 3}, false});
  x = b.bn(x, 512);  // features: BatchNorm1d(512) (its weight fixed at 1 in training)
  b.output(x, "embedding", {-1, 512});
}

void build_adaface_ir101(GraphBuilder& b) {
  std::string x = b.input("input", {-1, 3, 112, 112});
  x = ir_backbone(b, x, {{3, 13, 30, 3}, true});
  // BatchNorm1d(512, affine=False): scale 1 and shift 0 in the exported graph.
  auto* n = b.node("BatchNormalization",
                   {x, b.floats("bn1d_scale", {512}, std::vector<float>(512, 1.f)),
                    b.floats("bn1d_bias", {512}, std::vector<float>(512, 0.f)),
                    b.uniform("bn1d_mean", {512}, -0.05f, 0.05f), b.uniform("bn1d_var", {512}, 0.9f, 1.1f)});
  set_attr(n, "epsilon", 1e-5f);
  x = GraphBuilder::out(n);
  // net.py forward: norm = torch.norm(x, 2, 1, True); output = torch.div(x, norm).
  auto* l2 = b.node("ReduceL2", {x}, "norm");
  set_attr(l2, "axes", std::vector<int64_t>{1});
  set_attr(l2, "keepdims", int64_t{1});
  b.node("Div", {x, "norm"}, "feature");
  b.output("feature", "feature", {-1, 512});
  b.output("norm", "norm", {-1, 1});
}

// ---- Xception ----------------------------------------------------------------------------------
// Chollet 2017, as Cadene/pretrained-models.pytorch pretrainedmodels/models/xception.py writes it
// (the model FaceForensics++ trains, classification/network/xception.py): entry flow conv 3x3/2
// (32) - conv 3x3 (64) - blocks 128, 256, 728 (stride 2); middle flow 8 x 728; exit flow block
// 728 -> 1024 (stride 2), separable convs 1536 and 2048, global average pool, FC 2048 -> 2
// (FaceForensics' last_linear: Dropout + Linear(2048, 2)).
std::string separable(GraphBuilder& b, const std::string& x, int64_t cin, int64_t cout, float gain) {
  std::string y = b.conv(x, {.cin = cin, .cout = cin, .k = 3, .stride = 1, .pad = 1, .groups = cin, .gain = gain});
  return b.conv(y, {.cin = cin, .cout = cout, .k = 1, .stride = 1, .pad = 0, .gain = kGainLinear});
}

std::string xception_block(GraphBuilder& b, const std::string& inp, int64_t cin, int64_t cout, int reps, int64_t stride,
                           bool start_with_relu, bool grow_first) {
  struct Step {
    int64_t in, out;
  };
  std::vector<Step> steps;
  int64_t filters = cin;
  if (grow_first) {
    steps.push_back({cin, cout});
    filters = cout;
  }
  for (int i = 0; i < reps - 1; ++i) steps.push_back({filters, filters});
  if (!grow_first) steps.push_back({cin, cout});
  const bool conv_skip = cout != cin || stride != 1;
  // Damping of the last BN (see ir_backbone): 8 identity blocks in the middle flow.
  const float damp = conv_skip ? 0.7071f : 0.3536f;
  std::string x = inp;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (i > 0 || start_with_relu) x = b.relu(x);
    x = separable(b, x, steps[i].in, steps[i].out, kGainRelu);
    x = b.bn(x, steps[i].out, i + 1 == steps.size() ? damp : 1.f);
  }
  if (stride != 1) x = b.max_pool(x, 3, stride, 1);
  std::string skip = inp;
  if (conv_skip) {
    skip = b.conv(inp, {.cin = cin, .cout = cout, .k = 1, .stride = stride, .pad = 0, .gain = kGainLinear});
    skip = b.bn(skip, cout);
  }
  return b.add(x, skip);
}

void build_xception(GraphBuilder& b) {
  std::string x = b.input("input", {-1, 3, 299, 299});
  x = b.relu(b.bn(b.conv(x, {.cin = 3, .cout = 32, .k = 3, .stride = 2, .pad = 0, .gain = kGainLinear}), 32));
  x = b.relu(b.bn(b.conv(x, {.cin = 32, .cout = 64, .k = 3, .stride = 1, .pad = 0, .gain = kGainRelu}), 64));
  x = xception_block(b, x, 64, 128, 2, 2, /*start_with_relu=*/false, /*grow_first=*/true);
  x = xception_block(b, x, 128, 256, 2, 2, true, true);
  x = xception_block(b, x, 256, 728, 2, 2, true, true);
  for (int i = 0; i < 8; ++i) x = xception_block(b, x, 728, 728, 3, 1, true, true);
  x = xception_block(b, x, 728, 1024, 2, 2, true, /*grow_first=*/false);
  x = b.relu(b.bn(separable(b, x, 1024, 1536, kGainLinear), 1536));
  x = b.relu(b.bn(separable(b, x, 1536, 2048, kGainRelu), 2048));
  x = b.out(b.node("GlobalAveragePool", {x}));
  auto* flat = b.node("Flatten", {x});
  set_attr(flat, "axis", int64_t{1});
  x = b.linear(GraphBuilder::out(flat), 2048, 2, kGainRelu);
  b.output(x, "logits", {-1, 2});
}

// ---- YOLOv10n ----------------------------------------------------------------------------------
// THU-MIG/yolov10 = ultralytics ultralytics/cfg/models/v10/yolov10n.yaml (scale n: depth 0.33,
// width 0.25) with the modules of ultralytics/nn/modules/{conv,block,head}.py, as exported to ONNX
// (BatchNorm folded into the convolutions, SiLU as x*sigmoid(x), RepVGGDW fused into one 7x7
// depthwise conv), end to end: the one-to-one head v10Detect, DFL, dist2bbox and the top-k
// selection of v10Detect.postprocess (TopK / GatherElements), output [B,300,6].
struct Yolo {
  GraphBuilder& b;

  // Conv(c1, c2, k, s, g, act): conv (BN folded: with bias) + SiLU; autopad k/2.
  std::string conv(const std::string& x, int64_t c1, int64_t c2, int64_t k, int64_t s = 1, int64_t g = 1,
                   bool act = true) {
    std::string y = b.conv(
        x, {.cin = c1, .cout = c2, .k = k, .stride = s, .pad = k / 2, .groups = g, .bias = true, .gain = kGainSilu});
    return act ? b.silu(y) : y;
  }
  // Bottleneck(c, c, shortcut, k=(3,3), e=1.0).
  std::string bottleneck(const std::string& x, int64_t c, bool shortcut) {
    std::string y = conv(conv(x, c, c, 3), c, c, 3);
    return shortcut ? b.add(x, y) : y;
  }
  // CIB(c, c, shortcut, e=1.0, lk=True): dw3x3, 1x1 -> 2c, RepVGGDW(2c) (fused 7x7 dw + SiLU),
  // 1x1 -> c, dw3x3.
  std::string cib(const std::string& x, int64_t c, bool shortcut) {
    std::string y = conv(x, c, c, 3, 1, c);
    y = conv(y, c, 2 * c, 1);
    y = conv(y, 2 * c, 2 * c, 7, 1, 2 * c);
    y = conv(y, 2 * c, c, 1);
    y = conv(y, c, c, 3, 1, c);
    return shortcut ? b.add(x, y) : y;
  }
  // C2f(c1, c2, n, shortcut) (and C2fCIB with cib units): cv1 1x1 -> 2c, chunk, n units on the
  // last chunk, concat, cv2 1x1.
  std::string c2f(const std::string& x, int64_t c1, int64_t c2, int n, bool shortcut, bool use_cib = false) {
    const int64_t c = c2 / 2;
    auto parts = b.split(conv(x, c1, 2 * c, 1), {c, c}, 1);
    for (int i = 0; i < n; ++i)
      parts.push_back(use_cib ? cib(parts.back(), c, shortcut) : bottleneck(parts.back(), c, shortcut));
    return conv(b.concat(parts, 1), (2 + n) * c, c2, 1);
  }
  // SCDown(c1, c2, k=3, s=2): 1x1 conv, then a depthwise strided conv without activation.
  std::string scdown(const std::string& x, int64_t c1, int64_t c2) {
    return conv(conv(x, c1, c2, 1), c2, c2, 3, 2, c2, /*act=*/false);
  }
  // SPPF(c1, c2, 5): 1x1 to c1/2, three chained 5x5 max pools, concat, 1x1.
  std::string sppf(const std::string& x, int64_t c1, int64_t c2) {
    std::vector<std::string> ys = {conv(x, c1, c1 / 2, 1)};
    for (int i = 0; i < 3; ++i) ys.push_back(b.max_pool(ys.back(), 5, 1, 2));
    return conv(b.concat(ys, 1), c1 / 2 * 4, c2, 1);
  }
  // PSA(c, c): cv1 1x1, split (a, b), b += Attention(b), b += FFN(b), cv2 1x1 of concat(a, b).
  // Attention(dim = c/2, num_heads = dim/64, attn_ratio 0.5) on an hw x hw map.
  std::string psa(const std::string& x, int64_t c1, int64_t hw) {
    const int64_t c = c1 / 2, heads = c / 64, head_dim = c / heads, key_dim = head_dim / 2, n = hw * hw;
    auto ab = b.split(conv(x, c1, 2 * c, 1), {c, c}, 1);
    const std::string& bx = ab[1];
    std::string qkv = conv(bx, c, c + 2 * key_dim * heads, 1, 1, 1, false);
    qkv = b.reshape(qkv, {0, heads, 2 * key_dim + head_dim, n});
    auto q_k_v = b.split(qkv, {key_dim, key_dim, head_dim}, 2);
    std::string attn = b.out(b.node("MatMul", {b.transpose(q_k_v[0], {0, 1, 3, 2}), q_k_v[1]}));
    attn = b.out(b.node("Mul", {attn, b.scalar("scale", 1.f / std::sqrt(static_cast<float>(key_dim)))}));
    auto* sm = b.node("Softmax", {attn});
    set_attr(sm, "axis", int64_t{-1});
    std::string y = b.out(b.node("MatMul", {q_k_v[2], b.transpose(b.out(sm), {0, 1, 3, 2})}));
    y = b.reshape(y, {0, c, hw, hw});
    std::string pe = conv(b.reshape(q_k_v[2], {0, c, hw, hw}), c, c, 3, 1, c, false);
    y = conv(b.add(y, pe), c, c, 1, 1, 1, false);
    std::string bb = b.add(bx, y);
    std::string f = conv(conv(bb, c, 2 * c, 1), 2 * c, c, 1, 1, 1, false);
    bb = b.add(bb, f);
    return conv(b.concat({ab[0], bb}, 1), 2 * c, c1, 1);
  }
  std::string upsample(const std::string& x) {
    auto* n = b.node("Resize", {x, "", b.floats("scales", {4}, {1.f, 1.f, 2.f, 2.f})});
    set_attr(n, "mode", std::string("nearest"));
    set_attr(n, "coordinate_transformation_mode", std::string("asymmetric"));
    set_attr(n, "nearest_mode", std::string("floor"));
    return b.out(n);
  }
};

void build_yolov10n(GraphBuilder& b) {
  Yolo y{b};
  std::string x = b.input("images", {-1, 3, 640, 640});
  // Backbone (yolov10n.yaml with width 0.25, depth 0.33).
  x = y.conv(x, 3, 16, 3, 2);                          // 0: 320
  x = y.conv(x, 16, 32, 3, 2);                         // 1: 160
  x = y.c2f(x, 32, 32, 1, true);                       // 2
  x = y.conv(x, 32, 64, 3, 2);                         // 3: 80
  const std::string p3 = y.c2f(x, 64, 64, 2, true);    // 4
  x = y.scdown(p3, 64, 128);                           // 5: 40
  const std::string p4 = y.c2f(x, 128, 128, 2, true);  // 6
  x = y.scdown(p4, 128, 256);                          // 7: 20
  x = y.c2f(x, 256, 256, 1, true);                     // 8
  x = y.sppf(x, 256, 256);                             // 9
  const std::string p5 = y.psa(x, 256, 20);            // 10
  // Neck.
  x = y.c2f(b.concat({y.upsample(p5), p4}, 1), 384, 128, 1, false);  // 11-13
  const std::string h13 = x;
  const std::string small = y.c2f(b.concat({y.upsample(x), p3}, 1), 192, 64, 1, false);                   // 14-16: P3
  const std::string medium = y.c2f(b.concat({y.conv(small, 64, 64, 3, 2), h13}, 1), 192, 128, 1, false);  // 17-19
  const std::string large =
      y.c2f(b.concat({y.scdown(medium, 128, 128), p5}, 1), 384, 256, 1, true, /*use_cib=*/true);  // 20-22: P5
  // v10Detect(nc=80, ch=(64,128,256)): reg_max 16, c2 = max(16, 64/4, 64) = 64,
  // c3 = max(64, min(80, 100)) = 80; the one-to-one branches only (one2one_cv2, one2one_cv3).
  constexpr int64_t kClasses = 80, kRegMax = 16, kMaxDet = 300;
  const int64_t c2 = 64, c3 = 80;
  struct Level {
    std::string x;
    int64_t ch, size, stride;
  };
  const std::vector<Level> levels = {{small, 64, 80, 8}, {medium, 128, 40, 16}, {large, 256, 20, 32}};
  std::vector<std::string> flat;
  std::vector<float> anchors_x, anchors_y, strides;
  for (const auto& l : levels) {
    std::string box = y.conv(y.conv(l.x, l.ch, c2, 3), c2, c2, 3);
    box = b.conv(box, {.cin = c2, .cout = 4 * kRegMax, .k = 1, .bias = true, .gain = kGainSilu});
    std::string cls = y.conv(y.conv(l.x, l.ch, l.ch, 3, 1, l.ch), l.ch, c3, 1);
    cls = y.conv(y.conv(cls, c3, c3, 3, 1, c3), c3, c3, 1);
    cls = b.conv(cls, {.cin = c3, .cout = kClasses, .k = 1, .bias = true, .gain = kGainSilu});
    flat.push_back(b.reshape(b.concat({box, cls}, 1), {0, 4 * kRegMax + kClasses, -1}));
    // make_anchors(offset 0.5): cell centres, row by row, in grid units; the stride per cell.
    for (int64_t r = 0; r < l.size; ++r)
      for (int64_t col = 0; col < l.size; ++col) {
        anchors_x.push_back(static_cast<float>(col) + 0.5f);
        anchors_y.push_back(static_cast<float>(r) + 0.5f);
        strides.push_back(static_cast<float>(l.stride));
      }
  }
  const int64_t n_anchors = static_cast<int64_t>(strides.size());  // 8400
  auto box_cls = b.split(b.concat(flat, 2), {4 * kRegMax, kClasses}, 1);
  // DFL: softmax over 16 bins per side, expectation by a 1x1 conv with weights 0..15.
  std::string d = b.transpose(b.reshape(box_cls[0], {0, 4, kRegMax, n_anchors}), {0, 2, 1, 3});
  auto* sm = b.node("Softmax", {d});
  set_attr(sm, "axis", int64_t{1});
  std::vector<float> bins(kRegMax);
  for (int64_t i = 0; i < kRegMax; ++i) bins[static_cast<size_t>(i)] = static_cast<float>(i);
  auto* dfl = b.node("Conv", {b.out(sm), b.floats("dfl_w", {1, kRegMax, 1, 1}, bins)});
  set_attr(dfl, "kernel_shape", std::vector<int64_t>{1, 1});
  d = b.reshape(b.out(dfl), {0, 4, n_anchors});
  // dist2bbox (xyxy): anchor - (l, t), anchor + (r, b); times the stride.
  std::vector<float> anchors = anchors_x;
  anchors.insert(anchors.end(), anchors_y.begin(), anchors_y.end());
  const std::string anchor = b.floats("anchors", {1, 2, n_anchors}, anchors);
  auto lt_rb = b.split(d, {2, 2}, 1);
  std::string xy1 = b.out(b.node("Sub", {anchor, lt_rb[0]}));
  std::string xy2 = b.add(anchor, lt_rb[1]);
  std::string dbox = b.out(b.node("Mul", {b.concat({xy1, xy2}, 1), b.floats("strides", {1, 1, n_anchors}, strides)}));
  std::string scores = b.out(b.node("Sigmoid", {box_cls[1]}));
  std::string preds = b.transpose(b.concat({dbox, scores}, 1), {0, 2, 1});  // [B,8400,84]
  // v10Detect.postprocess: top 300 anchors by their best class, then the top 300 (anchor, class)
  // pairs among them.
  auto bs = b.split(preds, {4, kClasses}, -1);
  auto* best = b.node("ReduceMax", {bs[1]});
  set_attr(best, "axes", std::vector<int64_t>{-1});
  set_attr(best, "keepdims", int64_t{0});
  const std::string k = b.int64s("k", {kMaxDet});
  std::vector<std::string> top1;
  auto* tk1 = b.node_n("TopK", {b.out(best), k}, 2, &top1);
  set_attr(tk1, "axis", int64_t{-1});
  auto unsqueeze_last = [&](const std::string& v) { return b.out(b.node("Unsqueeze", {v, b.int64s("axes", {-1})})); };
  auto gather = [&](const std::string& data, const std::string& index, int64_t width) {
    std::string idx = b.out(b.node("Tile", {unsqueeze_last(index), b.int64s("repeats", {1, 1, width})}));
    auto* n = b.node("GatherElements", {data, idx});
    set_attr(n, "axis", int64_t{1});
    return b.out(n);
  };
  std::string boxes = gather(bs[0], top1[1], 4);
  std::string cand = b.reshape(gather(bs[1], top1[1], kClasses), {0, -1});
  std::vector<std::string> top2;
  auto* tk2 = b.node_n("TopK", {cand, k}, 2, &top2);
  set_attr(tk2, "axis", int64_t{-1});
  const std::string n_classes = b.int64s("nc", {kClasses});
  std::string cls_id = b.out(b.node("Mod", {top2[1], n_classes}));
  std::string row = b.out(b.node("Div", {top2[1], n_classes}));
  auto* cast = b.node("Cast", {unsqueeze_last(cls_id)});
  set_attr(cast, "to", int64_t{onnx::TensorProto::FLOAT});
  std::string out = b.concat({gather(boxes, row, 4), unsqueeze_last(top2[0]), b.out(cast)}, -1);
  b.output(out, "output0", {-1, kMaxDet, 6});
}

std::string shape_text(const onnx::ValueInfoProto& v) {
  std::string s = v.name() + " [";
  const auto& dims = v.type().tensor_type().shape().dim();
  for (int i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    s += dims[i].has_dim_value() ? std::to_string(dims[i].dim_value()) : dims[i].dim_param();
  }
  return s + "]";
}

}  // namespace

const char* synth_arch_name(SynthArch arch) {
  switch (arch) {
    case SynthArch::kYolov10n: return "yolov10n";
    case SynthArch::kArcfaceR50: return "arcface-r50";
    case SynthArch::kAdafaceIr101: return "adaface-ir101";
    case SynthArch::kXception: return "xception";
  }
  return "?";
}

const std::vector<SynthArch>& synth_archs() {
  static const std::vector<SynthArch> kAll = {SynthArch::kYolov10n, SynthArch::kArcfaceR50, SynthArch::kAdafaceIr101,
                                              SynthArch::kXception};
  return kAll;
}

StatusOr<SynthArch> parse_synth_arch(std::string_view name) {
  for (SynthArch a : synth_archs())
    if (name == synth_arch_name(a)) return a;
  return invalid_argument("unknown architecture '" + std::string(name) +
                          "': use yolov10n, arcface-r50, adaface-ir101 or xception");
}

SynthReference synth_reference(SynthArch arch) {
  switch (arch) {
    case SynthArch::kYolov10n:
      return {2.3e6, 6.7e9 / 2,
              "YOLOv10 paper (Wang et al. 2024, table 1) and ultralytics' YOLOv10 table: YOLOv10-N 2.3 M parameters, "
              "6.7 GFLOPs at 640 (FLOPs = 2 x MACs; one-to-one head only)",
              ""};
    case SynthArch::kArcfaceR50:
      return {43.6e6, 6.3e9,
              "insightface arcface_torch model zoo: IResNet-50 (r50) 43.6 M parameters, 6.3 GFLOPs (counted as MACs) "
              "at 112x112",
              ""};
    case SynthArch::kAdafaceIr101:
      return {65.2e6, 0, "AdaFace IR-101 (mk-minchul/AdaFace net.py): about 65 M parameters (MACs not published)", ""};
    case SynthArch::kXception:
      return {22.9e6, 8.4e9,
              "Chollet 2017 (Xception, 22.9 M parameters with the ImageNet 1000-way FC) and Keras Applications; 8.4 "
              "GMACs at 299x299",
              "the graph has FaceForensics' 2-way FC (2048 x 2 + 2): 2,049 x 998 = 2.04 M parameters fewer than the "
              "1000-way figure"};
  }
  return {};
}

StatusOr<ModelCost> count_model_cost(const std::string& path) {
  FACELENS_ASSIGN_OR_RETURN(std::string bytes, models::read_model_file(path));
  FACELENS_ASSIGN_OR_RETURN(auto model, models::graph::parse_model(bytes, path));
  models::graph::normalize_constants(model);
  return models::synth::count_cost(model);
}

StatusOr<std::map<std::string, std::string>> model_metadata(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open model file '" + path + "'");
  onnx::ModelProto m;
  if (!m.ParseFromIstream(&f)) return invalid_argument("'" + path + "' is not an ONNX model");
  std::map<std::string, std::string> out;
  for (const auto& p : m.metadata_props()) out[p.key()] = p.value();
  return out;
}

StatusOr<SynthReport> synth_model(const SynthOptions& o) {
  if (o.output.empty()) return invalid_argument("no output file given for the synthetic model");
  const std::string arch = synth_arch_name(o.arch);
  GraphBuilder b(arch, o.seed);
  std::string family;
  switch (o.arch) {
    case SynthArch::kYolov10n:
      build_yolov10n(b);
      family = "yolov10";
      break;
    case SynthArch::kArcfaceR50:
      build_arcface_r50(b);
      family = "arcface";
      break;
    case SynthArch::kAdafaceIr101:
      build_adaface_ir101(b);
      family = "adaface";
      break;
    case SynthArch::kXception:
      build_xception(b);
      family = "xception";
      break;
  }
  onnx::ModelProto model = b.finish({{kSyntheticMetadataKey, "true"},
                                     {kSyntheticArchMetadataKey, arch},
                                     {kSyntheticSeedMetadataKey, std::to_string(o.seed)}});
  model.set_doc_string("facelens synthetic " + arch +
                       ": the architecture with RANDOM weights, for speed measurements only (facelens models synth)");
  SynthReport r;
  r.arch = arch;
  r.family = family;
  r.output = o.output;
  r.reference = synth_reference(o.arch);
  FACELENS_ASSIGN_OR_RETURN(r.cost, models::synth::count_cost(model));
  for (const auto& d : model.graph().input(0).type().tensor_type().shape().dim())
    r.input_shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
  for (const auto& out : model.graph().output()) r.outputs.push_back(shape_text(out));
  FACELENS_ASSIGN_OR_RETURN(std::string bytes, models::graph::serialize_model(model));
  FACELENS_RETURN_IF_ERROR(models::write_model_file(o.output, bytes));
  r.file_bytes = static_cast<int64_t>(bytes.size());
  return r;
}

std::string synth_report_text(const SynthReport& r) {
  std::ostringstream out;
  std::string in;
  for (int64_t d : r.input_shape) in += (in.empty() ? "" : ",") + (d < 0 ? std::string("batch") : std::to_string(d));
  out << r.arch << " (family " << r.family << ", synthetic: random weights) -> " << r.output << "\n";
  out << "  input [" << in << "], outputs";
  for (const auto& o : r.outputs) out << " " << o;
  out << "\n";
  char line[256];
  std::snprintf(line, sizeof(line), "  parameters %.3f M (reference %.1f M), MACs %.3f G per sample",
                r.cost.n_parameters / 1e6, r.reference.n_parameters / 1e6, r.cost.macs / 1e9);
  out << line;
  if (r.reference.macs > 0) {
    std::snprintf(line, sizeof(line), " (reference %.2f G)", r.reference.macs / 1e9);
    out << line;
  }
  out << "\n";
  if (!r.reference.note.empty()) out << "  note: " << r.reference.note << "\n";
  out << "  file " << r.file_bytes << " bytes\n";
  return out.str();
}

std::string synth_report_json(const SynthReport& r) {
  nlohmann::ordered_json j;
  j["arch"] = r.arch;
  j["family"] = r.family;
  j["output"] = r.output;
  j["file_bytes"] = r.file_bytes;
  j["input_shape"] = r.input_shape;
  j["outputs"] = r.outputs;
  j["parameters"] = r.cost.n_parameters;
  j["macs"] = r.cost.macs;
  j["macs_by_op"] = r.cost.macs_by_op;
  j["reference"] = {{"parameters", r.reference.n_parameters},
                    {"macs", r.reference.macs},
                    {"source", r.reference.source},
                    {"note", r.reference.note}};
  j["synthetic"] = true;
  return j.dump(2);
}

}  // namespace facelens
