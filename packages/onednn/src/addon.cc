// cairn's native CPU kernels: oneDNN convolutions (forward, backward-data, backward-weights, fused
// bias + ReLU) and plain loops for batch-norm reductions and the AdamW update, all working in place
// on memory JS hands over as Float32Arrays (TF.js' wasm heap: no copies).
//
// Everything is synchronous on the calling thread (a TF.js worker thread); oneDNN parallelises each
// primitive over its OpenMP team, whose size is the calling thread's `setThreads`. Caches are
// thread-local (one per worker thread, no locks): primitives by geometry, and weights reordered to
// the primitive's preferred layout by the caller's tensor id (an id is never reused for other data).
#include <napi.h>
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <list>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine& cpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& threadStream() {
  thread_local dnnl::stream stream(cpuEngine());
  return stream;
}

enum ConvOp { FORWARD = 0, BACKWARD_DATA = 1, BACKWARD_WEIGHTS = 2 };

// Geometry as JS packs it (Int32Array), TF.js conventions: NHWC activations, HWIO filters,
// dilation 1 = none.
struct Geometry {
  int n, h, w, c, oh, ow, co, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
};
constexpr size_t GEOMETRY_FIELDS = 17;

std::string describe(const Geometry& g) {
  std::ostringstream s;
  s << "x [" << g.n << "," << g.h << "," << g.w << "," << g.c << "] filter [" << g.kh << "," << g.kw << "," << g.c << ","
    << g.co << "] -> [" << g.n << "," << g.oh << "," << g.ow << "," << g.co << "] stride " << g.sh << "x" << g.sw
    << " pad t" << g.pt << " l" << g.pl << " b" << g.pb << " r" << g.pr << " dilation " << g.dh << "x" << g.dw;
  return s.str();
}

struct ConvDescs {
  memory::desc src, dst, weightsUser, weightsAny, bias;
  memory::dims strides, dilates, padL, padR;
};

ConvDescs descsOf(const Geometry& g) {
  ConvDescs d;
  d.src = memory::desc({g.n, g.c, g.h, g.w}, dt::f32, tag::nhwc);
  d.dst = memory::desc({g.n, g.co, g.oh, g.ow}, dt::f32, tag::nhwc);
  d.weightsUser = memory::desc({g.co, g.c, g.kh, g.kw}, dt::f32, tag::hwio);
  d.weightsAny = memory::desc({g.co, g.c, g.kh, g.kw}, dt::f32, tag::any);
  d.bias = memory::desc({g.co}, dt::f32, tag::x);
  d.strides = {g.sh, g.sw};
  d.dilates = {g.dh - 1, g.dw - 1};
  d.padL = {g.pt, g.pl};
  d.padR = {g.pb, g.pr};
  return d;
}

dnnl::convolution_forward::primitive_desc forwardPd(const ConvDescs& d, bool bias, bool relu) {
  dnnl::primitive_attr attr;
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  auto desc = bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, d.src,
                                                     d.weightsAny, d.bias, d.dst, d.strides, d.dilates, d.padL, d.padR)
                   : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, d.src,
                                                     d.weightsAny, d.dst, d.strides, d.dilates, d.padL, d.padR);
  return dnnl::convolution_forward::primitive_desc(desc, attr, cpuEngine());
}

// One convolution op for one geometry: the primitive, the weights layout it wants, and the reorder
// between that layout and TF.js' HWIO (into the primitive for FORWARD / BACKWARD_DATA, out of it for
// BACKWARD_WEIGHTS), absent when the primitive takes HWIO as is.
struct ConvPlan {
  ConvDescs descs;
  dnnl::primitive primitive;
  memory::desc weights;
  bool reorderWeights = false;
  dnnl::reorder weightsReorder;
  std::string impl;
};

std::unique_ptr<ConvPlan> makePlan(ConvOp op, const Geometry& g, bool bias, bool relu) {
  auto plan = std::make_unique<ConvPlan>();
  const ConvDescs& d = plan->descs = descsOf(g);
  auto& eng = cpuEngine();
  switch (op) {
    case FORWARD: {
      auto pd = forwardPd(d, bias, relu);
      plan->primitive = dnnl::convolution_forward(pd);
      plan->weights = pd.weights_desc();
      plan->impl = pd.impl_info_str();
      break;
    }
    case BACKWARD_DATA: {
      auto hint = forwardPd(d, false, false);
      dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, d.src, d.weightsAny, d.dst, d.strides, d.dilates,
                                                 d.padL, d.padR);
      dnnl::convolution_backward_data::primitive_desc pd(desc, eng, hint);
      plan->primitive = dnnl::convolution_backward_data(pd);
      plan->weights = pd.weights_desc();
      plan->impl = pd.impl_info_str();
      break;
    }
    case BACKWARD_WEIGHTS: {
      auto hint = forwardPd(d, false, false);
      dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, d.src, d.weightsAny, d.dst, d.strides,
                                                    d.dilates, d.padL, d.padR);
      dnnl::convolution_backward_weights::primitive_desc pd(desc, eng, hint);
      plan->primitive = dnnl::convolution_backward_weights(pd);
      plan->weights = pd.diff_weights_desc();
      plan->impl = pd.impl_info_str();
      break;
    }
  }
  if (plan->weights != d.weightsUser) {
    plan->reorderWeights = true;
    auto rpd = op == BACKWARD_WEIGHTS ? dnnl::reorder::primitive_desc(eng, plan->weights, eng, d.weightsUser)
                                      : dnnl::reorder::primitive_desc(eng, d.weightsUser, eng, plan->weights);
    plan->weightsReorder = dnnl::reorder(rpd);
  }
  return plan;
}

struct PlanCache {
  std::unordered_map<std::string, std::unique_ptr<ConvPlan>> plans;
};

PlanCache& threadPlans() {
  thread_local PlanCache cache;
  return cache;
}

ConvPlan& planFor(ConvOp op, const Geometry& g, bool bias, bool relu) {
  std::ostringstream key;
  const int* f = &g.n;
  // Primitives fix their thread count when created (oneDNN's jit kernels partition the work then).
  key << op << (bias ? 'b' : '-') << (relu ? 'r' : '-') << 't' << omp_get_max_threads();
  for (size_t i = 0; i < GEOMETRY_FIELDS; i++) key << ',' << f[i];
  auto& plans = threadPlans().plans;
  auto it = plans.find(key.str());
  if (it != plans.end()) return *it->second;
  auto plan = makePlan(op, g, bias, relu);
  auto& ref = *plan;
  plans.emplace(key.str(), std::move(plan));
  return ref;
}

// Weights reordered for a primitive, by the caller's tensor id and the layout: a filter feeds the
// forward and the backward-data primitives (often different layouts), and every validation batch.
// Bounded (least recently used out first) so that ids the caller never releases cannot pile up.
struct ReorderedWeights {
  double id;
  memory::desc layout;
  memory mem;
  size_t bytes;
};

struct WeightsCache {
  std::list<ReorderedWeights> entries;  // most recently used first
  size_t bytes = 0;
  size_t capacity = size_t(512) << 20;

  memory* find(double id, const memory::desc& layout) {
    for (auto it = entries.begin(); it != entries.end(); ++it) {
      if (it->id == id && it->layout == layout) {
        entries.splice(entries.begin(), entries, it);
        return &entries.front().mem;
      }
    }
    return nullptr;
  }

  memory& add(double id, const memory::desc& layout) {
    size_t size = layout.get_size();
    while (!entries.empty() && bytes + size > capacity) {
      bytes -= entries.back().bytes;
      entries.pop_back();
    }
    entries.push_front({id, layout, memory(layout, cpuEngine()), size});
    bytes += size;
    return entries.front().mem;
  }

  void release(double id) {
    for (auto it = entries.begin(); it != entries.end();) {
      if (it->id == id) {
        bytes -= it->bytes;
        it = entries.erase(it);
      } else {
        ++it;
      }
    }
  }
};

WeightsCache& threadWeights() {
  thread_local WeightsCache cache;
  return cache;
}

// ---------------------------------------------------------------------------------------------
// Argument helpers

float* floats(const Napi::Value& v, size_t expected, const char* name, const Geometry* g) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(v.Env(), std::string(name) + ": Float32Array expected");
  }
  auto a = v.As<Napi::Float32Array>();
  if (a.ElementLength() != expected) {
    std::ostringstream s;
    s << name << ": " << a.ElementLength() << " values, expected " << expected;
    if (g != nullptr) s << " for " << describe(*g);
    throw Napi::RangeError::New(v.Env(), s.str());
  }
  return a.Data();
}

Geometry geometryOf(const Napi::Value& v) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      v.As<Napi::Int32Array>().ElementLength() != GEOMETRY_FIELDS) {
    throw Napi::TypeError::New(v.Env(), "geometry: Int32Array of 17 fields expected");
  }
  Geometry g;
  const int32_t* src = v.As<Napi::Int32Array>().Data();
  int* dst = &g.n;
  for (size_t i = 0; i < GEOMETRY_FIELDS; i++) dst[i] = src[i];
  return g;
}

size_t count(std::initializer_list<int> dims) {
  size_t n = 1;
  for (int d : dims) n *= size_t(d);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Exports

// conv(op, geometry, a, b, out, weightsId, bias | null, relu):
//   FORWARD           a = x, b = filter, out = y (optionally + bias, then ReLU)
//   BACKWARD_DATA     a = dy, b = filter, out = dx
//   BACKWARD_WEIGHTS  a = x, b = dy, out = dfilter
// weightsId: the filter tensor's id for the reorder cache (negative: do not cache).
Napi::Value Conv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int op = info[0].As<Napi::Number>().Int32Value();
  if (op < FORWARD || op > BACKWARD_WEIGHTS) throw Napi::RangeError::New(env, "conv: op must be 0, 1 or 2");
  Geometry g = geometryOf(info[1]);
  double weightsId = info[5].As<Napi::Number>().DoubleValue();
  bool hasBias = info[6].IsTypedArray();
  bool relu = info[7].ToBoolean();
  const size_t xSize = count({g.n, g.h, g.w, g.c});
  const size_t ySize = count({g.n, g.oh, g.ow, g.co});
  const size_t wSize = count({g.kh, g.kw, g.c, g.co});
  try {
    ConvPlan& plan = planFor(ConvOp(op), g, hasBias, relu);
    auto& eng = cpuEngine();
    auto& stream = threadStream();
    const ConvDescs& d = plan.descs;
    switch (op) {
      case FORWARD:
      case BACKWARD_DATA: {
        const bool fwd = op == FORWARD;
        float* a = floats(info[2], fwd ? xSize : ySize, fwd ? "x" : "dy", &g);
        float* w = floats(info[3], wSize, "filter", &g);
        float* out = floats(info[4], fwd ? ySize : xSize, fwd ? "y" : "dx", &g);
        memory user(d.weightsUser, eng, w);
        memory weights = user;
        if (plan.reorderWeights) {
          auto& cache = threadWeights();
          memory* hit = weightsId >= 0 ? cache.find(weightsId, plan.weights) : nullptr;
          if (hit != nullptr) {
            weights = *hit;
          } else {
            weights = weightsId >= 0 ? cache.add(weightsId, plan.weights) : memory(plan.weights, eng);
            plan.weightsReorder.execute(stream, user, weights);
          }
        }
        if (fwd) {
          std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(d.src, eng, a)},
                                               {DNNL_ARG_WEIGHTS, weights},
                                               {DNNL_ARG_DST, memory(d.dst, eng, out)}};
          if (hasBias) args.emplace(DNNL_ARG_BIAS, memory(d.bias, eng, floats(info[6], size_t(g.co), "bias", &g)));
          plan.primitive.execute(stream, args);
        } else {
          plan.primitive.execute(stream, {{DNNL_ARG_DIFF_DST, memory(d.dst, eng, a)},
                                          {DNNL_ARG_WEIGHTS, weights},
                                          {DNNL_ARG_DIFF_SRC, memory(d.src, eng, out)}});
        }
        break;
      }
      case BACKWARD_WEIGHTS: {
        float* x = floats(info[2], xSize, "x", &g);
        float* dy = floats(info[3], ySize, "dy", &g);
        float* out = floats(info[4], wSize, "dfilter", &g);
        memory user(d.weightsUser, eng, out);
        memory diff = plan.reorderWeights ? memory(plan.weights, eng) : user;
        plan.primitive.execute(stream, {{DNNL_ARG_SRC, memory(d.src, eng, x)},
                                        {DNNL_ARG_DIFF_DST, memory(d.dst, eng, dy)},
                                        {DNNL_ARG_DIFF_WEIGHTS, diff}});
        if (plan.reorderWeights) plan.weightsReorder.execute(stream, diff, user);
        break;
      }
    }
    stream.wait();
  } catch (const dnnl::error& e) {
    std::ostringstream s;
    s << "oneDNN convolution (op " << op << ") failed: " << e.what() << " (status " << int(e.status) << ") for " << describe(g);
    throw Napi::Error::New(env, s.str());
  }
  return env.Undefined();
}

// convImpl(op, geometry, hasBias, relu) -> the implementation oneDNN picked (e.g. "brgconv:avx512_core").
Napi::Value ConvImpl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int op = info[0].As<Napi::Number>().Int32Value();
  Geometry g = geometryOf(info[1]);
  try {
    return Napi::String::New(env, planFor(ConvOp(op), g, info[2].ToBoolean(), info[3].ToBoolean()).impl);
  } catch (const dnnl::error& e) {
    throw Napi::Error::New(env, std::string("oneDNN: ") + e.what() + " for " + describe(g));
  }
}

Napi::Value ReleaseWeights(const Napi::CallbackInfo& info) {
  threadWeights().release(info[0].As<Napi::Number>().DoubleValue());
  return info.Env().Undefined();
}

Napi::Value WeightsCacheBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(threadWeights().bytes));
}

// The per-channel loops below split their work across the calling thread's OpenMP team (see
// setThreads) in ways that never change a result: element-wise kernels by rows, reductions by
// channel ranges with each thread's own accumulators (each channel's sum still runs over the rows
// in order). Below this many values one thread does it all (a team's start costs more).
constexpr size_t PARALLEL_MIN_VALUES = size_t(1) << 14;

// Loops compiled twice where the toolchain can dispatch at load time: for AVX2 and for the
// baseline. Lanes are channels, so vectorising never reorders a sum (and -ffp-contract=off keeps
// every multiply and add rounded on its own): both clones give the same bits.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define CAIRN_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CAIRN_SIMD_CLONES
#endif

size_t channelsOf(const Napi::Value& v, size_t len, const char* kernel) {
  const size_t C = v.As<Napi::Number>().Uint32Value();
  if (C == 0 || len % C != 0) {
    std::ostringstream s;
    s << kernel << ": " << len << " values are not rows of " << C << " channels";
    throw Napi::RangeError::New(v.Env(), s.str());
  }
  return C;
}

// This thread's share [begin, end) of n items (channels or rows) split into contiguous blocks
// across the team.
struct TeamShare {
  size_t begin, end;
};
TeamShare teamShare(size_t n) {
  const size_t t = size_t(omp_get_thread_num()), threads = size_t(omp_get_num_threads());
  return {n * t / threads, n * (t + 1) / threads};
}

// gz = g * step(y), as TF.js computes it (step: NaN stays NaN, else 1 where y > 0, else 0);
// branch-free so that it vectorises (a branch on the sign of activations mispredicts half the time).
inline float reluMasked(float g, float y) {
  const float step = y > 0.0f ? 1.0f : 0.0f;
  return g * (y != y ? y : step);
}

CAIRN_SIMD_CLONES
void momentsOfChannels(const float* __restrict x, size_t rows, size_t C, size_t c0, size_t width, double* __restrict sum, double* __restrict sq) {
  for (size_t r = 0; r < rows; r++) {
    const float* __restrict xr = x + r * C + c0;
    for (size_t c = 0; c < width; c++) {
      const double v = xr[c];
      sum[c] = sum[c] + v;
      sq[c] = sq[c] + v * v;
    }
  }
}

template <bool Masked>
CAIRN_SIMD_CLONES void gradSumsOfChannels(const float* __restrict g, const float* __restrict x, const float* __restrict y, const double* __restrict mean,
                                          size_t rows, size_t C, size_t c0, size_t width, double* __restrict sg, double* __restrict sgx) {
  for (size_t r = 0; r < rows; r++) {
    const size_t o = r * C + c0;
    for (size_t c = 0; c < width; c++) {
      const double gi = Masked ? reluMasked(g[o + c], y[o + c]) : g[o + c];
      sg[c] = sg[c] + gi;
      sgx[c] = sgx[c] + gi * (double(x[o + c]) - mean[c]);
    }
  }
}

// channelMoments(x, C, out[2C]): mean and biased variance per channel of channels-last x, float64
// sums in the order of kernels/batch-norm.ts (so the same bits).
Napi::Value ChannelMoments(const Napi::CallbackInfo& info) {
  auto xa = info[0].As<Napi::Float32Array>();
  const float* x = xa.Data();
  const size_t len = xa.ElementLength();
  const size_t C = channelsOf(info[1], len, "channelMoments");
  float* out = floats(info[2], 2 * C, "moments", nullptr);
  const size_t rows = len / C;
  const double n = double(rows);
#pragma omp parallel if (len >= PARALLEL_MIN_VALUES)
  {
    const TeamShare r = teamShare(C);
    const size_t width = r.end - r.begin;
    std::vector<double> sum(width, 0.0), sq(width, 0.0);
    momentsOfChannels(x, rows, C, r.begin, width, sum.data(), sq.data());
    for (size_t c = 0; c < width; c++) {
      const double mean = sum[c] / n;
      out[r.begin + c] = float(mean);
      const double var = sq[c] / n - mean * mean;
      out[C + r.begin + c] = float(var > 0 ? var : 0.0);
    }
  }
  return info.Env().Undefined();
}

// batchNormGradSums(g, x, mean[C], y | null, C, out[2C]): sum(gz) and sum(gz * (x - mean)) per
// channel, gz = g, or g * step(y) through a fused ReLU whose output was y.
Napi::Value BatchNormGradSums(const Napi::CallbackInfo& info) {
  auto ga = info[0].As<Napi::Float32Array>();
  const float* gv = ga.Data();
  const size_t len = ga.ElementLength();
  const size_t C = channelsOf(info[4], len, "batchNormGradSums");
  const float* x = floats(info[1], len, "x", nullptr);
  const float* meanF = floats(info[2], C, "mean", nullptr);
  const float* y = info[3].IsNull() ? nullptr : floats(info[3], len, "y", nullptr);
  float* out = floats(info[5], 2 * C, "sums", nullptr);
  // (x - mean) in float64 as JS computes it: float32 x widened, float32 mean widened.
  const std::vector<double> mean(meanF, meanF + C);
  const size_t rows = len / C;
#pragma omp parallel if (len >= PARALLEL_MIN_VALUES)
  {
    const TeamShare r = teamShare(C);
    const size_t width = r.end - r.begin;
    std::vector<double> sg(width, 0.0), sgx(width, 0.0);
    if (y == nullptr) {
      gradSumsOfChannels<false>(gv, x, y, mean.data() + r.begin, rows, C, r.begin, width, sg.data(), sgx.data());
    } else {
      gradSumsOfChannels<true>(gv, x, y, mean.data() + r.begin, rows, C, r.begin, width, sg.data(), sgx.data());
    }
    for (size_t c = 0; c < width; c++) {
      out[r.begin + c] = float(sg[c]);
      out[C + r.begin + c] = float(sgx[c]);
    }
  }
  return info.Env().Undefined();
}

template <bool Relu>
CAIRN_SIMD_CLONES void affineRows(const float* __restrict x, const float* __restrict scale, const float* __restrict shift, size_t C, size_t row0, size_t row1,
                                  float* __restrict out) {
  for (size_t row = row0; row < row1; row++) {
    const float* __restrict xr = x + row * C;
    float* __restrict o = out + row * C;
    for (size_t c = 0; c < C; c++) {
      const float scaled = xr[c] * scale[c];
      const float z = scaled + shift[c];
      o[c] = Relu ? (z < 0.0f ? 0.0f : z) : z;
    }
  }
}

template <bool Masked>
CAIRN_SIMD_CLONES void backwardRows(const float* __restrict g, const float* __restrict x, const float* __restrict y, const float* __restrict a,
                                    const float* __restrict b, const float* __restrict k, size_t C, size_t row0, size_t row1, float* __restrict dx) {
  for (size_t row = row0; row < row1; row++) {
    const size_t o = row * C;
    for (size_t c = 0; c < C; c++) {
      const float gz = Masked ? reluMasked(g[o + c], y[o + c]) : g[o + c];
      const float ga = gz * a[c];
      const float xb = x[o + c] * b[c];
      const float sum = ga + xb;
      dx[o + c] = sum + k[c];
    }
  }
}

// channelAffine(x, scale[C], shift[C], C, relu, out): out = x * scale + shift per channel, then
// ReLU when asked: batch normalisation's apply step, float32 ops in the order of ops.ts
// (multiply, add, relu), so the same bits as TF.js' element-wise kernels.
Napi::Value ChannelAffine(const Napi::CallbackInfo& info) {
  auto xa = info[0].As<Napi::Float32Array>();
  const float* x = xa.Data();
  const size_t len = xa.ElementLength();
  const size_t C = channelsOf(info[3], len, "channelAffine");
  const float* scale = floats(info[1], C, "scale", nullptr);
  const float* shift = floats(info[2], C, "shift", nullptr);
  const bool relu = info[4].ToBoolean();
  float* out = floats(info[5], len, "out", nullptr);
  const size_t rows = len / C;
#pragma omp parallel if (len >= PARALLEL_MIN_VALUES)
  {
    const TeamShare r = teamShare(rows);
    if (relu) {
      affineRows<true>(x, scale, shift, C, r.begin, r.end, out);
    } else {
      affineRows<false>(x, scale, shift, C, r.begin, r.end, out);
    }
  }
  return info.Env().Undefined();
}

// batchNormBackward(g, x, y | null, a[C], b[C], c[C], C, dx): dx = (gz * a + x * b) + c per channel
// (gz as in batchNormGradSums), the float32 ops of ops.ts' batch-norm gradient in its order.
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  auto ga = info[0].As<Napi::Float32Array>();
  const float* gv = ga.Data();
  const size_t len = ga.ElementLength();
  const size_t C = channelsOf(info[6], len, "batchNormBackward");
  const float* x = floats(info[1], len, "x", nullptr);
  const float* y = info[2].IsNull() ? nullptr : floats(info[2], len, "y", nullptr);
  const float* a = floats(info[3], C, "a", nullptr);
  const float* b = floats(info[4], C, "b", nullptr);
  const float* k = floats(info[5], C, "c", nullptr);
  float* dx = floats(info[7], len, "dx", nullptr);
  const size_t rows = len / C;
#pragma omp parallel if (len >= PARALLEL_MIN_VALUES)
  {
    const TeamShare r = teamShare(rows);
    if (y == nullptr) {
      backwardRows<false>(gv, x, y, a, b, k, C, r.begin, r.end, dx);
    } else {
      backwardRows<true>(gv, x, y, a, b, k, C, r.begin, r.end, dx);
    }
  }
  return info.Env().Undefined();
}

CAIRN_SIMD_CLONES
void adamwStep(const float* __restrict p, const float* __restrict g, const float* __restrict m, const float* __restrict v, float* __restrict outP,
               float* __restrict outM, float* __restrict outV, size_t n, const float* s) {
  const float decay = s[0], w = s[1], oneMinusW = s[3], beta2 = s[4], oneMinusBeta2 = s[5], bc2 = s[6], eps = s[7], negStep = s[8];
  const bool small = s[2] != 0.0f;
  for (size_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float decayed = p[i] * decay;
    const float diff = gi - m[i];
    const float m1 = small ? m[i] + w * diff : gi - diff * oneMinusW;
    const float v1 = v[i] * beta2 + (oneMinusBeta2 * gi) * gi;
    const float denom = std::sqrt(v1) / bc2 + eps;
    outP[i] = decayed + (negStep * m1) / denom;
    outM[i] = m1;
    outV[i] = v1;
  }
}

// adamw(p, g, m, v, outP, outM, outV, scalars): one torch AdamW step over float32 arrays, the op
// sequence of src/ml/adamw.ts with its float32-rounded scalars (so the same bits as its TF.js ops):
// scalars = [decay, lerpWeight, lerpSmall (1: m + w * (g - m), else g - (g - m) * (1 - w)),
//            oneMinusLerpWeight, beta2, oneMinusBeta2, biasCorrection2Sqrt, eps, negStepSize].
Napi::Value AdamW(const Napi::CallbackInfo& info) {
  auto pa = info[0].As<Napi::Float32Array>();
  const size_t n = pa.ElementLength();
  const float* p = pa.Data();
  const float* g = floats(info[1], n, "grad", nullptr);
  const float* m = floats(info[2], n, "expAvg", nullptr);
  const float* v = floats(info[3], n, "expAvgSq", nullptr);
  float* outP = floats(info[4], n, "param out", nullptr);
  float* outM = floats(info[5], n, "expAvg out", nullptr);
  float* outV = floats(info[6], n, "expAvgSq out", nullptr);
  const float* s = floats(info[7], 9, "scalars", nullptr);
  // Element by element: any split across the team gives the same bits.
#pragma omp parallel if (n >= PARALLEL_MIN_VALUES)
  {
    const TeamShare r = teamShare(n);
    const size_t k = r.end - r.begin;
    adamwStep(p + r.begin, g + r.begin, m + r.begin, v + r.begin, outP + r.begin, outM + r.begin, outV + r.begin, k, s);
  }
  return info.Env().Undefined();
}

// maxPoolGrad(dy, x, geometry[12], dx): dy routed to the first maximum (row-major) of each window,
// padding never winning, as kernels/pool.ts. geometry = [B, H, W, C, Ho, Wo, sh, sw, kh, kw, pt, pl].
Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
  auto ga = info[2].As<Napi::Int32Array>();
  if (ga.ElementLength() != 12) throw Napi::TypeError::New(info.Env(), "maxPoolGrad: geometry of 12 fields expected");
  const int32_t* q = ga.Data();
  const int B = q[0], H = q[1], W = q[2], C = q[3], Ho = q[4], Wo = q[5], sh = q[6], sw = q[7], kh = q[8], kw = q[9], pt = q[10], pl = q[11];
  const float* gv = floats(info[0], count({B, Ho, Wo, C}), "dy", nullptr);
  const float* xv = floats(info[1], count({B, H, W, C}), "x", nullptr);
  float* dv = floats(info[3], count({B, H, W, C}), "dx", nullptr);
  // One image per thread at a time: images write disjoint parts of dx, and each image's pixels take
  // their terms in the same order whatever the team (the same bits).
#pragma omp parallel if (count({B, H, W, C}) >= PARALLEL_MIN_VALUES)
  {
  std::vector<float> best(C);
  std::vector<size_t> at(C);
  const TeamShare r = teamShare(size_t(B));
  std::fill(dv + r.begin * count({H, W, C}), dv + r.end * count({H, W, C}), 0.0f);
  for (int b = int(r.begin); b < int(r.end); b++) {
    size_t o = size_t(b) * count({Ho, Wo, C});
    for (int oh = 0; oh < Ho; oh++) {
      const int h0 = std::max(0, oh * sh - pt), h1 = std::min(H, oh * sh - pt + kh);
      for (int ow = 0; ow < Wo; ow++, o += C) {
        const int w0 = std::max(0, ow * sw - pl), w1 = std::min(W, ow * sw - pl + kw);
        if (h1 <= h0 || w1 <= w0) continue;
        const size_t first = ((size_t(b) * H + h0) * W + w0) * C;
        for (int c = 0; c < C; c++) {
          best[c] = xv[first + c];
          at[c] = first + c;
        }
        for (int ih = h0; ih < h1; ih++) {
          for (int iw = ih == h0 ? w0 + 1 : w0; iw < w1; iw++) {
            const size_t base = ((size_t(b) * H + ih) * W + iw) * C;
            for (int c = 0; c < C; c++) {
              const float v = xv[base + c];
              if (v > best[c]) {
                best[c] = v;
                at[c] = base + c;
              }
            }
          }
        }
        for (int c = 0; c < C; c++) dv[at[c]] = dv[at[c]] + gv[o + c];
      }
    }
  }
  }
  return info.Env().Undefined();
}

// avgPoolGrad(dy, geometry[12], dx): TF.js' AvgPoolGrad where windows tile the input without
// overlap (stride = window; the caller checks): each pixel gets its window's dy / (kh * kw), or 0
// outside every window; one term per pixel, so the same bits as any summation order.
// geometry = [B, H, W, C, Ho, Wo, sh, sw, kh, kw, pt, pl] as maxPoolGrad's.
Napi::Value AvgPoolGrad(const Napi::CallbackInfo& info) {
  auto ga = info[1].As<Napi::Int32Array>();
  if (ga.ElementLength() != 12) throw Napi::TypeError::New(info.Env(), "avgPoolGrad: geometry of 12 fields expected");
  const int32_t* q = ga.Data();
  const int B = q[0], H = q[1], W = q[2], C = q[3], Ho = q[4], Wo = q[5], sh = q[6], sw = q[7], kh = q[8], kw = q[9], pt = q[10], pl = q[11];
  if (sh != kh || sw != kw) throw Napi::RangeError::New(info.Env(), "avgPoolGrad: only windows that do not overlap (stride = window)");
  const float* gv = floats(info[0], count({B, Ho, Wo, C}), "dy", nullptr);
  float* dv = floats(info[2], count({B, H, W, C}), "dx", nullptr);
  const float multiplier = float(1.0 / double(kh * kw));
#pragma omp parallel for collapse(2) if (count({B, H, W, C}) >= PARALLEL_MIN_VALUES)
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < H; h++) {
      const int oh = (h + pt) / kh;
      for (int w = 0; w < W; w++) {
        const int ow = (w + pl) / kw;
        float* d = dv + ((size_t(b) * H + h) * W + w) * C;
        if (oh >= Ho || ow >= Wo) {
          std::fill(d, d + C, 0.0f);
          continue;
        }
        const float* g = gv + ((size_t(b) * Ho + oh) * Wo + ow) * C;
        for (int c = 0; c < C; c++) d[c] = g[c] * multiplier;
      }
    }
  }
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------------
// Element-wise kernels and pooling for TF.js' cpu backend (kernels/elementwise.ts), whose own are
// single-threaded JS. Each output element is one float32 operation on float32 inputs, which JS
// computes in float64 and rounds once on store: the same bits as the C++ float operation (float64
// holds every product, sum and difference of two float32s exactly enough for one rounding to agree).

enum BinaryOp { ADD = 0, SUB = 1, MUL = 2 };

template <int Op>
inline float applyBinary(float a, float b) {
  if (Op == ADD) return a + b;
  if (Op == SUB) return a - b;
  return a * b;
}

// out[i] = a[i] op b[i % nb], or (swapped) b[i % nb] op a[i], for i in [i0, i1), nb dividing the
// output (TF.js' cpu broadcast without broadcast axes: the smaller operand repeats).
template <int Op, bool Swapped>
CAIRN_SIMD_CLONES void binaryRows(const float* __restrict a, const float* __restrict b, size_t nb, size_t row0, size_t row1, float* __restrict out) {
  for (size_t row = row0; row < row1; row++) {
    const float* __restrict ar = a + row * nb;
    float* __restrict o = out + row * nb;
    for (size_t j = 0; j < nb; j++) o[j] = Swapped ? applyBinary<Op>(b[j], ar[j]) : applyBinary<Op>(ar[j], b[j]);
  }
}

template <int Op, bool Swapped>
void binaryTeam(const float* a, const float* b, size_t n, size_t nb, float* out) {
  if (nb == 1) {
    const float s = b[0];
#pragma omp parallel if (n >= PARALLEL_MIN_VALUES)
    {
      const TeamShare r = teamShare(n);
      for (size_t i = r.begin; i < r.end; i++) out[i] = Swapped ? applyBinary<Op>(s, a[i]) : applyBinary<Op>(a[i], s);
    }
    return;
  }
  const size_t rows = n / nb;
  if (rows == 1) {
#pragma omp parallel if (n >= PARALLEL_MIN_VALUES)
    {
      const TeamShare r = teamShare(n);
      const size_t k = r.end - r.begin;
      binaryRows<Op, Swapped>(a + r.begin, b + r.begin, k, 0, k == 0 ? 0 : 1, out + r.begin);
    }
    return;
  }
#pragma omp parallel if (n >= PARALLEL_MIN_VALUES)
  {
    const TeamShare r = teamShare(rows);
    binaryRows<Op, Swapped>(a, b, nb, r.begin, r.end, out);
  }
}

// binary(op, a, b, out): out = a op b, op 0 add, 1 sub, 2 mul; the larger operand has out's length,
// the other's length divides it (it repeats along the leading axes).
Napi::Value Binary(const Napi::CallbackInfo& info) {
  const int op = info[0].As<Napi::Number>().Int32Value();
  auto aa = info[1].As<Napi::Float32Array>();
  auto ba = info[2].As<Napi::Float32Array>();
  auto oa = info[3].As<Napi::Float32Array>();
  const size_t na = aa.ElementLength(), nb = ba.ElementLength(), n = oa.ElementLength();
  const bool swapped = na != n;
  const size_t small = swapped ? na : nb;
  if ((swapped ? nb : na) != n || small == 0 || n % small != 0) {
    std::ostringstream s;
    s << "binary: operands of " << na << " and " << nb << " values do not repeat into " << n;
    throw Napi::RangeError::New(info.Env(), s.str());
  }
  const float* big = swapped ? ba.Data() : aa.Data();
  const float* rep = swapped ? aa.Data() : ba.Data();
  float* out = oa.Data();
  switch (op) {
    case ADD: swapped ? binaryTeam<ADD, true>(big, rep, n, small, out) : binaryTeam<ADD, false>(big, rep, n, small, out); break;
    case SUB: swapped ? binaryTeam<SUB, true>(big, rep, n, small, out) : binaryTeam<SUB, false>(big, rep, n, small, out); break;
    case MUL: swapped ? binaryTeam<MUL, true>(big, rep, n, small, out) : binaryTeam<MUL, false>(big, rep, n, small, out); break;
    default: throw Napi::RangeError::New(info.Env(), "binary: op must be 0 (add), 1 (sub) or 2 (mul)");
  }
  return info.Env().Undefined();
}

// broadcastBinary(op, a, b, out, geometry): out = a op b with TF.js' broadcast over any axes.
// geometry = [rank, out dims (rank), a strides (rank), b strides (rank)], a stride 0 on an axis the
// operand is broadcast along. Rows of the last axis run contiguously.
template <int Op>
void broadcastRows(const float* a, const float* b, const int32_t* dims, const int32_t* as, const int32_t* bs, int rank, float* out, size_t row0,
                   size_t row1) {
  const size_t inner = size_t(dims[rank - 1]);
  const size_t sa = size_t(as[rank - 1]), sb = size_t(bs[rank - 1]);
  for (size_t row = row0; row < row1; row++) {
    size_t rest = row, oa = 0, ob = 0;
    for (int d = rank - 2; d >= 0; d--) {
      const size_t i = rest % size_t(dims[d]);
      rest /= size_t(dims[d]);
      oa += i * size_t(as[d]);
      ob += i * size_t(bs[d]);
    }
    float* o = out + row * inner;
    for (size_t j = 0; j < inner; j++) o[j] = applyBinary<Op>(a[oa + j * sa], b[ob + j * sb]);
  }
}

Napi::Value BroadcastBinary(const Napi::CallbackInfo& info) {
  const int op = info[0].As<Napi::Number>().Int32Value();
  auto aa = info[1].As<Napi::Float32Array>();
  auto ba = info[2].As<Napi::Float32Array>();
  auto oa = info[3].As<Napi::Float32Array>();
  auto ga = info[4].As<Napi::Int32Array>();
  const int32_t* q = ga.Data();
  const int rank = ga.ElementLength() > 0 ? q[0] : 0;
  if (rank < 1 || ga.ElementLength() != size_t(1 + 3 * rank)) throw Napi::TypeError::New(info.Env(), "broadcastBinary: geometry [rank, dims, a strides, b strides] expected");
  if (op < ADD || op > MUL) throw Napi::RangeError::New(info.Env(), "broadcastBinary: op must be 0 (add), 1 (sub) or 2 (mul)");
  const int32_t* dims = q + 1;
  const int32_t* as = dims + rank;
  const int32_t* bs = as + rank;
  size_t n = 1, lastA = 0, lastB = 0;
  for (int d = 0; d < rank; d++) {
    n *= size_t(dims[d]);
    lastA += size_t(dims[d] - 1) * size_t(as[d]);
    lastB += size_t(dims[d] - 1) * size_t(bs[d]);
  }
  if (n != oa.ElementLength() || (n > 0 && (lastA >= aa.ElementLength() || lastB >= ba.ElementLength()))) {
    throw Napi::RangeError::New(info.Env(), "broadcastBinary: operands do not match the geometry");
  }
  if (n == 0) return info.Env().Undefined();
  const float* a = aa.Data();
  const float* b = ba.Data();
  float* out = oa.Data();
  const size_t rows = n / size_t(dims[rank - 1]);
#pragma omp parallel if (n >= PARALLEL_MIN_VALUES)
  {
    const TeamShare r = teamShare(rows);
    switch (op) {
      case ADD: broadcastRows<ADD>(a, b, dims, as, bs, rank, out, r.begin, r.end); break;
      case SUB: broadcastRows<SUB>(a, b, dims, as, bs, rank, out, r.begin, r.end); break;
      default: broadcastRows<MUL>(a, b, dims, as, bs, rank, out, r.begin, r.end); break;
    }
  }
  return info.Env().Undefined();
}

// spatialMean(x, B, C, out[B*C]): TF.js' cpu Mean over the middle axes of channels-last x
// [B, ..., C]: each value divided by the count in float32, then summed in float64 in row-major order
// and rounded once (its div, transpose and sum kernels), so the same bits.
Napi::Value SpatialMean(const Napi::CallbackInfo& info) {
  auto xa = info[0].As<Napi::Float32Array>();
  const size_t len = xa.ElementLength();
  const size_t B = info[1].As<Napi::Number>().Uint32Value();
  const size_t C = info[2].As<Napi::Number>().Uint32Value();
  if (B == 0 || C == 0 || len % (B * C) != 0) throw Napi::RangeError::New(info.Env(), "spatialMean: x is not [B, ..., C]");
  const float* x = xa.Data();
  float* out = floats(info[3], B * C, "out", nullptr);
  const size_t hw = len / (B * C);
  const float count = float(hw);
#pragma omp parallel if (len >= PARALLEL_MIN_VALUES)
  {
    const TeamShare r = teamShare(B * C);
    std::vector<double> sum(C);
    for (size_t b = r.begin / C; b * C < r.end; b++) {
      const size_t c0 = std::max(r.begin, b * C) - b * C, c1 = std::min(r.end, (b + 1) * C) - b * C;
      std::fill(sum.begin(), sum.end(), 0.0);
      for (size_t k = 0; k < hw; k++) {
        const float* xr = x + (b * hw + k) * C;
        for (size_t c = c0; c < c1; c++) sum[c] += double(xr[c] / count);
      }
      for (size_t c = c0; c < c1; c++) out[b * C + c] = float(sum[c]);
    }
  }
  return info.Env().Undefined();
}

enum UnaryOp { RELU = 0, STEP = 1 };

// TF.js' cpu Relu (Math.max(0, x): NaN stays NaN, -0 becomes 0) and Step (NaN stays NaN, 1 where
// x > 0, else alpha).
template <int Op>
CAIRN_SIMD_CLONES void unaryRange(const float* __restrict x, size_t n, float alpha, float* __restrict out) {
  for (size_t i = 0; i < n; i++) {
    const float v = x[i];
    if (Op == RELU) {
      out[i] = v != v ? v : (v > 0.0f ? v : 0.0f);
    } else {
      out[i] = v != v ? v : (v > 0.0f ? 1.0f : alpha);
    }
  }
}

// unary(op, x, alpha, out): op 0 relu, 1 step(alpha).
Napi::Value Unary(const Napi::CallbackInfo& info) {
  const int op = info[0].As<Napi::Number>().Int32Value();
  auto xa = info[1].As<Napi::Float32Array>();
  const size_t n = xa.ElementLength();
  const float* x = xa.Data();
  const float alpha = info[2].As<Napi::Number>().FloatValue();
  float* out = floats(info[3], n, "out", nullptr);
  if (op != RELU && op != STEP) throw Napi::RangeError::New(info.Env(), "unary: op must be 0 (relu) or 1 (step)");
#pragma omp parallel if (n >= PARALLEL_MIN_VALUES)
  {
    const TeamShare r = teamShare(n);
    if (op == RELU) {
      unaryRange<RELU>(x + r.begin, r.end - r.begin, alpha, out + r.begin);
    } else {
      unaryRange<STEP>(x + r.begin, r.end - r.begin, alpha, out + r.begin);
    }
  }
  return info.Env().Undefined();
}

// pool(max, x, geometry[12], out): TF.js' cpu MaxPool / AvgPool (no dilation). Max: the largest
// pixel of the window (NaN never wins, -inf for a window without pixels); avg: the float64 sum of
// the window's pixels over their count (padding left out), rounded once, as pool_utils.js.
// geometry = [B, H, W, C, Ho, Wo, sh, sw, kh, kw, pt, pl] as maxPoolGrad's.
Napi::Value Pool(const Napi::CallbackInfo& info) {
  const bool isMax = info[0].ToBoolean();
  auto ga = info[2].As<Napi::Int32Array>();
  if (ga.ElementLength() != 12) throw Napi::TypeError::New(info.Env(), "pool: geometry of 12 fields expected");
  const int32_t* q = ga.Data();
  const int B = q[0], H = q[1], W = q[2], C = q[3], Ho = q[4], Wo = q[5], sh = q[6], sw = q[7], kh = q[8], kw = q[9], pt = q[10], pl = q[11];
  const float* xv = floats(info[1], count({B, H, W, C}), "x", nullptr);
  float* ov = floats(info[3], count({B, Ho, Wo, C}), "out", nullptr);
  const size_t rows = size_t(B) * Ho;
#pragma omp parallel if (count({B, Ho, Wo, C}) >= PARALLEL_MIN_VALUES)
  {
    const TeamShare r = teamShare(rows);
    std::vector<double> sum(isMax ? 0 : C);
    for (size_t row = r.begin; row < r.end; row++) {
      const int b = int(row / Ho), oh = int(row % Ho);
      const int h0 = std::max(0, oh * sh - pt), h1 = std::min(H, oh * sh - pt + kh);
      for (int ow = 0; ow < Wo; ow++) {
        const int w0 = std::max(0, ow * sw - pl), w1 = std::min(W, ow * sw - pl + kw);
        float* o = ov + (row * Wo + ow) * C;
        if (isMax) {
          std::fill(o, o + C, -INFINITY);
        } else {
          std::fill(sum.begin(), sum.end(), 0.0);
        }
        for (int ih = h0; ih < h1; ih++) {
          for (int iw = w0; iw < w1; iw++) {
            const float* px = xv + ((size_t(b) * H + ih) * W + iw) * C;
            if (isMax) {
              for (int c = 0; c < C; c++) o[c] = px[c] > o[c] ? px[c] : o[c];
            } else {
              for (int c = 0; c < C; c++) sum[c] += double(px[c]);
            }
          }
        }
        if (!isMax) {
          const double n = double(std::max(0, h1 - h0) * std::max(0, w1 - w0));
          for (int c = 0; c < C; c++) o[c] = float(sum[c] / n);
        }
      }
    }
  }
  return info.Env().Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  omp_set_num_threads(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

const char* isaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const dnnl_version_t* v = dnnl_version();
  auto o = Napi::Object::New(env);
  std::ostringstream version;
  version << v->major << "." << v->minor << "." << v->patch;
  o.Set("version", version.str());
  o.Set("hash", v->hash == nullptr ? "" : v->hash);
  o.Set("isa", isaName(dnnl::get_effective_cpu_isa()));
  o.Set("threading", "OpenMP");
  o.Set("maxThreads", omp_get_max_threads());
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("conv", Napi::Function::New(env, Conv));
  exports.Set("convImpl", Napi::Function::New(env, ConvImpl));
  exports.Set("releaseWeights", Napi::Function::New(env, ReleaseWeights));
  exports.Set("weightsCacheBytes", Napi::Function::New(env, WeightsCacheBytes));
  exports.Set("channelMoments", Napi::Function::New(env, ChannelMoments));
  exports.Set("batchNormGradSums", Napi::Function::New(env, BatchNormGradSums));
  exports.Set("channelAffine", Napi::Function::New(env, ChannelAffine));
  exports.Set("batchNormBackward", Napi::Function::New(env, BatchNormBackward));
  exports.Set("adamw", Napi::Function::New(env, AdamW));
  exports.Set("maxPoolGrad", Napi::Function::New(env, MaxPoolGrad));
  exports.Set("avgPoolGrad", Napi::Function::New(env, AvgPoolGrad));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("broadcastBinary", Napi::Function::New(env, BroadcastBinary));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("spatialMean", Napi::Function::New(env, SpatialMean));
  exports.Set("pool", Napi::Function::New(env, Pool));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("info", Napi::Function::New(env, Info));
  return exports;
}

}  // namespace

NODE_API_MODULE(cairn_onednn, Init)
