/* tmbuild's WebAssembly kernels: the few ops a Teachable Machine image model's plan needs
 * (tmbuild/plan.py), for the page to run it without TensorFlow.js where the browser takes WASM.
 *
 * Why: TensorFlow.js core, its WASM backend and XNNPACK's weight packing cost ~130 ms of a
 * 2-core machine's first visit before the first prediction; these kernels compile in a few
 * milliseconds and need no warm-up beyond V8's own. Tensors are NHWC float32 with batch 1,
 * living in this module's memory at addresses the page assigns (templates/assets/app.js).
 *
 * Built by scripts/build-kernels.sh (zig cc, pinned in the `kernels` extra); the test suite
 * checks that kernels.wasm is exactly what this source compiles to.
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

enum { LINEAR = 0, RELU = 1, RELU6 = 2 };

static inline v128_t activate(v128_t v, int activation) {
  if (activation == RELU) return wasm_f32x4_pmax(v, wasm_f32x4_splat(0.0f));
  if (activation == RELU6)
    return wasm_f32x4_pmin(wasm_f32x4_pmax(v, wasm_f32x4_splat(0.0f)), wasm_f32x4_splat(6.0f));
  return v;
}

static inline void store_lanes(float *out, v128_t v, int count) {
  if (count >= 4) { wasm_v128_store(out, v); return; }
  float lanes[4];
  wasm_v128_store(lanes, v);
  for (int i = 0; i < count; i++) out[i] = lanes[i];
}

// out[p][n] = activation(bias[n] + sum_k in[p][k] · kernel[k][n]): a 1×1 convolution or a
// dense layer, four rows by eight columns at a time. Where n is not a multiple of 8 the last
// block reads up to 7 floats past a kernel row and the bias, and stores only the n columns:
// the page leaves room after every weight.
EXPORT(gemm) void gemm(const float *in, int rows, int k, const float *kernel,
                       const float *bias, int n, float *out, int activation) {
  int row = 0;
  for (; row + 4 <= rows; row += 4) {
    const float *a0 = in + row * k, *a1 = a0 + k, *a2 = a1 + k, *a3 = a2 + k;
    for (int block = 0; block < n; block += 8) {
      const float *w = kernel + block;
      v128_t c00 = wasm_v128_load(bias + block), c01 = wasm_v128_load(bias + block + 4);
      v128_t c10 = c00, c11 = c01, c20 = c00, c21 = c01, c30 = c00, c31 = c01;
      for (int i = 0; i < k; i++, w += n) {
        v128_t w0 = wasm_v128_load(w), w1 = wasm_v128_load(w + 4);
        v128_t x0 = wasm_f32x4_splat(a0[i]), x1 = wasm_f32x4_splat(a1[i]);
        v128_t x2 = wasm_f32x4_splat(a2[i]), x3 = wasm_f32x4_splat(a3[i]);
        c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x0, w0));
        c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x0, w1));
        c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(x1, w0));
        c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(x1, w1));
        c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(x2, w0));
        c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(x2, w1));
        c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(x3, w0));
        c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(x3, w1));
      }
      int left = n - block;
      float *o = out + row * n + block;
      store_lanes(o, activate(c00, activation), left);
      store_lanes(o + 4, activate(c01, activation), left - 4);
      o += n;
      store_lanes(o, activate(c10, activation), left);
      store_lanes(o + 4, activate(c11, activation), left - 4);
      o += n;
      store_lanes(o, activate(c20, activation), left);
      store_lanes(o + 4, activate(c21, activation), left - 4);
      o += n;
      store_lanes(o, activate(c30, activation), left);
      store_lanes(o + 4, activate(c31, activation), left - 4);
    }
  }
  for (; row < rows; row++) {
    const float *a = in + row * k;
    for (int block = 0; block < n; block += 8) {
      const float *w = kernel + block;
      v128_t c0 = wasm_v128_load(bias + block), c1 = wasm_v128_load(bias + block + 4);
      for (int i = 0; i < k; i++, w += n) {
        v128_t x = wasm_f32x4_splat(a[i]);
        c0 = wasm_f32x4_add(c0, wasm_f32x4_mul(x, wasm_v128_load(w)));
        c1 = wasm_f32x4_add(c1, wasm_f32x4_mul(x, wasm_v128_load(w + 4)));
      }
      int left = n - block;
      store_lanes(out + row * n + block, activate(c0, activation), left);
      if (left > 4) store_lanes(out + row * n + block + 4, activate(c1, activation), left - 4);
    }
  }
}

// A k_h×k_w convolution, NHWC, one output pixel at a time: each pixel is a one-row gemm over
// the taps inside the image (the rest are the zero padding), the kernel [kh][kw][cin][n] read
// as a [kh·kw·cin][n] matrix. In MobileNet only the first layer (3 channels) takes this path.
EXPORT(conv) void conv(const float *in, int height, int width, int channels,
                       const float *kernel, int kernel_h, int kernel_w, int stride_h, int stride_w,
                       int dilation_h, int dilation_w, int pad_top, int pad_left,
                       int out_h, int out_w, const float *bias, int n, float *out, int activation) {
  for (int oy = 0; oy < out_h; oy++) {
    for (int ox = 0; ox < out_w; ox++) {
      float *o = out + (oy * out_w + ox) * n;
      for (int block = 0; block < n; block += 8) {
        const float *w = kernel + block;
        v128_t c0 = wasm_v128_load(bias + block), c1 = wasm_v128_load(bias + block + 4);
        for (int ky = 0; ky < kernel_h; ky++) {
          int iy = oy * stride_h - pad_top + ky * dilation_h;
          for (int kx = 0; kx < kernel_w; kx++) {
            int ix = ox * stride_w - pad_left + kx * dilation_w;
            const float *tap = w + (ky * kernel_w + kx) * channels * n;
            if (iy < 0 || iy >= height || ix < 0 || ix >= width) continue;
            const float *x = in + (iy * width + ix) * channels;
            for (int c = 0; c < channels; c++, tap += n) {
              v128_t v = wasm_f32x4_splat(x[c]);
              c0 = wasm_f32x4_add(c0, wasm_f32x4_mul(v, wasm_v128_load(tap)));
              c1 = wasm_f32x4_add(c1, wasm_f32x4_mul(v, wasm_v128_load(tap + 4)));
            }
          }
        }
        int left = n - block;
        store_lanes(o + block, activate(c0, activation), left);
        if (left > 4) store_lanes(o + block + 4, activate(c1, activation), left - 4);
      }
    }
  }
}

// Depthwise with a channel multiplier of 1 (the page checks), four channels per vector.
// At most 64 taps inside the image per pixel: kernels up to 8×8 (the page checks).
EXPORT(depthwise) void depthwise(const float *in, int height, int width, int channels,
                                 const float *kernel, int kernel_h, int kernel_w,
                                 int stride_h, int stride_w, int dilation_h, int dilation_w,
                                 int pad_top, int pad_left, int out_h, int out_w,
                                 const float *bias, float *out, int activation) {
  for (int oy = 0; oy < out_h; oy++) {
    int y0 = oy * stride_h - pad_top;
    for (int ox = 0; ox < out_w; ox++) {
      int x0 = ox * stride_w - pad_left;
      float *o = out + (oy * out_w + ox) * channels;
      const float *taps[64];
      const float *weights[64];
      int count = 0;
      for (int ky = 0; ky < kernel_h; ky++) {
        int iy = y0 + ky * dilation_h;
        if (iy < 0 || iy >= height) continue;
        for (int kx = 0; kx < kernel_w; kx++) {
          int ix = x0 + kx * dilation_w;
          if (ix < 0 || ix >= width) continue;
          taps[count] = in + (iy * width + ix) * channels;
          weights[count] = kernel + (ky * kernel_w + kx) * channels;
          count++;
        }
      }
      int c = 0;
      for (; c + 4 <= channels; c += 4) {
        v128_t acc = wasm_v128_load(bias + c);
        for (int t = 0; t < count; t++)
          acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(taps[t] + c),
                                                   wasm_v128_load(weights[t] + c)));
        wasm_v128_store(o + c, activate(acc, activation));
      }
      for (; c < channels; c++) {
        float acc = bias[c];
        for (int t = 0; t < count; t++) acc += taps[t][c] * weights[t][c];
        if (activation != LINEAR && acc < 0.0f) acc = 0.0f;
        if (activation == RELU6 && acc > 6.0f) acc = 6.0f;
        o[c] = acc;
      }
    }
  }
}

EXPORT(add) void add(const float *a, const float *b, int count, float *out) {
  int i = 0;
  for (; i + 4 <= count; i += 4)
    wasm_v128_store(out + i, wasm_f32x4_add(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  for (; i < count; i++) out[i] = a[i] + b[i];
}

// y = x · scale[c] + shift[c]: a batch norm that nothing could be fused into.
EXPORT(scale_shift) void scale_shift(const float *in, int pixels, int channels,
                                     const float *scale, const float *shift, float *out) {
  for (int p = 0; p < pixels; p++)
    for (int c = 0; c < channels; c++)
      out[p * channels + c] = in[p * channels + c] * scale[c] + shift[c];
}

EXPORT(zero_pad) void zero_pad(const float *in, int height, int width, int channels,
                               int top, int bottom, int left, int right, float *out) {
  int out_w = width + left + right, row = out_w * channels;
  for (int i = 0; i < (height + top + bottom) * row; i++) out[i] = 0.0f;
  for (int y = 0; y < height; y++) {
    float *o = out + ((y + top) * out_w + left) * channels;
    const float *x = in + y * width * channels;
    for (int i = 0; i < width * channels; i++) o[i] = x[i];
  }
}

// Max pooling without padding (speech-commands' network, in audio models): each output pixel
// the largest value of its pool_h×pool_w window, four channels per vector.
EXPORT(max_pool) void max_pool(const float *in, int height, int width, int channels,
                               int pool_h, int pool_w, int stride_h, int stride_w,
                               int out_h, int out_w, float *out) {
  for (int oy = 0; oy < out_h; oy++) {
    for (int ox = 0; ox < out_w; ox++) {
      const float *first = in + (oy * stride_h * width + ox * stride_w) * channels;
      float *o = out + (oy * out_w + ox) * channels;
      int c = 0;
      for (; c + 4 <= channels; c += 4) {
        v128_t best = wasm_v128_load(first + c);
        for (int ky = 0; ky < pool_h; ky++)
          for (int kx = 0; kx < pool_w; kx++)
            best = wasm_f32x4_max(best, wasm_v128_load(first + (ky * width + kx) * channels + c));
        wasm_v128_store(o + c, best);
      }
      for (; c < channels; c++) {
        float best = first[c];
        for (int ky = 0; ky < pool_h; ky++)
          for (int kx = 0; kx < pool_w; kx++) {
            float v = first[(ky * width + kx) * channels + c];
            if (v > best) best = v;
          }
        o[c] = best;
      }
    }
  }
}

// The mean over all pixels, per channel (global average pooling).
EXPORT(mean) void mean(const float *in, int pixels, int channels, float *out) {
  for (int c = 0; c < channels; c++) out[c] = 0.0f;
  for (int p = 0; p < pixels; p++)
    for (int c = 0; c < channels; c++) out[c] += in[p * channels + c];
  for (int c = 0; c < channels; c++) out[c] /= (float)pixels;
}

// A canvas's RGBA bytes as the plan's input, in float32 as TensorFlow.js computes it: value /
// divisor + offset per channel, or of the luma (its weights, in this order) for a grayscale
// model. Teachable Machine's image models take 127 and -1 (x + -1 is x - 1 to the bit), PoseNet
// 127.5 and -1. Here and not in the page's JavaScript because the first image's pass through a
// cold JavaScript loop took 2-10 ms; float32 division is exact, as tf.div's.
EXPORT(pixels) void pixels(const unsigned char *rgba, int count, float *out, int grayscale,
                           float divisor, float offset) {
  if (grayscale) {
    for (int p = 0; p < count; p++, rgba += 4) {
      float luma = (float)rgba[0] * 0.2989f + (float)rgba[1] * 0.587f;
      luma += (float)rgba[2] * 0.114f;
      out[p] = luma / divisor + offset;
    }
    return;
  }
  for (int p = 0; p < count; p++, rgba += 4, out += 3) {
    out[0] = (float)rgba[0] / divisor + offset;
    out[1] = (float)rgba[1] / divisor + offset;
    out[2] = (float)rgba[2] / divisor + offset;
  }
}
